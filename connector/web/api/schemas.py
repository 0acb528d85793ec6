"""What the API reads and writes, as marshmallow schemas; they are also its OpenAPI document.

Ids are ours (integers); a platform's id is ``external_id``. Money is
``{"amount": "12.50", "currency": "EUR"}`` with the amount as a decimal string, exact to the
currency's minor unit. Datetimes are ISO 8601 in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ...db import models
from ...domain import Condition, Money, Reason, Status
from ...domain.money import CURRENCIES, MoneyError
from ...domain.returns import RESOLUTIONS
from ...services.receiving import GRADES

COUNTRY = validate.Regexp(
    r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 country code in capitals, such as DE"
)


class RowWith:
    """A database row read together with values computed for it, as one object to dump."""

    def __init__(self, row: Any, **extra: Any) -> None:
        self._row = row
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


class QueryList(fields.List):
    """A query parameter given repeatedly, as a comma-separated list, or both:
    ``?status=REQUESTED,IN_REVIEW&status=APPROVED``."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> list[Any]:
        given = value if isinstance(value, list) else [value]
        parts = [part.strip() for item in given for part in str(item).split(",") if part.strip()]
        return super()._deserialize(parts, attr, data, **kwargs)


# --- money and addresses ------------------------------------------------------------------


class MoneySchema(Schema):
    amount = fields.Decimal(as_string=True, required=True, metadata={"example": "12.50"})
    currency = fields.String(required=True, metadata={"example": "EUR"})


class AmountSchema(Schema):
    amount = fields.Decimal(
        required=True,
        as_string=True,
        allow_nan=False,
        validate=validate.Range(-(10**12), 10**12),
    )
    currency = fields.String(required=True, validate=validate.OneOf(sorted(CURRENCIES)))

    @validates_schema
    def _exact(self, data: dict[str, Any], **_: Any) -> None:
        try:
            Money.of(data["amount"], data["currency"])
        except MoneyError as error:
            raise ValidationError(str(error), "amount") from None


class MoneyField(fields.Nested):
    """Money a row keeps as integer minor units beside a currency column."""

    def __init__(self, minor: str, currency: str = "currency", **kwargs: Any) -> None:
        super().__init__(MoneySchema, dump_only=True, **kwargs)
        self.minor = minor
        self.currency = currency

    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        money = Money.from_minor(getattr(obj, self.minor), getattr(obj, self.currency))
        return self._serialize(money, attr, obj, **kwargs)


class AddressSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    line1 = fields.String(required=True, validate=validate.Length(1, 200))
    line2 = fields.String(load_default="", validate=validate.Length(max=200))
    city = fields.String(required=True, validate=validate.Length(1, 100))
    region = fields.String(load_default="", validate=validate.Length(max=100))
    postal_code = fields.String(load_default="", validate=validate.Length(max=20))
    country = fields.String(required=True, validate=COUNTRY, metadata={"example": "DE"})
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    email = fields.Email(load_default="")


def _buyer_country(return_: models.Return) -> str:
    address = return_.buyer_address or return_.order.shipping_address
    return str(address.get("country", ""))


# --- stores ---------------------------------------------------------------------------------


class BackfillSchema(Schema):
    """How far the import of a newly linked store's past orders has got."""

    status = fields.String(
        metadata={
            "description": "queued, running, done, retrying (after a passing failure) or failed",
            "example": "running",
        }
    )
    orders = fields.Integer(metadata={"description": "Orders imported so far."})
    days = fields.Integer(metadata={"description": "How many days back the import reaches."})
    since = fields.String(metadata={"description": "Orders updated since then are imported (UTC)."})
    started_at = fields.String()
    finished_at = fields.String()
    error = fields.String(metadata={"description": "Why it stopped, when it did."})
    retry_in = fields.Float(metadata={"description": "Seconds until a retrying import resumes."})


class StoreSchema(Schema):
    id = fields.Integer(dump_only=True)
    platform = fields.String(
        required=True, validate=validate.Length(1, 40), metadata={"example": "shopify"}
    )
    external_id = fields.String(
        required=True,
        validate=validate.Length(1, 255),
        metadata={"description": "The store's id on its platform, e.g. its shop domain."},
    )
    name = fields.String(load_default="", validate=validate.Length(max=200))
    secrets = fields.Dict(
        keys=fields.String(),
        load_only=True,
        load_default=dict,
        metadata={"description": "Credentials for the platform; encrypted, never returned."},
    )
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    status = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    backfill = fields.Nested(
        BackfillSchema,
        dump_only=True,
        attribute="settings.backfill",
        metadata={"description": "The import of past orders that follows an install."},
    )


