"""The rate-card carrier: prices returns from a CSV rate card and draws its own intake labels.

It stands for a carrier or consolidator the merchant has a negotiated price list with but no
API: a China line that collects parcels for the origin warehouse, a regional parcel network
feeding a 3PL. Quotes come from the card (``card.py``); a purchase prints a 4x6 intake label
that tells the carrier where the parcel goes, which is not postage. Nothing here touches the
network, so the adapter is also the embedded default that works with no configuration.

Which card an account uses is ``credentials.settings["card"]``: the name of a folder under
``carriers/ratecard/cards/`` or an absolute path to a folder of the same shape.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from connector.domain import Label, RateQuote, Shipment, TrackingEvent
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials

from ..labels import LabelContent, render_pdf, render_qr_png, render_zpl
from .card import Price, RateCard, load_card

CARDS_DIR = Path(__file__).resolve().parent / "cards"


def bundled_cards() -> list[str]:
    """Names of the cards that ship with Helloword."""
    return sorted(path.name for path in CARDS_DIR.iterdir() if (path / "rates.csv").is_file())


def card_folder(setting: object) -> Path:
    """The folder a ``card`` setting names: a bundled card's name, or an absolute path."""
    if not isinstance(setting, str) or not setting.strip():
        raise PermanentError(
            'a ratecard account needs settings["card"]: the name of a bundled card '
            f"({', '.join(bundled_cards())}) or an absolute path to a card folder"
        )
    path = Path(setting)
    if path.is_absolute():
        folder = path
    elif path.name == setting and setting not in (".", ".."):
        folder = CARDS_DIR / setting
    else:
        raise PermanentError(f"rate card {setting!r}: give a bundled card name or an absolute path")
    if not folder.is_dir():
        raise PermanentError(
            f"rate card {setting!r} not found (bundled cards: {', '.join(bundled_cards())})"
        )
    return folder


def tracking_number_for(idempotency_key: str) -> str:
    """``RC`` and 12 base32 characters of the key's SHA-256: a retried purchase (same key)
    gets the same number, so the label it stores again is the one already handed out."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    return "RC" + base64.b32encode(digest).decode("ascii")[:12]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RateCardCarrier:
    """``connector.ports.Carrier`` over a rate card; quotes zone on the buyer's address."""

    slug = "ratecard"

    def __init__(
        self,
        credentials: Credentials,
        context: AdapterContext,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._credentials = credentials
        self._context = context
        self._clock = clock
        # Cached per folder by load_card, so building an adapter per job costs a few stats.
        self._card = load_card(card_folder(credentials.settings.get("card")))

    @property
    def card(self) -> RateCard:
        return self._card

    @staticmethod
    def warm_up() -> None:
        """Parse the bundled cards once, so worker processes forked later find them cached."""
        for name in bundled_cards():
            load_card(card_folder(name))

    def quote(self, shipment: Shipment) -> list[RateQuote]:
        """One quote per service of the card that carries this parcel from the buyer."""
        return [self._rate_quote(price) for price in self._prices(shipment)]

    def buy(self, shipment: Shipment, quote: RateQuote, idempotency_key: str) -> Label:
        """Re-price the quoted service and print its intake label.

        The label carries the card's price now: if the card changed since the quote, the label
        records what the carrier will actually charge. A service that no longer carries the
        parcel is a permanent error, since retrying cannot change the card.
        """
        if quote.carrier != self.slug:
            raise PermanentError(f"a {quote.carrier!r} quote cannot be bought from {self.slug}")
        if quote.account != self._credentials.external_id:
            raise PermanentError(
                f"quote is for account {quote.account!r}, not {self._credentials.external_id!r}"
            )
        if not idempotency_key:
            raise PermanentError("buying a rate-card label needs an idempotency key")
        price = next((p for p in self._prices(shipment) if p.service == quote.service), None)
        if price is None:
            raise PermanentError(
                f"{quote.service} on rate card {self._card.name!r} no longer carries this "
                f"parcel from {shipment.from_address.country}"
            )
        tracking_number = tracking_number_for(idempotency_key)
        qr_payload = f"{self._context.public_url.rstrip('/')}/t/{tracking_number}"
        content = LabelContent(
            rma=shipment.reference,
            carrier=price.carrier,
            service=price.service_code,
            tracking_number=tracking_number,
            from_address=shipment.from_address,
            to_address=shipment.to_address,
            weight_kg=shipment.parcel.weight_kg,
            qr_payload=qr_payload,
            created=self._clock().date(),
            note=(
                f"Intake label of the rate-card carrier {price.carrier} "
                f"(card {self._card.name}), not postage: hand the parcel to "
                f"{price.carrier} as agreed with the seller."
            ),
        )
        return Label(
            carrier=self.slug,
            service=price.service,
            tracking_number=tracking_number,
            price=price.total,
            pdf=render_pdf(content),
            zpl=render_zpl(content),
            qr_png=render_qr_png(qr_payload),
            qr_payload=qr_payload,
        )

    def void(self, label: Label) -> None:
        """Nothing to cancel: an intake label is not postage and nothing was charged for it.
        The carrier bills only parcels it receives, so an unused label simply stays unused."""

    def track(self, tracking_number: str) -> list[TrackingEvent]:
        """Always empty: a rate-card carrier has no tracking API. Its scans reach Helloword
        through the tracking job instead (warehouse receipts, or ``carriers.simulation`` in
        the demo), which records them against the tracking number printed on the label."""
        return []

    def _prices(self, shipment: Shipment) -> list[Price]:
        # A return travels from the buyer, so the buyer's address picks the zone.
        buyer = shipment.from_address
        return self._card.price(shipment.parcel, buyer.country, buyer.postal_code)

    def _rate_quote(self, price: Price) -> RateQuote:
        return RateQuote(
            carrier=self.slug,
            service=price.service,
            account=self._credentials.external_id,
            price=price.total,
            transit_days_min=price.transit_min,
            transit_days_max=price.transit_max,
            breakdown=price.breakdown,
        )
