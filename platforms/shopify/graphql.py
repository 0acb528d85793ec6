"""The only module that talks to Shopify: the GraphQL Admin API of one store.

Each adapter owns a ``requests.Session`` for its store (ShopifyAPI's helper keeps one session
for the whole process, which cannot serve two stores at once). Operations live as named
``.graphql`` files in ``queries/``; a file may spread fragments that live beside it, one per
file, and ``operation`` appends those it uses.

Every call first waits for the store's query budget (``throttle``). What can go wrong leaves
this module as one of the connector's error kinds:

- ``THROTTLED``, a 5xx or a dropped connection is retried with backoff a few times, then
  becomes ``RetryableError``; a 429 waits as long as its ``Retry-After`` says. A mutation is
  repeated here only when Shopify certainly did not run it (throttled, 429, no connection
  made) or when a repeat is harmless (``repeatable``: Shopify refuses a second approval, or
  deduplicates by idempotency key). After a 5xx or a lost answer Shopify may have done the
  work, so any other mutation ends as ``RetryableError`` at once: the job's retry calls the
  adapter again, which reads Shopify's state before pushing and finds the work done;
- 401 and 403 (a revoked token, an uninstalled app, a missing scope) are ``PermanentError``,
  as are other GraphQL errors (a query the API version does not know);
- a mutation's ``userErrors`` become ``UserErrors``, a ``PermanentError`` that carries
  Shopify's messages and codes so the adapter can tell "already done" from a real refusal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import requests

from connector.errors import PermanentError, RetryableError

from .throttle import CostBucket, MemoryBucket, Throttle, ThrottleStatus

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
API_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")
DEFAULT_COST = 50.0  # points expected of an operation Shopify has not priced for us yet
TIMEOUT = 30.0  # seconds for one request
ATTEMPTS = 5
BACKOFF = 0.5  # seconds before the second attempt; doubled for each further one
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 10.0  # a 429 asking to wait longer is left to a later job

_SPREAD = re.compile(r"\.\.\.\s*([A-Z]\w*)")
_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)", re.MULTILINE)


class UserErrors(PermanentError):
    """Shopify refused a mutation: ``errors`` are its ``userErrors`` (field, message, code)."""

    def __init__(self, mutation: str, errors: list[Mapping[str, Any]]) -> None:
        self.mutation = mutation
        self.errors = errors
        messages = "; ".join(_describe(error) for error in errors)
        super().__init__(f"Shopify refused {mutation}: {messages}")

    @property
    def codes(self) -> set[str]:
        return {str(error.get("code")) for error in self.errors if error.get("code")}


@dataclass(frozen=True, slots=True)
class _Retry:
    """An attempt worth repeating: what went wrong, how long to wait before the next attempt
    (None: the usual backoff), and the wait to suggest if no attempt is left."""

    problem: str
    sleep: float | None = None
    retry_after: float | None = None
    unsure: bool = True  # whether Shopify may have run the operation all the same


def operation(name: str) -> str:
    """The text of operation ``name`` (``queries/<name>.graphql``) and the fragments it uses."""
    return _operation(name)


@cache
def _operation(name: str) -> str:
    text = _read(name)
    found = _OPERATION.search(text)
    if found is None or found.group(1) != name:
        raise ValueError(f"queries/{name}.graphql must hold the operation named {name}")
    parts, seen, pending = [text], set(), _SPREAD.findall(text)
    while pending:
        fragment = pending.pop()
        if fragment in seen:
            continue
        seen.add(fragment)
        body = _read(fragment)
        parts.append(body)
        pending.extend(_SPREAD.findall(body))
    return "\n".join(parts)


def _read(name: str) -> str:
    return (files(__package__) / "queries" / f"{name}.graphql").read_text(encoding="utf-8")


class ShopifyGraphQL:
    """One store's GraphQL Admin API at one API version."""

    def __init__(
        self,
        shop: str,
        access_token: str,
        api_version: str,
        *,
        session: requests.Session | None = None,
        bucket: CostBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.shop = shop
        self.api_version = api_version
        self._token = access_token
        self._session = session
        self.throttle = Throttle(bucket or MemoryBucket(), clock=clock, sleep=sleep)
        self._sleep = sleep
        self._attempts = attempts
        self._costs: dict[str, float] = {}

    @property
    def url(self) -> str:
        return f"https://{self.shop}/admin/api/{self.api_version}/graphql.json"

    def query(self, name: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run operation ``name``; its ``data``."""
        return self._execute(name, dict(variables or {}), repeatable=True)

    def mutate(
        self,
        name: str,
        variables: Mapping[str, Any],
        field: str,
        *,
        repeatable: bool = False,
    ) -> dict[str, Any]:
        """Run mutation ``name``; the payload under ``data[field]``, or ``UserErrors``.

        ``repeatable``: running it twice does no harm, so it may be repeated after a failure
        that leaves unsure whether Shopify ran it."""
        data = self._execute(name, dict(variables), repeatable=repeatable)
        payload = data.get(field)
        if not isinstance(payload, dict):
            raise PermanentError(f"Shopify answered {name} without its {field} payload")
        errors = payload.get("userErrors") or []
        if errors:
            raise UserErrors(field, [e for e in errors if isinstance(e, Mapping)])
        return payload

    # one call, retried -------------------------------------------------------------------

    def _execute(self, name: str, variables: dict[str, Any], repeatable: bool) -> dict[str, Any]:
        self._check_target()
        body = {"query": operation(name), "variables": variables, "operationName": name}
        retry = _Retry("no attempt made")
        for attempt in range(1, self._attempts + 1):
            self.throttle.acquire(self._costs.get(name, DEFAULT_COST))
            try:
                response = self._http().post(
                    self.url, json=body, headers=self._headers(), timeout=TIMEOUT
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                # a connection never made sent nothing; any other loss leaves us unsure
                unsure = not isinstance(exc, requests.ConnectTimeout)
                retry = _Retry(f"{type(exc).__name__}: {exc}", unsure=unsure)
            else:
                outcome = self._read_response(name, response)
                if isinstance(outcome, dict):
                    return outcome
                retry = outcome
            if retry.unsure and not repeatable:
                raise RetryableError(
                    f"Shopify {self.shop} {name} may or may not have run ({retry.problem}); "
                    "not repeated blindly",
                    retry_after=retry.retry_after,
                )
            if attempt < self._attempts:
                self._pause(attempt, retry)
        raise RetryableError(
            f"Shopify {self.shop} {name} failed after {self._attempts} attempts: {retry.problem}",
            retry_after=retry.retry_after,
        )

    def _read_response(self, name: str, response: requests.Response) -> dict[str, Any] | _Retry:
        """The ``data`` of a good answer, or how to retry one worth retrying; raises for an
        answer no retry can change."""
        status = response.status_code
        if status in (401, 403):
            raise PermanentError(
                f"Shopify {self.shop} refused the access token for {name} (HTTP {status}: "
                f"{_error_text(response)}); the app was uninstalled or lacks a scope"
            )
        if status == 429:
            after = _retry_after(response)
            return _Retry(f"HTTP 429: {_error_text(response)}", after, after, unsure=False)
        if status >= 500:
            after = _retry_after(response)
            return _Retry(f"HTTP {status}: {_error_text(response)}", after, after)
        if status >= 400:
            raise PermanentError(
                f"Shopify {self.shop} {name}: HTTP {status}: {_error_text(response)}"
            )
        try:
            document = response.json()
        except ValueError:
            return _Retry(f"HTTP {status} with a body that is not JSON: {response.text[:200]!r}")
        if not isinstance(document, dict):
            return _Retry(f"HTTP {status} with a body that is not a JSON object")
        known = self._note_cost(name, document.get("extensions"))
        errors = document.get("errors")
        if errors:
            return self._graphql_errors(name, errors, document.get("extensions"), known)
        data = document.get("data")
        if not isinstance(data, dict):
            return _Retry(f"HTTP {status} without data")
        return data

    def _graphql_errors(
        self, name: str, errors: object, extensions: object, budget_known: bool
    ) -> _Retry:
        items: list[Any] = errors if isinstance(errors, list) else [{"message": str(errors)}]
        codes = {
            str(item["extensions"].get("code", ""))
            for item in items
            if isinstance(item, Mapping) and isinstance(item.get("extensions"), Mapping)
        }
        text = "; ".join(
            str(item.get("message", item)) if isinstance(item, Mapping) else str(item)
            for item in items
        )
        if "THROTTLED" in codes:
            # With the reported budget in the bucket, the next acquire waits just long enough.
            return _Retry(
                f"THROTTLED: {text}",
                0.0 if budget_known else None,
                _refill(extensions),
                unsure=False,
            )
        if "INTERNAL_SERVER_ERROR" in codes:
            return _Retry(f"{name}: {text}")
        raise PermanentError(f"Shopify {self.shop} {name}: {text}")

    def _note_cost(self, name: str, extensions: object) -> bool:
        """Keep what the response says of the budget and of this operation's price; whether
        it reported the budget."""
        status = ThrottleStatus.from_extensions(extensions)
        if status is not None:
            self.throttle.report(status)
        if isinstance(extensions, Mapping) and isinstance(extensions.get("cost"), Mapping):
            requested = extensions["cost"].get("requestedQueryCost")
            if isinstance(requested, int | float) and requested > 0:
                self._costs[name] = float(requested)
        return status is not None

    def _pause(self, attempt: int, retry: _Retry) -> None:
        if retry.sleep is None:
            self._sleep(min(MAX_BACKOFF, BACKOFF * 2 ** (attempt - 1)))
        elif retry.sleep > MAX_RETRY_AFTER:
            raise RetryableError(
                f"Shopify {self.shop} asks to wait {retry.sleep:g} s: {retry.problem}",
                retry_after=retry.sleep,
            )
        elif retry.sleep > 0:
            self._sleep(retry.sleep)

    # plumbing ----------------------------------------------------------------------------

    def _check_target(self) -> None:
        if not SHOP_DOMAIN.match(self.shop):
            raise PermanentError(f"{self.shop!r} is not a myshopify.com shop domain")
        if not API_VERSION.match(self.api_version):
            raise PermanentError(f"{self.api_version!r} is not a Shopify API version (YYYY-MM)")
        if not self._token:
            raise PermanentError(f"Shopify {self.shop} has no access token")

    def _headers(self) -> dict[str, str]:
        return {
            "X-Shopify-Access-Token": self._token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session


def _describe(error: Mapping[str, Any]) -> str:
    message = str(error.get("message", "")).strip() or "no message"
    field = error.get("field")
    where = ".".join(str(part) for part in field) if isinstance(field, list) else ""
    code = error.get("code")
    return "".join((f"{where}: " if where else "", message, f" ({code})" if code else ""))


def _error_text(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return response.text[:200] or response.reason or "no body"
    if isinstance(document, dict) and document.get("errors"):
        errors = document["errors"]
        if isinstance(errors, list):
            return "; ".join(
                str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors
            )
        return str(errors)
    return str(document)[:200]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _refill(extensions: object) -> float | None:
    """Seconds until a throttled query's points are back, from the response's cost report."""
    status = ThrottleStatus.from_extensions(extensions)
    if status is None or status.restore_rate <= 0 or not isinstance(extensions, Mapping):
        return None
    requested = extensions.get("cost", {}).get("requestedQueryCost")
    if not isinstance(requested, int | float):
        return None
    missing = min(float(requested), status.maximum_available) - status.currently_available
    return max(0.0, missing / status.restore_rate)
