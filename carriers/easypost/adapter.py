"""The EasyPost carrier: quotes, buys, voids and tracks return labels through EasyPost's API.

A quote creates an EasyPost return shipment and turns its rates into quotes that remember the
shipment and rate ids; buying one buys that rate and downloads the label as PDF and ZPL.
EasyPost takes no idempotency key, so a purchase first reads the shipment back and reuses a
label already bought for it: a retried job never pays twice. Tracking events come from the
trackers API or from ``tracker.updated`` webhooks signed with the account's webhook secret; a
parcel another carrier moves (a platform's own return label) gets a tracker with its carrier
named the first time it is tracked.

Credentials: ``secrets["api_key"]`` and optionally ``secrets["webhook_secret"]``. Settings:
``customs_signer`` (defaults to the buyer's name), ``customs_description`` (defaults to
"Returned goods"), ``eel_pfc``, ``timeout`` in seconds, and ``qr_code`` (true: a USPS label
also gets its Label Broker QR code, so the buyer can drop the parcel off box- and printer-free).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping, Sequence

from connector.domain import Label, RateQuote, Shipment, TrackingEvent
from connector.errors import PermanentError
from connector.ports import AdapterContext, Credentials

from . import mapper
from .client import DEFAULT_TIMEOUT, EasyPostApi
from .mapper import CustomsItem

SIGNATURE_HEADER = "x-hmac-signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="


class EasyPostCarrier:
    """``connector.ports.Carrier``, ``TrackingWebhook`` and ``ParcelFollower`` over one
    EasyPost account."""

    slug = "easypost"

    def __init__(self, credentials: Credentials, context: AdapterContext) -> None:
        api_key = credentials.secrets.get("api_key", "")
        if not api_key:
            raise PermanentError('an easypost account needs secrets["api_key"]')
        self._credentials = credentials
        self._context = context
        self._webhook_secret = credentials.secrets.get("webhook_secret", "")
        self._qr_code = bool(credentials.settings.get("qr_code", False))
        timeout = int(credentials.settings.get("timeout", DEFAULT_TIMEOUT))
        self._api = EasyPostApi(api_key, timeout=timeout, http=context.http)

    # --- Carrier -------------------------------------------------------------------------

    def quote(
        self, shipment: Shipment, *, customs_items: Sequence[CustomsItem] | None = None
    ) -> list[RateQuote]:
        """Create a return shipment and quote each of its rates.

        A cross-border parcel is declared as returned goods; ``customs_items`` declares its
        contents line by line, else the whole parcel is one item at the declared value.
        """
        created = self._api.create_shipment(
            mapper.shipment_request(shipment, customs=self._customs(shipment, customs_items))
        )
        messages = [m.get("message", "") for m in created.get("messages") or []]
        quotes = mapper.rate_quotes(created, self._credentials.external_id)
        if not quotes and messages:
            raise PermanentError(f"EasyPost returned no rates: {'; '.join(messages)}")
        return quotes

    def buy(self, shipment: Shipment, quote: RateQuote, idempotency_key: str) -> Label:
        """Buy the quoted rate, or reuse the label already bought for its shipment."""
        if quote.carrier != self.slug:
            raise PermanentError(f"a {quote.carrier!r} quote cannot be bought from {self.slug}")
        if quote.account != self._credentials.external_id:
            raise PermanentError(
                f"quote is for account {quote.account!r}, not {self._credentials.external_id!r}"
            )
        shipment_id = mapper.breakdown_value(quote, mapper.SHIPMENT_ID)
        rate_id = mapper.breakdown_value(quote, mapper.RATE_ID)
        if not shipment_id or not rate_id:
            raise PermanentError("the quote carries no EasyPost shipment and rate ids")

        current = self._api.retrieve_shipment(shipment_id)
        bought = current if mapper.is_bought(current) else None
        if bought is None:
            bought = self._api.buy_shipment(shipment_id, rate_id)
        pdf_url, zpl_url = mapper.label_urls(bought)
        if not zpl_url:
            pdf_url_after, zpl_url = mapper.label_urls(self._api.convert_label(shipment_id, "ZPL"))
            pdf_url = pdf_url or pdf_url_after
        if not pdf_url or not zpl_url:
            raise PermanentError(f"EasyPost shipment {shipment_id} has no PDF or ZPL label")
        qr_url = ""
        if self._qr_code and mapper.carried_by_usps(bought):
            # box-free drop-off: the USPS Label Broker QR code, made once per shipment
            qr_url = mapper.qr_form_url(bought) or mapper.qr_form_url(
                self._api.generate_form(shipment_id, mapper.QR_FORM)
            )
            if not qr_url:
                raise PermanentError(f"EasyPost made no QR code form for {shipment_id}")
        return mapper.label(
            bought,
            pdf=self._api.download(pdf_url),
            zpl=self._api.download(zpl_url).decode("utf-8", errors="replace"),
            fallback=quote.price,
            qr_png=self._api.download(qr_url) if qr_url else b"",
            qr_url=qr_url,
        )

    def void(self, label: Label) -> None:
        """Ask EasyPost to refund the postage; a refund it rejects outright is permanent."""
        if not label.external_id:
            raise PermanentError(f"label {label.tracking_number} has no EasyPost shipment id")
        refunded = self._api.refund_shipment(label.external_id)
        if refunded.get("refund_status") == "rejected":
            raise PermanentError(f"EasyPost rejected the refund of {label.external_id}")

    def track(self, tracking_number: str) -> list[TrackingEvent]:
        """A label bought here is tracked by its bare number; a parcel another carrier moves
        as ``"<EasyPost carrier>/<number>"`` (``DHLPaket/0034…``), followed on first sight."""
        carrier, _, code = tracking_number.rpartition("/")
        return self.follow(carrier, code)

    # --- ParcelFollower ------------------------------------------------------------------

    def follow(self, tracking_carrier: str, tracking_number: str) -> list[TrackingEvent]:
        """The parcel's scans from its tracker on this account, created (``POST
        /v2/trackers``) only when none is found for the code and carrier: asking again
        reads the same tracker. Without a carrier EasyPost names it from the code."""
        if not tracking_number:
            raise PermanentError(f"no tracking number to follow in {tracking_carrier!r}")
        trackers = self._api.find_trackers(tracking_number, tracking_carrier)
        tracker = (
            trackers[0] if trackers else self._api.create_tracker(tracking_number, tracking_carrier)
        )
        return mapper.tracking_events(tracker)

    # --- TrackingWebhook -----------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``X-Hmac-Signature`` (any letter case) signs the raw body with our secret."""
        if not self._webhook_secret:
            return False
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        if not given:
            return False
        key = unicodedata.normalize("NFKD", self._webhook_secret).encode("utf-8")
        expected = SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))

    def parse_tracking(self, body: bytes) -> list[TrackingEvent]:
        """Tracking events of a tracker webhook event; any other event gives none."""
        try:
            event = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PermanentError(f"EasyPost webhook body is not JSON: {error}") from error
        if not isinstance(event, Mapping):
            raise PermanentError("EasyPost webhook body is not a JSON object")
        tracker = mapper.tracker_of_event(event)
        return mapper.tracking_events(tracker) if tracker is not None else []

    # --- helpers -------------------------------------------------------------------------

    def _customs(
        self, shipment: Shipment, items: Sequence[CustomsItem] | None
    ) -> dict[str, object] | None:
        if not mapper.is_cross_border(shipment):
            return None
        settings = self._credentials.settings
        if not items:
            description = str(settings.get("customs_description") or "Returned goods")
            items = mapper.default_customs_items(shipment, description)
        signer = str(settings.get("customs_signer") or shipment.from_address.name)
        eel_pfc = str(settings.get("eel_pfc") or "NOEEI 30.37(a)")
        return mapper.customs_info(items, signer=signer, eel_pfc=eel_pfc)
