"""The Shippo carrier: return labels, refunds and tracking through Shippo's REST API.

Quotes create a return shipment (``extra.is_return``) and read its rates; a purchase buys the
chosen rate as a 4x6 PDF label and downloads it; ``void`` asks Shippo for a refund; tracking
is polled (``GET /tracks``) or pushed by the ``track_updated`` webhook. Network work lives in
``client.py`` and payload shapes in ``mapper.py``; this module decides what to call and when.

Account data: ``secrets["api_token"]`` (required), ``secrets["webhook_token"]`` (for the
webhook), ``settings["qr_code_requested"]`` (ask for a QR code for box-free drop-off, which
Shippo supports for USPS, Royal Mail and Evri), ``settings["tracking_carrier"]`` (the Shippo
carrier token ``track`` uses for a bare tracking number, e.g. ``usps``) and
``settings["purchase_lookback_days"]`` (how far back a retried purchase looks, default 30).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.domain import Label, RateQuote, Shipment, TrackingEvent
from connector.errors import PermanentError, RetryableError
from connector.ports import AdapterContext, Credentials

from . import mapper
from .client import ShippoClient

WEBHOOK_TOKEN_HEADER = "X-Webhook-Token"
METADATA_LIMIT = 100  # Shippo keeps at most 100 characters of a transaction's metadata
_PENDING = frozenset({"QUEUED", "WAITING"})
_REFUNDED = frozenset({"REFUNDED", "REFUNDPENDING", "REFUNDREJECTED"})


def purchase_metadata(idempotency_key: str) -> str:
    """The transaction metadata that marks a purchase: the key itself, or its SHA-256 when
    the key is longer than Shippo keeps, so the same key always finds the same purchase."""
    if len(idempotency_key) <= METADATA_LIMIT:
        return idempotency_key
    return "sha256:" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ShippoCarrier:
    """``connector.ports.Carrier`` and ``TrackingWebhook`` over the Shippo API."""

    slug = "shippo"

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
        self._client = ShippoClient(credentials.secrets.get("api_token", ""), context.http)

    # --- Carrier ----------------------------------------------------------------------------

    def quote(self, shipment: Shipment) -> list[RateQuote]:
        """One quote per rate Shippo offers for the return, cheapest first."""
        body = mapper.shipment_request(
            shipment, qr_code_requested=bool(self._credentials.settings.get("qr_code_requested"))
        )
        quotes = mapper.rate_quotes(self._client.post("/shipments", body), self._account)
        return sorted(quotes, key=lambda quote: quote.price.amount)

    def buy(self, shipment: Shipment, quote: RateQuote, idempotency_key: str) -> Label:
        """Buy the quoted rate once per idempotency key.

        Shippo has no idempotency header and its transaction list cannot filter by metadata,
        so the key goes into the transaction's ``metadata`` and a purchase first reads the
        account's transactions of the last ``purchase_lookback_days`` for one carrying it.
        A retry after that window, or racing a purchase still in flight, can buy twice."""
        if quote.carrier != self.slug:
            raise PermanentError(f"a {quote.carrier!r} quote cannot be bought from {self.slug}")
        if quote.account != self._account:
            raise PermanentError(f"quote is for account {quote.account!r}, not {self._account!r}")
        if not idempotency_key:
            raise PermanentError("buying a Shippo label needs an idempotency key")
        metadata = purchase_metadata(idempotency_key)
        transaction = self._earlier_purchase(metadata)
        if transaction is None:
            body = mapper.transaction_request(mapper.rate_id_of(quote), metadata)
            transaction = self._client.post("/transactions", body)
        return self._label(transaction, quote)

    def void(self, label: Label) -> None:
        """Ask Shippo to refund the label; unused scan-based return labels cost nothing, but a
        voided one can no longer be used. A refused refund is permanent."""
        if not label.external_id:
            raise PermanentError("a Shippo label without its transaction id cannot be refunded")
        refund = self._client.post("/refunds", {"transaction": label.external_id, "async": False})
        if refund.get("status") == "ERROR":
            raise PermanentError(
                f"Shippo refused to refund transaction {label.external_id}: "
                f"{mapper.transaction_messages(refund)}"
            )

    def track(self, tracking_number: str) -> list[TrackingEvent]:
        """Poll Shippo. ``tracking_number`` is ``<carrier>/<number>`` (e.g. ``usps/9205…``)
        or a bare number tracked with ``settings["tracking_carrier"]``."""
        carrier, _, number = tracking_number.rpartition("/")
        carrier = carrier or str(self._credentials.settings.get("tracking_carrier") or "")
        if not carrier or not number:
            raise PermanentError(
                f"cannot track {tracking_number!r} with Shippo: give '<carrier>/<number>' or set "
                'settings["tracking_carrier"] to a Shippo carrier token such as "usps"'
            )
        return mapper.tracking_events(self._client.get(f"/tracks/{carrier}/{number}"))

    # --- TrackingWebhook --------------------------------------------------------------------

    def verify_token(self, token: str) -> bool:
        """Whether ``token`` is the account's webhook token, compared in constant time."""
        expected = self._credentials.secrets.get("webhook_token", "")
        if not expected or not token:
            return False
        return hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Shippo does not sign webhooks: the URL registered with Shippo carries a secret
        ``?token=``. The app copies that query parameter into the ``X-Webhook-Token`` header
        before calling this, and the token is all there is to check; the body is not covered."""
        token = next(
            (
                value
                for key, value in headers.items()
                if key.lower() == WEBHOOK_TOKEN_HEADER.lower()
            ),
            "",
        )
        return self.verify_token(token)

    def parse_tracking(self, body: bytes) -> list[TrackingEvent]:
        """Events of a ``track_updated`` delivery; other events carry no tracking and give none.
        Shippo may deliver the same update twice: the events' dedup keys are stable."""
        try:
            payload = json.loads(body)
        except ValueError:
            raise PermanentError("a Shippo webhook body is not JSON") from None
        if not isinstance(payload, dict):
            raise PermanentError("a Shippo webhook body is not a JSON object")
        if payload.get("event") != "track_updated":
            return []
        track = payload.get("data")
        if not isinstance(track, dict):
            raise PermanentError("a Shippo track_updated webhook carries no Track in data")
        return mapper.tracking_events(track)

    # --- internals --------------------------------------------------------------------------

    @property
    def _account(self) -> str:
        return self._credentials.external_id

    def _earlier_purchase(self, metadata: str) -> dict[str, Any] | None:
        """The account's recent transaction bought with this metadata, if any is still good.

        A failed one (ERROR) does not count: buying again is the retry it needs."""
        setting = self._credentials.settings.get("purchase_lookback_days", 30)
        if not isinstance(setting, int) or isinstance(setting, bool) or setting < 1:
            raise PermanentError(
                f'settings["purchase_lookback_days"] must be a positive number of days, '
                f"not {setting!r}"
            )
        days = setting
        since = (self._clock() - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        page = self._client.get("/transactions", {"object_created_gt": since, "results": 100})
        while True:
            for transaction in page.get("results") or []:
                if (
                    isinstance(transaction, dict)
                    and transaction.get("metadata") == metadata
                    and transaction.get("status") != "ERROR"
                ):
                    return transaction
            next_url = page.get("next")
            if not next_url:
                return None
            page = self._client.get_url(str(next_url))

    def _label(self, transaction: Mapping[str, Any], quote: RateQuote) -> Label:
        status = transaction.get("status")
        object_id = transaction.get("object_id", "?")
        if status == "SUCCESS":
            label_url = transaction.get("label_url")
            if not isinstance(label_url, str) or not label_url:
                raise PermanentError(f"Shippo transaction {object_id} succeeded without label_url")
            return mapper.label(transaction, quote, self._client.download(label_url))
        if status in _PENDING:
            # Bought but not printed yet; a retry finds this transaction by its metadata.
            raise RetryableError(f"Shippo transaction {object_id} is still {status}")
        if status in _REFUNDED:
            raise PermanentError(
                f"the label bought with this key (transaction {object_id}) was refunded: {status}"
            )
        raise PermanentError(
            f"Shippo could not buy {quote.service} (transaction {object_id}, {status}): "
            f"{mapper.transaction_messages(transaction)}"
        )
