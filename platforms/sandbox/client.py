"""The only module that talks to the sandbox store: reads, pushes and webhook deliveries.

Reads and pushes go to the ``SandboxMarketplace`` file; a webhook delivery POSTs the signed JSON
body to the shop's webhook URL through an injected HTTP object (a ``requests.Session`` in
production, a wrapper around a Flask test client in tests). Failures of the store's file or of
the HTTP call leave this module as ``RetryableError`` or ``PermanentError``; the store's own
refusals (``MarketplaceError``) pass through for the adapter to judge.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests

from connector.errors import PermanentError, RetryableError

from . import webhooks
from .marketplace import SandboxMarketplace

DELIVERY_TIMEOUT = 5.0  # seconds; Shopify gives a webhook endpoint 5 s in all

T = TypeVar("T")


class HttpResponse(Protocol):
    status_code: int


class HttpPoster(Protocol):
    def post(
        self, url: str, *, data: bytes, headers: dict[str, str], timeout: float
    ) -> HttpResponse: ...


class SandboxClient:
    """One shop of the sandbox store, as seen from Helloword."""

    def __init__(
        self, marketplace: SandboxMarketplace, domain: str, http: HttpPoster | None = None
    ) -> None:
        self.marketplace = marketplace
        self.domain = domain
        self._http = http

    @classmethod
    def open(cls, path: Path, domain: str, http: HttpPoster | None = None) -> SandboxClient:
        """A client on the store file at ``path``, created if missing."""
        with _store_errors(path):
            marketplace = SandboxMarketplace(path)
        return cls(marketplace, domain, http)

    # reads ------------------------------------------------------------------------------

    def order(self, order_id: str) -> dict[str, Any]:
        return self._call(lambda: self.marketplace.order(self.domain, order_id))

    def orders(self, since: datetime | None = None) -> list[dict[str, Any]]:
        return self._call(lambda: self.marketplace.orders(self.domain, since))

    def return_request(self, return_id: str) -> dict[str, Any]:
        return self._call(lambda: self.marketplace.return_request(self.domain, return_id))

    def returns(self, since: datetime | None = None) -> list[dict[str, Any]]:
        return self._call(lambda: self.marketplace.returns(self.domain, since))

    # writes -----------------------------------------------------------------------------

    def push(self, kind: str, idempotency_key: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Record a push with its idempotency key: ``(push id, repeated)``."""
        return self._call(
            lambda: self.marketplace.record_push(self.domain, kind, idempotency_key, payload)
        )

    # webhooks ---------------------------------------------------------------------------

    def deliver(
        self,
        topic: str,
        payload: Mapping[str, Any],
        event_id: str | None = None,
        triggered_at: datetime | None = None,
    ) -> int:
        """POST ``payload`` as the ``topic`` webhook to the shop's URL; the response status.

        The body is the JSON bytes exactly as signed. A redelivery passes the first delivery's
        ``event_id`` (and ``triggered_at``), as the platform re-sends the original event.
        """
        shop = self._call(lambda: self.marketplace.shop(self.domain))
        if not shop["webhook_url"]:
            raise PermanentError(f"sandbox shop {self.domain} has no webhook URL")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = webhooks.headers_for(
            body,
            shop["webhook_secret"],
            topic=topic,
            shop=self.domain,
            event_id=event_id or str(uuid.uuid4()),
            triggered_at=triggered_at or datetime.now(UTC),
        )
        try:
            response = self._session().post(
                shop["webhook_url"], data=body, headers=headers, timeout=DELIVERY_TIMEOUT
            )
        except OSError as exc:  # requests' errors derive from OSError (IOError)
            raise RetryableError(
                f"webhook delivery to {shop['webhook_url']} failed: {exc}"
            ) from exc
        return int(response.status_code)

    def _session(self) -> HttpPoster:
        if self._http is None:
            self._http = requests.Session()
        return self._http

    # errors -----------------------------------------------------------------------------

    def _call(self, operation: Callable[[], T]) -> T:
        with _store_errors(self.marketplace.path):
            return operation()


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        # "database is locked" after the busy timeout is contention: it passes.
        if "locked" in str(exc) or "busy" in str(exc):
            raise RetryableError(f"sandbox store {path} is busy: {exc}") from exc
        raise PermanentError(f"sandbox store {path} failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise PermanentError(f"sandbox store {path} failed: {exc}") from exc