# --- orders ---------------------------------------------------------------------------------


class OrderQuerySchema(Schema):
    store_id = fields.Integer()
    number = fields.String(metadata={"description": "The order number the buyer sees."})
    email = fields.String(metadata={"description": "The customer's email, in any case."})


class OrderLineSchema(Schema):
    id = fields.Integer()
    external_id = fields.String()
    sku = fields.String()
    title = fields.String()
    quantity = fields.Integer()
    unit_price = MoneyField("unit_price_minor")
    delivered_at = fields.DateTime(allow_none=True)


class OrderSchema(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    external_id = fields.String()
    number = fields.String()
    currency = fields.String()
    total = MoneyField("total_minor")
    placed_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    customer_email = fields.Function(
        lambda order: order.customer.email if order.customer else "", metadata={"type": "string"}
    )
    customer_name = fields.Function(
        lambda order: order.customer.name if order.customer else "", metadata={"type": "string"}
    )
    shipping_country = fields.Function(
        lambda order: order.shipping_address.get("country", ""), metadata={"type": "string"}
    )
    tags = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OrderDetailSchema(OrderSchema):
    lines = fields.List(fields.Nested(OrderLineSchema))


# --- returns: requests ----------------------------------------------------------------------


class ReturnLineRequestSchema(Schema):
    order_line_id = fields.Integer(required=True, metadata={"description": "Our order line id."})
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))
    reason = fields.Enum(Reason, by_value=True, required=True)
    condition = fields.Enum(Condition, by_value=True, load_default=Condition.UNUSED)
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    exchange_sku = fields.String(
        load_default="",
        validate=validate.Length(max=255),
        metadata={
            "description": "With resolution exchange: the SKU of the other variant wanted "
            "(another size or colour of the same product, at the same price)."
        },
    )


class ReturnRequestSchema(Schema):
    order_id = fields.Integer(required=True, metadata={"description": "Our order id."})
    lines = fields.List(
        fields.Nested(ReturnLineRequestSchema),
        required=True,
        validate=validate.Length(min=1, error="a return needs at least one line"),
    )
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    buyer_address = fields.Nested(
        AddressSchema,
        load_default=None,
        metadata={"description": "Where the goods come from, when not the order's address."},
    )
    resolution = fields.String(
        load_default="refund",
        validate=validate.OneOf(RESOLUTIONS),
        metadata={
            "description": "What the buyer wants back: a refund, store credit (with any "
            "bonus the policy gives), or an exchange for another variant (each line's "
            "exchange_sku), where the policy allows it; otherwise a refund."
        },
    )


class ReturnQuerySchema(Schema):
    status = QueryList(
        fields.Enum(Status, by_value=True),
        metadata={"description": "Repeat the parameter or give a comma-separated list."},
    )
    store_id = fields.Integer()
    order_id = fields.Integer()
    rma = fields.String()
    reason = fields.Enum(Reason, by_value=True, metadata={"description": "Any line's reason."})
    country = fields.String(
        validate=COUNTRY,
        metadata={"description": "The buyer's country, or the order's shipping country."},
    )
    created_after = fields.AwareDateTime(default_timezone=UTC)
    created_before = fields.AwareDateTime(default_timezone=UTC)
    review_queue = fields.String()


class ReceiveSchema(Schema):
    weight_g = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class OwnShipmentSchema(Schema):
    carrier = fields.String(
        required=True,
        validate=validate.Length(1, 40),
        metadata={"description": "The carrier the buyer used, e.g. usps, royal_mail."},
    )
    tracking_number = fields.String(required=True, validate=validate.Length(1, 100))
    postage = fields.Nested(
        AmountSchema,
        required=True,
        metadata={"description": "What the buyer paid, in the order's currency."},
    )


class LineGradeSchema(Schema):
    line_id = fields.Integer(required=True, metadata={"description": "The return line's id."})
    grade = fields.String(required=True, validate=validate.OneOf(GRADES))


class GradeSchema(Schema):
    grades = fields.List(
        fields.Nested(LineGradeSchema), required=True, validate=validate.Length(min=1)
    )
    note = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _each_line_once(self, data: dict[str, Any], **_: Any) -> None:
        line_ids = [grade["line_id"] for grade in data.get("grades", [])]
        if len(line_ids) != len(set(line_ids)):
            raise ValidationError("each line is graded once", field_name="grades")


class CancelSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class SettleRefundSchema(Schema):
    made = fields.Boolean(
        required=True,
        metadata={"description": "Whether the platform made the refund, as a person found."},
    )
    note = fields.String(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "What was found; it goes into the return's ledger."},
    )


class ReviewSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "decline"]))
    note = fields.String(
        required=True,
        validate=validate.Length(1, 2000),
        metadata={"description": "Why; it goes into the return's ledger."},
    )


# --- returns: what they are -----------------------------------------------------------------


class ReturnLineSchema(Schema):
    id = fields.Integer()
    order_line_id = fields.Integer()
    sku = fields.String(attribute="order_line.sku")
    title = fields.String(attribute="order_line.title")
    quantity = fields.Integer()
    reason = fields.String()
    condition = fields.String()
    note = fields.String()
    outcome = fields.String(
        metadata={"description": "approve, decline or review; empty until decided."}
    )
    decision_reason = fields.String()
    grade = fields.String(metadata={"description": "Set at inspection."})
    exchange_sku = fields.String(
        metadata={"description": "The variant wanted in exchange; empty unless an exchange."}
    )


class ReturnSchema(Schema):
    id = fields.Integer()
    rma = fields.String()
    status = fields.String(metadata={"enum": [status.value for status in Status]})
    source = fields.String(metadata={"description": "platform, api or portal."})
    store_id = fields.Integer()
    order_id = fields.Integer()
    order_number = fields.String(attribute="order.number")
    external_id = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    refunded_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    review_queue = fields.String()
    refund_trigger = fields.String()
    returnless = fields.Boolean()
    resolution = fields.String(metadata={"enum": list(RESOLUTIONS)})
    buyer_country = fields.Function(_buyer_country, metadata={"type": "string"})
    note = fields.String()
    lines = fields.List(fields.Nested(ReturnLineSchema))


class DecisionSchema(Schema):
    outcome = fields.String()
    actor = fields.String()
    policy_version = fields.Integer(allow_none=True)
    explanation = fields.String()
    lines = fields.List(fields.Dict())
    decided_at = fields.DateTime()


class ShipmentSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "label or dropoff."})
    carrier = fields.String()
    service = fields.String()
    tracking_number = fields.String()
    status = fields.String()
    price = MoneyField("price_minor")
    label_formats = fields.List(
        fields.String(),
        metadata={"description": "Download each at /api/v1/returns/{id}/label.{format}."},
    )
    label_urls = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Signed links that need no key, valid 30 days: for buyers."},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TrackingEventSchema(Schema):
    shipment_id = fields.Integer()
    status = fields.String()
    occurred_at = fields.DateTime()
    carrier_status = fields.String()
    description = fields.String()
    location = fields.String()


class RefundSchema(Schema):
    id = fields.Integer()
    sequence = fields.Integer()
    amount = MoneyField("amount_minor")
    status = fields.String(
        metadata={
            "description": "pending, issued, failed, or uncertain (the platform may or may not "
            "have made it: settle it with .../refund/settle once checked)."
        }
    )
    kind = fields.String(
        metadata={
            "description": "refund, store_credit, or exchange (the variants wanted are sent "
            "instead of money; its amount is zero)."
        }
    )
    trigger = fields.String()
    error = fields.String()
    created_at = fields.DateTime()
    issued_at = fields.DateTime(allow_none=True)


class LedgerEventSchema(Schema):
    seq = fields.Integer()
    kind = fields.String()
    payload = fields.Dict()
    actor = fields.String()
    occurred_at = fields.DateTime()
    hash = fields.String()


class ReturnDetailSchema(ReturnSchema):
    route = fields.Dict(
        allow_none=True,
        metadata={"description": "The routing decision as stored: options and their costs."},
    )
    decisions = fields.List(fields.Nested(DecisionSchema))
    shipments = fields.List(fields.Nested(ShipmentSchema))
    tracking_events = fields.List(fields.Nested(TrackingEventSchema))
    refunds = fields.List(fields.Nested(RefundSchema))
    ledger = fields.List(fields.Nested(LedgerEventSchema))
    ledger_verified = fields.Boolean(
        metadata={"description": "True when the ledger's hash chain is intact."}
    )


# --- API keys -------------------------------------------------------------------------------


class ApiKeySchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    prefix = fields.String(dump_only=True, metadata={"description": "Tells keys apart."})
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class NewApiKeySchema(ApiKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "Shown this once only."})
