"""The ports adapters implement, split by capability, and the DTOs that cross them.

A platform adapter implements only what its marketplace can do; the registry learns which
capabilities it has with ``isinstance`` on these runtime-checkable Protocols. Adapters receive
their credentials, settings and HTTP session through ``__init__`` and raise only the error kinds
of ``connector.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .domain import (
    Label,
    Money,
    Order,
    RateQuote,
    ReturnRequest,
    Shipment,
    TrackingEvent,
)

# --- DTOs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an adapter needs to act for one store or carrier account."""

    external_id: str  # shop domain, selling partner id, carrier account id
    secrets: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the running application lends an adapter besides its credentials."""

    data_dir: Path  # a folder the adapter may keep files in (the instance folder's share)
    http: Any = None  # a requests.Session or httpx.Client; tests pass stubbed ones
    public_url: str = "http://localhost:5000"  # where platforms reach this installation
    redis: Any = None  # the app's Redis client, for state shared across workers (rate limits)


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One verified delivery from a platform, before any work is done on it."""

    event_id: str  # the platform's delivery id, the deduplication key
    topic: str  # the platform's own topic name, e.g. "returns/request"
    shop: str  # which store sent it (external id)
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """What an inbound event means in canonical terms."""

    kind: str  # "order" | "return_request" | "return_update" | "ignored", or a platform's own
    order: Order | None = None
    return_request: ReturnRequest | None = None
    return_external_id: str = ""  # for "return_update": which of the platform's returns
    external_return_status: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)  # what a kind carries beyond these


@dataclass(frozen=True, slots=True)
class PushResult:
    """What the platform said to a push: its id for the thing, and whether it was new."""

    external_id: str = ""
    already_done: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Variant:
    """Another variant (a size, a colour) of an ordered product, which a buyer may take in
    exchange for the one returned."""

    sku: str
    title: str  # the platform's variant title, e.g. "M" or "M / Blue"
    available: bool  # on sale now, so the platform can send it


# --- platforms --------------------------------------------------------------------------


@runtime_checkable
class Linker(Protocol):
    def authorize_url(self, state: str, redirect_uri: str) -> str: ...

    def complete(self, params: Mapping[str, str], redirect_uri: str) -> Credentials: ...


@runtime_checkable
class WebhookReceiver(Protocol):
    """Verifies and reads a platform's webhook deliveries.

    ``shop_of`` is a static method: it reads which store sent a delivery from the headers
    alone, before any credentials are loaded, so the app can find the store's secret."""

    @staticmethod
    def shop_of(headers: Mapping[str, str]) -> str: ...

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool: ...

    def parse(self, headers: Mapping[str, str], body: bytes) -> InboundEvent: ...

    def interpret(self, event: InboundEvent) -> ParsedEvent: ...


@runtime_checkable
class OrderSource(Protocol):
    def fetch_order(self, external_id: str) -> Order: ...

    def iter_orders(self, since: datetime) -> Iterator[Order]: ...


@runtime_checkable
class ReturnSource(Protocol):
    def iter_return_requests(self, since: datetime) -> Iterator[ReturnRequest]: ...


@runtime_checkable
class ReturnPublisher(Protocol):
    """Pushes a return's progress to the platform. Every call carries an idempotency key;
    a call repeated with the same key changes nothing remotely and says ``already_done``.
    ``refund(..., store_credit=True)`` credits the buyer's account in the store instead of
    paying the money back."""

    def approve(self, idempotency_key: str, return_external_id: str) -> PushResult: ...

    def decline(
        self, idempotency_key: str, return_external_id: str, reason: str, note: str
    ) -> PushResult: ...

    def attach_label(
        self,
        idempotency_key: str,
        return_external_id: str,
        tracking_number: str,
        carrier: str,
        label_url: str,
    ) -> PushResult: ...

    def refund(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        amount: Money,
        lines: list[tuple[str, int]],
        *,
        store_credit: bool = False,
    ) -> PushResult: ...

    def dispose(
        self,
        idempotency_key: str,
        return_external_id: str,
        dispositions: list[tuple[str, int, str]],
    ) -> PushResult: ...

    def close(self, idempotency_key: str, return_external_id: str) -> PushResult: ...


@runtime_checkable
class ReturnCreator(Protocol):
    """Creates on the platform a return that was asked for in Helloword (the portal or the
    API), so the platform's own records, refunds and restocks follow it. Returns the
    platform's id for it in ``PushResult.external_id``; a repeated key changes nothing."""

    def create_return(
        self, idempotency_key: str, request: ReturnRequest, *, approved: bool = True
    ) -> PushResult: ...


