"""The only module that talks to karrio, and through karrio to the carriers' APIs.

karrio speaks to carriers with ``urllib`` and folds every failure, HTTP or not, into its own
``Message`` objects, so the status of a refused call never reaches its caller. This module
therefore carries karrio's HTTP itself: karrio calls one module-level ``urlopen``, which is
routed (once per process) through ``_route_urlopen``; a karrio gateway built here announces
each of its requests to its tracer just before sending it, and the tracer points the routing
at this client's ``requests`` session for that one request, on the thread that sends it. A
request nothing announced (karrio used elsewhere in the process) goes to ``urllib`` as
before. Each call then knows the status and headers of every exchange it caused and leaves
this module as one of ``connector.errors``: a timeout, a dropped connection, a 429 (with its
Retry-After), a 408 or a 5xx is retryable; any other 4xx, or a refusal the carrier answers
with its own error document, is permanent and carries the carrier's message.

The calls return plain dicts shaped as karrio's models (``RateDetails``, ``ShipmentDetails``,
``TrackingDetails``, ``ConfirmationDetails``), so ``mapper`` never sees a karrio object.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message as HeaderBlock
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import karrio.core.utils.helpers as karrio_http
import karrio.lib
import karrio.references
import karrio.sdk
import requests
from karrio.core.errors import ShippingSDKError
from karrio.core.utils.tracing import Tracer

from connector.errors import HellowordError, PermanentError, RetryableError

DEFAULT_TIMEOUT = 30.0  # seconds to wait for a carrier's answer, unless the account says
CONNECT_TIMEOUT = 5.0


def installed_carriers() -> list[str]:
    """The carrier names karrio can reach here: one per installed ``karrio.*`` extension."""
    return sorted(karrio.references.collect_providers_data())


class KarrioApi:
    """One carrier account through one karrio gateway.

    ``connection`` is the karrio settings of the carrier (``client_id``, ``site_id``,
    ``test_mode`` …). The gateway is built on first use, so a client costs nothing until it
    calls out. One client serves one call at a time."""

    def __init__(
        self,
        carrier_name: str,
        connection: Mapping[str, Any],
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.carrier_name = carrier_name
        self._connection = dict(connection)
        self._transport = _Transport(
            session if session is not None else requests.Session(), timeout
        )
        self._gateway: Any = None
        _route_karrio_http()

    # --- operations ------------------------------------------------------------------------

    def rates(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rates for a ``RateRequest``-shaped dict; none, when the carrier offers none."""
        rates, messages = self._call(
            "quoting",
            lambda gateway: karrio.sdk.Rating.fetch(dict(request)).from_(gateway).parse(),
        )
        if not rates and _errors(messages):
            raise PermanentError(self._refusal("quoting", messages))
        return [karrio.lib.to_dict(rate) for rate in rates or []]

    def create_shipment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Buy the label a ``ShipmentRequest``-shaped dict describes."""
        shipment, messages = self._call(
            "buying a label",
            lambda gateway: karrio.sdk.Shipment.create(dict(request)).from_(gateway).parse(),
        )
        if shipment is None:
            raise PermanentError(self._refusal("buying a label", messages))
        return dict(karrio.lib.to_dict(shipment))

    def cancel_shipment(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Cancel a shipment (a ``ShipmentCancelRequest``-shaped dict)."""
        confirmation, messages = self._call(
            "cancelling a shipment",
            lambda gateway: karrio.sdk.Shipment.cancel(dict(request)).from_(gateway).parse(),
        )
        if confirmation is None or not getattr(confirmation, "success", False):
            raise PermanentError(self._refusal("cancelling a shipment", messages))
        return dict(karrio.lib.to_dict(confirmation))

    def track(self, tracking_number: str) -> list[dict[str, Any]]:
        """The tracking details of one number; none while the carrier has no scan of it yet
        (it says so with warnings, not errors)."""
        details, messages = self._call(
            f"tracking {tracking_number}",
            lambda gateway: (
                karrio.sdk.Tracking.fetch({"tracking_numbers": [tracking_number]})
                .from_(gateway)
                .parse()
            ),
        )
        if not details and _errors(messages):
            raise PermanentError(self._refusal(f"tracking {tracking_number}", messages))
        return [karrio.lib.to_dict(detail) for detail in details or []]

    def supports(self, operation: str) -> bool:
        """Whether the carrier's karrio extension has ``operation`` (e.g. ``cancel_shipment``)."""
        return operation in self._ready().proxy_methods

    # --- gateway and errors ----------------------------------------------------------------

    def _ready(self) -> Any:
        if self._gateway is None:
            try:
                initializer = karrio.sdk.gateway[self.carrier_name]
            except ShippingSDKError:
                known = ", ".join(installed_carriers()) or "none"
                raise PermanentError(
                    f"karrio cannot reach carrier {self.carrier_name!r} here "
                    f"(installed karrio carriers: {known})"
                ) from None
            try:
                self._gateway = initializer.create(
                    self._connection, tracer=_Announcer(self._transport), cache=karrio.lib.Cache()
                )
            except ShippingSDKError as error:
                cause = error.__cause__ or error
                raise PermanentError(
                    f"the {self.carrier_name} account is not set up for karrio: {cause}"
                ) from error
        return self._gateway

    def _call(self, doing: str, call: Callable[[Any], Any]) -> tuple[Any, list[Any]]:
        gateway = self._ready()
        with self._transport.recording() as exchanges:
            try:
                result, messages = call(gateway)
            except HellowordError:
                raise
            except Exception as error:  # raised outside karrio's own fail-safe: bad input
                raise PermanentError(
                    f"karrio ({self.carrier_name}): {doing} failed: {error}"
                ) from error
        messages = list(messages or [])
        self._raise_for_exchanges(doing, exchanges, messages)
        return result, messages

    def _raise_for_exchanges(
        self, doing: str, exchanges: Sequence[Exchange], messages: list[Any]
    ) -> None:
        for exchange in exchanges:
            if exchange.failure:
                raise RetryableError(
                    f"{self.carrier_name}: {doing} failed: {exchange.failure} "
                    f"({exchange.method} {exchange.path})"
                )
        for exchange in exchanges:
            status = exchange.status or 0
            if status < 400:
                continue
            message = (
                f"{self.carrier_name}: {doing} failed ({status} on {exchange.method} "
                f"{exchange.path}): {_text(messages) or exchange.reason or 'no details'}"
            )
            if status == 429 or status == 408 or status >= 500:
                raise RetryableError(message, retry_after=retry_after(exchange.headers))
            raise PermanentError(message)

    def _refusal(self, doing: str, messages: Sequence[Any]) -> str:
        return f"{self.carrier_name}: {doing} failed: {_text(messages) or 'no answer'}"


