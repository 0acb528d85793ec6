"""The only module that talks to the Selling Partner API: one seller's calls, throttled, with
every failure translated into the connector's error kinds.

It is built on python-amazon-sp-api's clients (``Reports``, ``Feeds``, ``Orders`` 2026-01-01,
``ListingsItems`` 2021-08-01, ``Sellers``), constructed per seller and never from the process
environment: credentials come in code (the library's ``FromCodeCredentialProvider`` alone),
the access token from ``SellerTokens`` (LWA through ``lwa.py``, so a revoked refresh token is
``NeedsRelinking``), the endpoint from the seller's region. SP-API has needed no AWS keys or
SigV4 since October 2023.

The library reads an error only from a JSON body with ``errors``; a 429 or 503 without one
would pass as an empty success. So every request goes through ``_CheckedTransport``, which
raises on any status from 400 on, and ``_call`` turns that into:

- 429: the seller's bucket for the operation is drained and the call waits for its next token
  and tries again, a few times, then ``RetryableError`` with the wait as ``retry_after``;
- 5xx or a lost connection: tried again with backoff when a repeat is harmless, otherwise
  (``repeatable=False``: creating a feed) ``RetryableError`` at once, because Amazon may have
  acted; the caller reads Amazon's state before trying again;
- 404: ``NotOnAmazon``; any other 4xx: ``PermanentError`` with Amazon's messages.

Documents (reports, feed results) are fetched from their presigned URLs with the same HTTP
client, as streams, so a large report never sits in memory whole.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from sp_api.api import Feeds, ListingsItems, Orders, Reports, Sellers
from sp_api.auth import AccessTokenResponse
from sp_api.base import Marketplaces, fill_query_params
from sp_api.base._transport_httpx import HttpxTransport
from sp_api.base.credential_provider import FromCodeCredentialProvider

from connector.errors import PermanentError, RetryableError

from . import marketplaces
from .lwa import LwaClient
from .throttle import Throttle

ATTEMPTS = 4
BACKOFF = 1.0  # seconds before the second attempt after a 5xx; doubled each time
MAX_BACKOFF = 8.0
TIMEOUT = httpx.Timeout(30.0, read=120.0)
TOKEN_MARGIN = 60.0  # seconds before expiry an access token is renewed
FEED_DOCUMENT_PATH = "/feeds/2021-06-30/documents/{}"
ORDERS_VERSION = "2026-01-01"
LISTINGS_VERSION = "2021-08-01"

_HOME = {"na": Marketplaces.US, "eu": Marketplaces.DE, "fe": Marketplaces.JP}


class NotOnAmazon(PermanentError):
    """Amazon answered 404: the order, report, feed or listing does not exist for this
    seller."""


class MaybeDone(RetryableError):
    """A call that changes something failed in a way that leaves unsure whether Amazon acted:
    read Amazon's state before making it again."""


