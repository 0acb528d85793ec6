"""The three ways work can fail, which every adapter translates its SDK or HTTP errors into.

Jobs read the kind: a ``RetryableError`` is tried again later with backoff (honouring the
remote's Retry-After), a ``PermanentError`` stops and lands in the failed registry for staff,
``NothingToDo`` ends the job quietly because the work is already done or no longer applies.
"""

from __future__ import annotations


class HellowordError(Exception):
    """Base of the errors the connector raises on purpose."""


class RetryableError(HellowordError):
    """A passing failure: rate limit, 5xx, timeout, lock contention."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(HellowordError):
    """A failure retrying cannot fix: bad credentials, a 4xx, a broken configuration."""


class NothingToDo(HellowordError):
    """The work is already done, or no longer applies."""


class ValidationError(HellowordError):
    """Input that names what is wrong with it: ``field`` and a message a person can act on."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(HellowordError):
    """The thing asked for does not exist, or belongs to another merchant."""
