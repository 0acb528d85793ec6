"""The three ways work can fail, which every adapter translates its SDK or HTTP errors into.

Jobs read the kind: a ``RetryableError`` is tried again later with backoff (honouring the
remote's Retry-After), a ``PermanentError`` stops and lands in the failed registry for staff,
``NothingToDo`` ends the job quietly because the work is already done or no longer applies.
Two refinements say more than the kind: ``AwaitingPlatform`` is a wait, not a failure (the
platform has the work and answers later), and ``Uncertain`` is a stop a person must look at
before anything is asked again, because the platform may have done the work.
"""

from __future__ import annotations


class HellowordError(Exception):
    """Base of the errors the connector raises on purpose."""


class RetryableError(HellowordError):
    """A passing failure: rate limit, 5xx, timeout, lock contention."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AwaitingPlatform(RetryableError):
    """The platform has taken the work on and answers later: Amazon processes a refund feed in
    up to an hour, sometimes more. Not a failure: asked again every ``retry_after`` seconds,
    without spending the backoff meant for failures, until a long deadline; past it the work
    is ``Uncertain``, never failed, since the platform may still have done it.

    ``batch`` names the batch the work joined when it was the first to join it (the platform
    sends many at once, like Amazon's refunds in one feed): the job that sends the batch is
    then queued ``send_in`` seconds later, so the work that follows shares it."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        batch: str = "",
        send_in: float = 0.0,
    ) -> None:
        super().__init__(message, retry_after)
        self.batch = batch
        self.send_in = send_in


class PermanentError(HellowordError):
    """A failure retrying cannot fix: bad credentials, a 4xx, a broken configuration."""


class Uncertain(PermanentError):
    """The platform may or may not have done the work, and cannot say which. It stops like a
    permanent failure, but a person must check the platform before the work is asked for
    again: under a new key it would be done twice."""


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