@runtime_checkable
class VariantSource(Protocol):
    """A platform that can exchange returned goods for another variant of the same product.

    ``variants`` gives the other variants of an order line's product at the price paid for the
    ordered one (no money changes hands in an exchange). ``exchange`` asks the platform to send
    the variants wanted, ``(order line id, quantity, sku wanted)`` each, for a return; a
    repeated key changes nothing and says ``already_done``."""

    def variants(self, order_line_external_id: str, sku: str) -> list[Variant]: ...

    def exchange(
        self,
        idempotency_key: str,
        return_external_id: str,
        order_external_id: str,
        lines: list[tuple[str, int, str]],
    ) -> PushResult: ...


class RefundStanding(Protocol):
    """Where one refund stands on a platform that settles refunds after the push: ``state``
    is ``queued``, ``submitting`` or ``submitted`` (the platform may still make it),
    ``issued``, ``failed`` (it never will), or ``uncertain`` (a person must check the
    platform); ``message`` is the platform's words, or why it is uncertain."""

    @property
    def state(self) -> str: ...

    @property
    def message(self) -> str: ...


@runtime_checkable
class RefundTracker(Protocol):
    """A platform that makes refunds some time after the push asks for them (Amazon's payment
    adjustment feeds), so only its own record says whether a refund may still be made. Asking
    for a refund again under a new key is safe only once that record says ``failed``.

    ``refund_status`` is None for a key the platform was never asked about.
    ``settle_refund`` records what a person found on the platform for an ``uncertain``
    refund: made, or not made (which lets it be asked for again)."""

    def refund_status(self, idempotency_key: str) -> RefundStanding | None: ...

    def settle_refund(self, idempotency_key: str, made: bool, note: str) -> None: ...


@runtime_checkable
class LocationSource(Protocol):
    """A platform whose stock lives at several locations: the merchant picks the one returned
    goods go back to (the store setting ``location_id``)."""

    def locations(self) -> list[dict[str, str]]: ...


@runtime_checkable
class InventoryPublisher(Protocol):
    """Puts returned goods graded resellable back on sale. A platform whose ``dispose`` of
    RESTOCKED goods already does so (Shopify) says ``restocks_on_dispose = True`` as a class
    attribute, and is not asked twice."""

    def restock(self, idempotency_key: str, sku: str, quantity: int) -> PushResult: ...


# --- carriers ---------------------------------------------------------------------------


@runtime_checkable
class Carrier(Protocol):
    """Quotes and carries parcels. A carrier whose "labels" are codes for box-free drop-off
    says so with the class attribute ``option_kind = "dropoff"`` (the default is "label").
    An aggregator's ``track`` takes ``"<carrier token>/<number>"`` for a parcel another
    carrier moves, in the aggregator's own tokens (``usps/9205…``)."""

    slug: str

    def quote(self, shipment: Shipment) -> list[RateQuote]: ...

    def buy(self, shipment: Shipment, quote: RateQuote, idempotency_key: str) -> Label: ...

    def void(self, label: Label) -> None: ...

    def track(self, tracking_number: str) -> list[TrackingEvent]: ...


@runtime_checkable
class TrackingWebhook(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes) -> bool: ...

    def parse_tracking(self, body: bytes) -> list[TrackingEvent]: ...


@runtime_checkable
class ParcelFollower(Protocol):
    """An aggregator that must be told of a parcel it did not sell before it tracks it (a
    tracker to create). ``follow`` starts following ``tracking_number`` as moved by
    ``tracking_carrier`` (the aggregator's token for that carrier) and returns the scans
    known so far; a parcel followed already is read, not followed a second time. Its
    ``track`` follows a ``"<token>/<number>"`` it does not know yet, so the first poll of a
    parcel on a platform's own label is enough."""

    def follow(self, tracking_carrier: str, tracking_number: str) -> list[TrackingEvent]: ...


PLATFORM_PORTS: tuple[type, ...] = (
    Linker,
    WebhookReceiver,
    OrderSource,
    ReturnSource,
    ReturnPublisher,
    ReturnCreator,
    InventoryPublisher,
    LocationSource,
    VariantSource,
    RefundTracker,
)
CARRIER_PORTS: tuple[type, ...] = (Carrier, TrackingWebhook, ParcelFollower)
