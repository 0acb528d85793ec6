"""What the policy would decide for a described request, storing nothing: the call the buyer
portal makes before a buyer submits, and the policy editor makes to try a document."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import request as http_request
from marshmallow import Schema, fields, validate

from ...domain import Condition, Reason
from ...domain.money import Money
from ...rules import Decision, evaluate, parse_policy
from ...rules.engine import LineFacts, RequestContext, RequestFacts
from ...rules.messages import locale_of
from ...runtime import current_runtime
from ...services import fx, policies
from .auth import api_blueprint, merchant_id
from .schemas import AmountSchema

blp = api_blueprint(
    "returns-preview", "/api/v1/returns", "What the policy decides, before anything is stored."
)


class CustomerSchema(Schema):
    returns_90d = fields.Integer(load_default=0, validate=validate.Range(0, 100_000))
    return_rate = fields.Decimal(load_default=Decimal(0), validate=validate.Range(0, 1))


class PreviewLineSchema(Schema):
    sku = fields.String(load_default="")
    tags = fields.List(fields.String(), load_default=list)
    category = fields.String(load_default="")
    unit_price = fields.Nested(AmountSchema, required=True)
    quantity = fields.Integer(load_default=1, validate=validate.Range(1, 10_000))
    reason = fields.String(
        load_default=Reason.OTHER.value, validate=validate.OneOf([r.value for r in Reason])
    )
    condition = fields.String(
        load_default=Condition.UNUSED.value,
        validate=validate.OneOf([c.value for c in Condition]),
    )
    photos = fields.Integer(load_default=0, validate=validate.Range(0, 100))
    ordered_at = fields.AwareDateTime(load_default=None, default_timezone=UTC)
    delivered_at = fields.AwareDateTime(load_default=None, default_timezone=UTC)


class PreviewRequestSchema(Schema):
    requested_at = fields.AwareDateTime(load_default=None, default_timezone=UTC)
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    platform = fields.String(load_default="")
    customer = fields.Nested(CustomerSchema, load_default=dict)
    risk_score = fields.Decimal(load_default=Decimal(0), validate=validate.Range(0, 100))
    order_total = fields.Nested(AmountSchema, load_default=None, allow_none=True)
    lines = fields.List(
        fields.Nested(PreviewLineSchema), required=True, validate=validate.Length(1, 100)
    )


class PreviewSchema(Schema):
    policy = fields.Dict(load_default=None, allow_none=True)
    request = fields.Nested(PreviewRequestSchema, required=True)
    locale = fields.String(load_default=None, allow_none=True)


@blp.post("/preview")
@blp.arguments(PreviewSchema)
@blp.response(200)
def preview(body: dict[str, Any]) -> dict[str, Any]:
    """The decision for a described request under the merchant's active policy, or under the
    inline ``policy`` given. Nothing is stored. Explanations come in ``locale`` (else the
    request's Accept-Language), English when that language has no catalogue."""
    with current_runtime().db.session() as session:
        if body["policy"] is not None:
            policy = parse_policy(body["policy"])
        else:
            policy, _ = policies.current(session, merchant_id())
        convert = fx.load(session).convert
    decision = evaluate(policy, _facts(body["request"]), convert)
    locale = locale_of(body["locale"] or http_request.accept_languages.best or "en")
    return _answer(decision, locale)


def _money(data: dict[str, Any] | None) -> Money | None:
    return Money.of(data["amount"], data["currency"]) if data else None


def _facts(data: dict[str, Any]) -> RequestFacts:
    asked = data["requested_at"] or datetime.now(UTC)
    customer = data["customer"] or {}
    context = RequestContext(
        platform=data["platform"],
        country=data["country"],
        customer_returns_90d=customer.get("returns_90d", 0),
        customer_return_rate=customer.get("return_rate", Decimal(0)),
        risk_score=data["risk_score"],
        order_total=_money(data["order_total"]),
    )
    lines = tuple(
        LineFacts(
            unit_price=Money.of(line["unit_price"]["amount"], line["unit_price"]["currency"]),
            quantity=line["quantity"],
            sku=line["sku"],
            tags=frozenset(line["tags"]),
            category=line["category"],
            reason=line["reason"],
            condition=line["condition"],
            photos=line["photos"],
            ordered_at=line["ordered_at"],
            delivered_at=line["delivered_at"],
            ref=str(index),
        )
        for index, line in enumerate(data["lines"])
    )
    return RequestFacts(asked.astimezone(UTC).date(), lines, context)


def _answer(decision: Decision, locale: str) -> dict[str, Any]:
    return {
        "outcome": decision.outcome.value,
        "policy_version": decision.policy_version,
        "refund_trigger": decision.refund_trigger.value,
        "lines": [
            {
                "decision": line.outcome.value,
                "reason": line.reason,
                "queue": line.queue,
                "rule_id": line.rule_id,
                "rule_ids": list(line.rule_ids),
                "returnless": line.returnless,
                "refund_trigger": line.refund_trigger.value,
                "window_days": line.window_days,
                "resolutions": [r.value for r in line.resolutions],
                "restocking_fee": (
                    {
                        "amount": str(line.restocking_fee.amount),
                        "currency": line.restocking_fee.currency,
                    }
                    if line.restocking_fee
                    else None
                ),
                "bonus_credit_percent": str(line.bonus_credit_percent),
                "statutory": line.statutory,
                "explanation": line.explain(locale),
            }
            for line in decision.lines
        ],
        "explanation": decision.explain(locale),
    }
