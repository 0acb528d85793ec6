"""The drop-off carrier: a QR code the buyer shows at a drop-off point instead of a label.

The buyer needs no box and no printer; the point (a parcel shop, a return bar) packs the item
and sends it on to a consolidation hub with the day's other returns. Prices and instructions
come from a network file, ``credentials.settings["network"]``: the name of a file under
``carriers/dropoff/networks/`` (without ``.csv``) or an absolute path to one. The code printed
on the voucher is also the tracking number, and it expires 30 days after it is issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.domain import Label, RateQuote, Shipment, TrackingEvent
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials

from ..labels import DropOffVoucher, render_dropoff_pdf, render_qr_png
from .network import DropOffService, Network, load_network

NETWORKS_DIR = Path(__file__).resolve().parent / "networks"
VALID_FOR = timedelta(days=30)

# Crockford's base32: no I, L, O or U, so a code read aloud or typed at a counter is unambiguous.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def bundled_networks() -> list[str]:
    """Names of the networks that ship with Helloword."""
    return sorted(path.stem for path in NETWORKS_DIR.glob("*.csv"))


def network_file(setting: object) -> Path:
    """The file a ``network`` setting names: a bundled network's name, or an absolute path."""
    if not isinstance(setting, str) or not setting.strip():
        raise PermanentError(
            'a dropoff account needs settings["network"]: the name of a bundled network '
            f"({', '.join(bundled_networks())}) or an absolute path to a network CSV"
        )
    path = Path(setting)
    if path.is_absolute():
        file = path
    elif path.name == setting and setting not in (".", ".."):
        file = NETWORKS_DIR / f"{setting}.csv"
    else:
        raise PermanentError(
            f"network {setting!r}: give a bundled network name or an absolute path"
        )
    if not file.is_file():
        raise PermanentError(
            f"network {setting!r} not found (bundled networks: {', '.join(bundled_networks())})"
        )
    return file


def dropoff_code_for(idempotency_key: str) -> str:
    """A ``DO-7KQ2-M9TA``-style code from the key's SHA-256: the same key, the same code."""
    number = int.from_bytes(hashlib.sha256(idempotency_key.encode("utf-8")).digest()[:5], "big")
    chars = "".join(_CODE_ALPHABET[(number >> (5 * shift)) & 31] for shift in range(7, -1, -1))
    return f"DO-{chars[:4]}-{chars[4:]}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DropOffCarrier:
    """``connector.ports.Carrier`` for box-free drop-off; quotes by the buyer's country."""

    slug = "dropoff"
    option_kind = "dropoff"  # routing offers its codes as drop-off options, not labels

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
        self._network = load_network(network_file(credentials.settings.get("network")))

    @property
    def network(self) -> Network:
        return self._network

    @staticmethod
    def warm_up() -> None:
        """Parse the bundled networks once, so worker processes forked later find them cached."""
        for name in bundled_networks():
            load_network(network_file(name))

    def quote(self, shipment: Shipment) -> list[RateQuote]:
        """One quote per service with drop-off points in the buyer's country."""
        return [self._rate_quote(service, shipment) for service in self._offers(shipment)]

    def buy(self, shipment: Shipment, quote: RateQuote, idempotency_key: str) -> Label:
        """Issue the drop-off code and its voucher for the quoted service.

        The label carries the network's price now, like the rate-card carrier; a service that
        no longer takes the parcel is a permanent error.
        """
        if quote.carrier != self.slug:
            raise PermanentError(f"a {quote.carrier!r} quote cannot be bought from {self.slug}")
        if quote.account != self._credentials.external_id:
            raise PermanentError(
                f"quote is for account {quote.account!r}, not {self._credentials.external_id!r}"
            )
        if not idempotency_key:
            raise PermanentError("issuing a drop-off code needs an idempotency key")
        service = next((s for s in self._offers(shipment) if s.service == quote.service), None)
        if service is None:
            raise PermanentError(
                f"{quote.service} on network {self._network.name!r} no longer takes this "
                f"parcel from {shipment.from_address.country}"
            )
        price, _ = service.charge(shipment.parcel.weight_kg)
        code = dropoff_code_for(idempotency_key)
        issued = self._clock()
        expires_at = issued + VALID_FOR
        voucher = DropOffVoucher(
            rma=shipment.reference,
            code=code,
            network=self._network.name,
            service=service.service,
            from_address=shipment.from_address,
            to_address=shipment.to_address,
            instructions=service.instructions,
            qr_payload=code,
            created=issued.date(),
            expires=expires_at.date(),
        )
        return Label(
            carrier=self.slug,
            service=service.service,
            tracking_number=code,
            price=price,
            pdf=render_dropoff_pdf(voucher),
            qr_png=render_qr_png(code),
            qr_payload=code,
            expires_at=expires_at,
        )

    def void(self, label: Label) -> None:
        """Nothing to cancel: the network charges only for codes redeemed at a point, and an
        unused code lapses by itself at ``expires_at``."""

    def track(self, tracking_number: str) -> list[TrackingEvent]:
        """Always empty: a drop-off network has no tracking API. Redemptions and hub scans
        reach Helloword through the tracking job instead (``carriers.simulation`` in the
        demo), recorded against the drop-off code."""
        return []

    def _offers(self, shipment: Shipment) -> list[DropOffService]:
        # A return starts with the buyer, so the buyer's country decides which points serve it.
        return self._network.offers(shipment.from_address.country, shipment.parcel.weight_kg)

    def _rate_quote(self, service: DropOffService, shipment: Shipment) -> RateQuote:
        price, breakdown = service.charge(shipment.parcel.weight_kg)
        return RateQuote(
            carrier=self.slug,
            service=service.service,
            account=self._credentials.external_id,
            price=price,
            transit_days_min=service.transit_min,
            transit_days_max=service.transit_max,
            breakdown=breakdown,
        )