class HttpFailure(Exception):
    """An answer from 400 on, with what Amazon said."""

    def __init__(self, status: int, headers: httpx.Headers, text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        super().__init__(f"HTTP {status}: {self.message}")

    @property
    def message(self) -> str:
        try:
            document = json.loads(self.text)
        except ValueError:
            return self.text[:300] or "no body"
        errors = document.get("errors") if isinstance(document, dict) else None
        if isinstance(errors, list) and errors:
            return "; ".join(_describe_error(error) for error in errors)
        return self.text[:300]


class _Unanswered(Exception):
    """No answer: the connection failed, or broke before the answer came."""

    def __init__(self, problem: str, *, before_sending: bool) -> None:
        super().__init__(problem)
        self.before_sending = before_sending


class _CheckedTransport(HttpxTransport):
    """The library's transport, refusing to let an error status pass as a success."""

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response: httpx.Response = super().request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Unanswered(f"{type(exc).__name__}: {exc}", before_sending=True) from exc
        except httpx.HTTPError as exc:
            raise _Unanswered(f"{type(exc).__name__}: {exc}", before_sending=False) from exc
        if response.status_code >= 400:
            raise HttpFailure(response.status_code, response.headers, response.text)
        return response


class SellerTokens:
    """The library's token client for one seller: an LWA access token, kept until a minute
    before it expires."""

    def __init__(
        self, lwa: LwaClient, refresh_token: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._lwa = lwa
        self._refresh_token = refresh_token
        self._clock = clock
        self._token = ""
        self._expires_at = 0.0

    def get_auth(self) -> AccessTokenResponse:
        if not self._token or self._clock() >= self._expires_at - TOKEN_MARGIN:
            grant = self._lwa.refresh(self._refresh_token)
            self._token, self._expires_at = grant.access_token, grant.expires_at
        return AccessTokenResponse(access_token=self._token, token_type="bearer")


class DocumentStream:
    """A document being downloaded: its declared charset, and its bytes as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.charset: str | None = response.charset_encoding

    def chunks(self) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in self._response.iter_bytes():
                received += len(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"the Amazon document download broke off after {received} bytes: {exc}"
            ) from exc
        finally:
            self._response.close()

    def close(self) -> None:
        self._response.close()


class SellingPartnerApi:
    """One seller's SP-API in one region."""

    def __init__(
        self,
        seller_id: str,
        region: str,
        lwa: LwaClient,
        refresh_token: str,
        throttle: Throttle,
        *,
        home_marketplace: str = "",
        http: httpx.Client | None = None,
        sandbox: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.seller_id = seller_id
        self.region = marketplaces.region_of(region)
        self.endpoint = marketplaces.endpoint(self.region, sandbox=sandbox)
        self.home_marketplace = home_marketplace or marketplaces.REGION_HOME[self.region]
        self.throttle = throttle
        self._tokens = SellerTokens(lwa, refresh_token, clock)
        # The library insists on LWA credentials, but with ``SellerTokens`` as its token
        # client it never calls LWA itself: the secret stays with ``lwa``.
        self._credentials = {
            "refresh_token": refresh_token,
            "lwa_app_id": lwa.client_id,
            "lwa_client_secret": "held-by-the-token-client",
        }
        self._http = http or httpx.Client(timeout=TIMEOUT)
        self._sleep = sleep
        self._attempts = attempts
        self._clients: dict[str, Any] = {}

    # reports -----------------------------------------------------------------------------

    def create_report(
        self, report_type: str, start: datetime, end: datetime, marketplace_ids: Sequence[str]
    ) -> str:
        payload = self._call(
            "createReport",
            lambda: self._client("reports").create_report(
                reportType=report_type,
                marketplaceIds=list(marketplace_ids),
                dataStartTime=_iso(start),
                dataEndTime=_iso(end),
            ),
        )
        return _required(payload, "reportId", "createReport")

    def get_report(self, report_id: str) -> dict[str, Any]:
        return self._call("getReport", lambda: self._client("reports").get_report(report_id))

    def get_reports(
        self,
        report_type: str,
        created_since: datetime,
        statuses: Sequence[str],
        marketplace_ids: Sequence[str],
    ) -> list[dict[str, Any]]:
        payload = self._call(
            "getReports",
            lambda: self._client("reports").get_reports(
                reportTypes=[report_type],
                processingStatuses=list(statuses),
                marketplaceIds=list(marketplace_ids),
                createdSince=_iso(created_since),
                pageSize=100,
            ),
        )
        return [r for r in payload.get("reports") or () if isinstance(r, dict)]

    def report_document(self, document_id: str) -> dict[str, Any]:
        return self._call(
            "getReportDocument",
            lambda: self._client("reports").get_report_document(document_id),
        )

    # feeds -------------------------------------------------------------------------------

    def create_feed_document(self, content_type: str) -> dict[str, Any]:
        return self._call(
            "createFeedDocument",
            lambda: self._client("feeds").create_feed_document(None, content_type),
        )

    def upload(self, url: str, content: bytes, content_type: str) -> None:
        """Put a feed's content at the presigned URL ``createFeedDocument`` gave."""
        try:
            response = self._http.put(url, content=content, headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise RetryableError(f"the Amazon feed upload failed: {exc}") from exc
        if response.status_code >= 500:
            raise RetryableError(f"the Amazon feed upload failed: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(
                f"the Amazon feed upload was refused: HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )

    def create_feed(self, feed_type: str, document_id: str, marketplace_ids: Sequence[str]) -> str:
        payload = self._call(
            "createFeed",
            lambda: self._client("feeds").create_feed(
                feed_type, document_id, marketplaceIds=list(marketplace_ids)
            ),
            repeatable=False,
        )
        return _required(payload, "feedId", "createFeed")

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        return self._call("getFeed", lambda: self._client("feeds").get_feed(feed_id))

    def get_feeds(self, feed_type: str, created_since: datetime) -> list[dict[str, Any]]:
        payload = self._call(
            "getFeeds",
            lambda: self._client("feeds").get_feeds(
                feedTypes=feed_type,
                createdSince=_iso(created_since),
                pageSize=100,
                marketplaceIds=self.home_marketplace,
            ),
        )
        return [f for f in payload.get("feeds") or () if isinstance(f, dict)]

    def feed_document(self, document_id: str) -> dict[str, Any]:
        # The library's own getter downloads the document with an HTTP client of its own that
        # reads no status; the metadata alone comes from its request method.
        feeds = self._client("feeds")
        path = fill_query_params(FEED_DOCUMENT_PATH, document_id)
        return self._call(
            "getFeedDocument", lambda: feeds._request(path, params={}, add_marketplace=False)
        )

    # orders ------------------------------------------------------------------------------

    def get_order(self, order_id: str, included: Sequence[str]) -> dict[str, Any]:
        payload = self._call(
            "getOrder",
            lambda: self._client("orders").get_order(order_id, includedData=list(included)),
        )
        order = payload.get("order")
        if not isinstance(order, dict):
            raise NotOnAmazon(f"Amazon answered getOrder {order_id} without the order")
        return order

    def search_orders(
        self,
        updated_after: datetime,
        marketplace_ids: Sequence[str],
        included: Sequence[str],
        page_token: str = "",
    ) -> dict[str, Any]:
        query: dict[str, Any] = {
            "lastUpdatedAfter": _iso(updated_after),
            "marketplaceIds": list(marketplace_ids),
            "includedData": list(included),
        }
        if page_token:
            query["paginationToken"] = page_token
        return self._call("searchOrders", lambda: self._client("orders").search_orders(**query))

    # listings ----------------------------------------------------------------------------

    def get_listings_item(self, sku: str, marketplace_id: str) -> dict[str, Any]:
        return self._call(
            "getListingsItem",
            lambda: self._client("listings").get_listings_item(
                self.seller_id,
                sku,
                marketplaceIds=marketplace_id,
                includedData=["summaries", "fulfillmentAvailability"],
            ),
        )

    def patch_listings_item(
        self, sku: str, marketplace_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        # A merge patch sets an absolute quantity: repeating it changes nothing more.
        return self._call(
            "patchListingsItem",
            lambda: self._client("listings").patch_listings_item(
                self.seller_id, sku, marketplaceIds=marketplace_id, body=body
            ),
        )

    # sellers -----------------------------------------------------------------------------

    def marketplace_participations(self) -> list[dict[str, Any]]:
        payload = self._call(
            "getMarketplaceParticipations",
            lambda: self._client("sellers").get_marketplace_participation(),
        )
        return [entry for entry in payload.get("payload") or () if isinstance(entry, dict)]

    # documents ---------------------------------------------------------------------------

    def open_document(self, url: str) -> DocumentStream:
        """Start downloading a document from its presigned URL."""
        try:
            response = self._http.send(self._http.build_request("GET", url), stream=True)
        except httpx.HTTPError as exc:
            raise RetryableError(f"the Amazon document is out of reach: {exc}") from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            kind = RetryableError if response.status_code >= 500 else PermanentError
            raise kind(
                f"the Amazon document could not be fetched: HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        return DocumentStream(response)

    # the call, throttled and translated ---------------------------------------------------

    def _call(
        self, operation: str, send: Callable[[], Any], *, repeatable: bool = True
    ) -> dict[str, Any]:
        problem, retry_after = "no attempt made", None
        for attempt in range(1, self._attempts + 1):
            self.throttle.acquire(operation)
            try:
                response = send()
            except HttpFailure as failure:
                self.throttle.observe(operation, failure.headers)
                problem = f"HTTP {failure.status}: {failure.message}"
                if failure.status == 429:
                    retry_after = self.throttle.throttled(operation)
                    continue  # Amazon did not act; the next token is waited for
                if failure.status < 500:
                    raise self._refusal(operation, failure) from None
                retry_after = _retry_after(failure.headers)
                self._unsure(operation, problem, repeatable, retry_after)
            except _Unanswered as lost:
                problem = str(lost)
                if not lost.before_sending:
                    self._unsure(operation, problem, repeatable, None)
            else:
                self.throttle.observe(operation, getattr(response, "headers", None))
                return _payload(response)
            if attempt < self._attempts:
                self._sleep(min(MAX_BACKOFF, BACKOFF * 2 ** (attempt - 1)))
        raise RetryableError(
            f"Amazon {operation} failed after {self._attempts} attempts: {problem}",
            retry_after=retry_after,
        )

    @staticmethod
    def _unsure(operation: str, problem: str, repeatable: bool, retry_after: float | None) -> None:
        if not repeatable:
            raise MaybeDone(
                f"Amazon {operation} may or may not have run ({problem}); not repeated blindly",
                retry_after=retry_after,
            )

    def _refusal(self, operation: str, failure: HttpFailure) -> PermanentError:
        what = f"Amazon refused {operation} for seller {self.seller_id}"
        if failure.status == 404:
            return NotOnAmazon(f"{what}: not found: {failure.message}")
        if failure.status in (401, 403):
            return PermanentError(
                f"{what}: access denied ({failure.message}); the app lacks a role for it or the "
                "seller's authorisation does not cover it"
            )
        return PermanentError(f"{what}: HTTP {failure.status}: {failure.message}")

    def _client(self, kind: str) -> Any:
        client = self._clients.get(kind)
        if client is None:
            client = self._build(kind)
            self._clients[kind] = client
        return client

    def _build(self, kind: str) -> Any:
        common: dict[str, Any] = {
            "marketplace": _HOME[self.region],
            "refresh_token": self._credentials["refresh_token"],
            "credentials": dict(self._credentials),
            "credential_providers": (FromCodeCredentialProvider,),
            "auth_token_client_class": lambda **_: self._tokens,
        }
        if kind == "reports":
            client: Any = Reports(**common)
        elif kind == "feeds":
            client = Feeds(**common)
        elif kind == "orders":
            client = Orders(version=ORDERS_VERSION, **common)
        elif kind == "listings":
            client = ListingsItems(version=LISTINGS_VERSION, **common)
        elif kind == "sellers":
            client = Sellers(**common)
        else:
            raise ValueError(f"no SP-API client {kind!r}")
        client.endpoint = self.endpoint
        client.marketplace_id = self.home_marketplace
        client._transport.close()
        client._transport = _CheckedTransport(client=self._http)
        return client


def _payload(response: Any) -> dict[str, Any]:
    """The answer's body as a dict, with its page token as ``nextToken`` wherever Amazon put
    it (the library lifts ``pagination`` out of the body)."""
    found = getattr(response, "payload", None)
    payload = dict(found) if isinstance(found, dict) else {"payload": found}
    token = getattr(response, "next_token", None)
    if token:
        payload.setdefault("nextToken", token)
    return payload


def _required(payload: dict[str, Any], key: str, operation: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise RetryableError(f"Amazon answered {operation} without {key}")
    return value


def _describe_error(error: object) -> str:
    if not isinstance(error, dict):
        return str(error)
    parts = [str(error.get("code") or ""), str(error.get("message") or "")]
    details = error.get("details")
    text = ": ".join(part for part in parts if part)
    return f"{text} ({details})" if details else text or str(error)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("SP-API times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
