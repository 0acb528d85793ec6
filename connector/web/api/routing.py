"""The way back for a described return, priced and chosen, storing nothing: every option
with each component of its expected net cost, so a person can check the arithmetic."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate

from ...domain import Condition, Money, Reason
from ...routing import Item
from ...runtime import current_runtime
from ...services.destinations import routing_settings, save_routing_settings
from ...services.logistics import Goods, parcel_of, route_goods
from .auth import api_blueprint, merchant_id
from .schemas import AmountSchema

blp = api_blueprint("routing", "/api/v1/routing", "The cheapest sound way back, explained.")


class BuyerAddressSchema(Schema):
    name = fields.String(load_default="")
    line1 = fields.String(load_default="")
    line2 = fields.String(load_default="")
    city = fields.String(load_default="")
    region = fields.String(load_default="")
    postal_code = fields.String(load_default="")
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))


class RoutingLineSchema(Schema):
    unit_price = fields.Nested(AmountSchema, required=True)
    quantity = fields.Integer(load_default=1, validate=validate.Range(1, 1000))
    reason = fields.String(
        load_default=Reason.OTHER.value, validate=validate.OneOf([r.value for r in Reason])
    )
    condition = fields.String(
        load_default=Condition.UNUSED.value,
        validate=validate.OneOf([c.value for c in Condition]),
    )
    weight_kg = fields.Decimal(load_default=Decimal("0.5"), validate=validate.Range(0.001, 1000))
    dimensions_cm = fields.List(
        fields.Decimal(validate=validate.Range(0.1, 500)),
        load_default=lambda: [Decimal(20), Decimal(15), Decimal(5)],
        validate=validate.Length(equal=3),
    )
    hs_code = fields.String(load_default="", validate=validate.Regexp(r"^[0-9.]{0,14}$"))
    origin_country = fields.String(load_default="", validate=validate.Regexp(r"^([A-Z]{2})?$"))
    export_reference = fields.String(load_default="", validate=validate.Length(max=100))


class RoutingPreviewSchema(Schema):
    buyer_address = fields.Nested(BuyerAddressSchema, required=True)
    lines = fields.List(
        fields.Nested(RoutingLineSchema), required=True, validate=validate.Length(1, 100)
    )
    cost_per_day = fields.Nested(
        AmountSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "Overrides the merchant's setting for this preview."},
    )
    max_transit_days = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(1),
        metadata={"description": "Overrides the merchant's setting for this preview."},
    )


class RoutingSettingsSchema(Schema):
    """The merchant's routing settings document; anything left out takes its default."""

    resale = fields.Dict(
        allow_none=True,
        metadata={
            "description": "P(resale): by_condition {unused, opened, used, damaged} and "
            "reason_factor {REASON: share}, each a number from 0 to 1.",
        },
    )
    max_transit_days = fields.Raw(allow_none=True)
    cost_per_day = fields.Raw(allow_none=True)
    label_validity_days = fields.Raw()
    returnless = fields.String(metadata={"description": "keep_item or donate"})
    keep_item_max_value = fields.Raw(allow_none=True)
    own_shipment_cap = fields.Raw(allow_none=True)
    own_shipment_days = fields.Raw()


@blp.post("/preview")
@blp.arguments(RoutingPreviewSchema)
@blp.response(200)
def preview(body: dict[str, Any]) -> dict[str, Any]:
    """Quote the merchant's carriers to each destination that serves the buyer, price every
    option (``net_cost = shipping + handling + duties + time_cost - recovery``) in the
    merchant's currency, and choose the cheapest allowed one. Nothing is stored."""
    runtime = current_runtime()
    lines = body["lines"]
    currency = lines[0]["unit_price"]["currency"]
    value = Money.zero(currency)
    items = []
    for line in lines:
        price = Money.of(line["unit_price"]["amount"], line["unit_price"]["currency"])
        line_value = price * line["quantity"]
        if price.currency == currency:
            value = value + line_value
        items.append(
            Item(
                line_value,
                Reason(line["reason"]),
                Condition(line["condition"]),
                exported_from=line["origin_country"],
                export_reference=line["export_reference"],
            )
        )
    goods = Goods(
        items=tuple(items),
        parcel=parcel_of(
            [(line["weight_kg"], line["dimensions_cm"], line["quantity"]) for line in lines]
        ),
        declared_value=value,
        reference="preview",
    )

    def carrier_for(account: Any) -> Any:
        return runtime.carrier(account.carrier, account.name, account.credentials, account.settings)

    with runtime.db.session() as session:
        settings = routing_settings(session, merchant_id())
        if body["cost_per_day"]:
            cost = body["cost_per_day"]
            settings = replace(settings, cost_per_day=Money.of(cost["amount"], cost["currency"]))
        if body["max_transit_days"]:
            settings = replace(settings, max_transit_days=body["max_transit_days"])
        plan = route_goods(
            session,
            merchant_id(),
            body["buyer_address"],
            goods,
            carrier_for,
            settings=settings,
        )
    return {**plan.route.as_dict(), "notes": list(plan.notes)}


@blp.get("/settings")
@blp.response(200, RoutingSettingsSchema)
def get_settings() -> dict[str, Any]:
    """The numbers routing runs on: the resale-probability table, the time limit, the cost
    per day until the refund, label validity, and the returnless and own-shipment terms."""
    with current_runtime().db.session() as session:
        return routing_settings(session, merchant_id()).as_dict()


@blp.put("/settings")
@blp.arguments(RoutingSettingsSchema)
@blp.response(200, RoutingSettingsSchema)
def put_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Replace the routing settings; every field is checked and an error names the first
    one at fault. Fields left out take their defaults."""
    with current_runtime().db.transaction() as session:
        return save_routing_settings(session, merchant_id(), body).as_dict()