# --- HTTP under karrio ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request karrio sent for a call, and what came of it."""

    method: str
    path: str
    status: int | None = None
    reason: str = ""
    headers: Mapping[str, str] | None = None
    failure: str = ""  # a timeout or connection failure: nothing came back


class _Transport:
    """Sends karrio's ``urllib`` requests through a ``requests`` session, keeping a record of
    each exchange for the call that caused it."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        self._session = session
        self._timeout = (CONNECT_TIMEOUT, timeout)
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator[list[Exchange]]:
        """The exchanges of one call, as they happen (karrio may send from worker threads)."""
        exchanges: list[Exchange] = []
        with self._lock:
            self._exchanges = exchanges
        yield exchanges

    def open(self, request: Request, timeout: float | None = None) -> _Response:
        method = request.get_method()
        url = request.full_url
        path = url.split("?", 1)[0]
        try:
            response = self._session.request(
                method,
                url,
                data=request.data,  # type: ignore[arg-type]
                headers=dict(request.header_items()),
                timeout=self._timeout if timeout is None else timeout,
            )
        except requests.Timeout as error:
            self._record(Exchange(method, path, failure="timed out"))
            raise TimeoutError(f"{method} {path} timed out") from error
        except requests.RequestException as error:
            self._record(Exchange(method, path, failure=f"no connection: {error}"))
            raise URLError(str(error)) from error
        headers = dict(response.headers)
        self._record(Exchange(method, path, response.status_code, response.reason or "", headers))
        if response.status_code >= 400:
            raise HTTPError(
                url,
                response.status_code,
                response.reason or "",
                _header_block(headers),
                io.BytesIO(response.content),
            )
        return _Response(response.content, response.status_code, _header_block(headers), url)

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)


class _Response:
    """What karrio reads of an ``urlopen`` answer: the body, status, headers and URL."""

    def __init__(self, body: bytes, status: int, headers: HeaderBlock, url: str) -> None:
        self._body = body
        self.status = status
        self.headers = headers
        self.url = url

    def read(self, *_: object) -> bytes:
        return self._body

    def getcode(self) -> int:
        return self.status

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def close(self) -> None:
        return None

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def _header_block(headers: Mapping[str, str]) -> HeaderBlock:
    block = HeaderBlock()
    for name, value in headers.items():
        block[name] = value
    return block


class _Announcer(Tracer):
    """The tracer of a gateway built here. karrio traces each request on the thread that
    sends it, just before sending; that thread's next ``urlopen`` then goes through this
    client's transport. Nothing is recorded: the traces carry credentials, and the exchanges
    this module needs are kept by the transport."""

    def __init__(self, transport: _Transport) -> None:
        super().__init__()
        self._transport = transport

    def trace(
        self,
        data: Any,
        key: str,
        metadata: Mapping[str, Any] | None = None,
        format: str | None = None,
    ) -> None:
        if key == "request":
            _routes.transport = self._transport


_routes = threading.local()  # per thread: the transport of the request being sent, if any
_urllib_urlopen: Callable[..., Any] | None = None
_routing_lock = threading.Lock()


def _route_urlopen(request: Request, timeout: float | None = None) -> Any:
    """karrio's ``urlopen``: an announced request goes through its client, any other to
    ``urllib`` as karrio would have sent it."""
    transport: _Transport | None = getattr(_routes, "transport", None)
    _routes.transport = None  # one announcement routes one request
    if transport is None:
        assert _urllib_urlopen is not None
        return _urllib_urlopen(request, timeout=timeout)
    return transport.open(request, timeout)


def _route_karrio_http() -> None:
    global _urllib_urlopen
    with _routing_lock:
        if karrio_http.urlopen is not _route_urlopen:
            _urllib_urlopen = karrio_http.urlopen
            karrio_http.urlopen = _route_urlopen


# --- messages and headers ------------------------------------------------------------------


def _errors(messages: Sequence[Any]) -> list[Any]:
    return [m for m in messages if getattr(m, "level", None) != "warning"]


def _text(messages: Sequence[Any]) -> str:
    """The carrier's own words: each error message, with its code where it has one."""
    parts = []
    for message in _errors(messages) or list(messages):
        text = str(getattr(message, "message", "") or "").strip()
        code = str(getattr(message, "code", "") or "").strip()
        if text and code and code not in text:
            parts.append(f"{code}: {text}")
        elif text or code:
            parts.append(text or code)
    return "; ".join(dict.fromkeys(parts))


def retry_after(headers: Mapping[str, str] | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP date."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
