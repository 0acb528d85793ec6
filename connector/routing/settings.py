"""A merchant's routing settings: the numbers the expected-net-cost model runs on, as data.

Stored as one JSON document per merchant and read back through ``RoutingSettings.parse``,
which names the field at fault in every error. Anything left out takes the default below, so
an empty document is a working configuration::

    {
      "resale": {
        "by_condition": {"unused": "0.90", "opened": "0.75", "used": "0.40", "damaged": "0.05"},
        "reason_factor": {"DEFECTIVE": "0.20", "WRONG_ITEM": "0.90"}
      },
      "max_transit_days": 21,                        # slower options are not allowed
      "cost_per_day": {"amount": "0.50", "currency": "USD"},   # each day until the refund
      "label_validity_days": 30,                     # unused labels expire after this
      "returnless": "keep_item",                     # or "donate": how a returnless refund ends
      "keep_item_max_value": {"amount": "40", "currency": "USD"},  # null: any value
      "own_shipment_cap": {"amount": "15", "currency": "USD"},     # null: not offered
      "own_shipment_days": 10                        # transit assumed for a buyer's own parcel
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.money import Money, MoneyError
from ..domain.returns import Condition, Reason
from ..errors import ValidationError


@dataclass(frozen=True, slots=True)
class ResaleTable:
    """P(resale) by the item's condition, scaled by the reason it came back."""

    by_condition: Mapping[Condition, Decimal]
    reason_factor: Mapping[Reason, Decimal] = field(default_factory=dict)

    def probability(self, reason: Reason, condition: Condition) -> Decimal:
        base = self.by_condition.get(condition, Decimal(0))
        return base * self.reason_factor.get(reason, Decimal(1))

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {
            "by_condition": {c.value: str(p) for c, p in self.by_condition.items()},
            "reason_factor": {r.value: str(f) for r, f in self.reason_factor.items()},
        }


DEFAULT_RESALE_TABLE = ResaleTable(
    by_condition={
        Condition.UNUSED: Decimal("0.90"),
        Condition.OPENED: Decimal("0.75"),
        Condition.USED: Decimal("0.40"),
        Condition.DAMAGED: Decimal("0.05"),
    },
    reason_factor={
        Reason.DEFECTIVE: Decimal("0.20"),
        Reason.DAMAGED_IN_TRANSIT: Decimal("0.30"),
        Reason.NOT_AS_DESCRIBED: Decimal("0.80"),
        Reason.WRONG_ITEM: Decimal("0.90"),
    },
)

RETURNLESS_KINDS = ("keep_item", "donate")


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    resale: ResaleTable = DEFAULT_RESALE_TABLE
    max_transit_days: int | None = None
    cost_per_day: Money | None = None
    label_validity_days: int = 30
    returnless: str = "keep_item"
    keep_item_max_value: Money | None = None
    own_shipment_cap: Money | None = None
    own_shipment_days: int = 10

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> RoutingSettings:
        """Settings from their JSON document; ``ValidationError`` names the first bad field."""
        data = data or {}
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValidationError(unknown[0], "is not a routing setting")
        returnless = data.get("returnless", "keep_item")
        if returnless not in RETURNLESS_KINDS:
            raise ValidationError("returnless", f"expected one of {', '.join(RETURNLESS_KINDS)}")
        return cls(
            resale=_resale(data["resale"])
            if data.get("resale") is not None
            else DEFAULT_RESALE_TABLE,
            max_transit_days=_days(data, "max_transit_days", None),
            cost_per_day=_money(data, "cost_per_day"),
            label_validity_days=_days(data, "label_validity_days", 30) or 30,
            returnless=returnless,
            keep_item_max_value=_money(data, "keep_item_max_value"),
            own_shipment_cap=_money(data, "own_shipment_cap"),
            own_shipment_days=_days(data, "own_shipment_days", 10) or 10,
        )

    def as_dict(self) -> dict[str, Any]:
        def money(value: Money | None) -> dict[str, str] | None:
            return (
                None if value is None else {"amount": str(value.amount), "currency": value.currency}
            )

        return {
            "resale": self.resale.as_dict(),
            "max_transit_days": self.max_transit_days,
            "cost_per_day": money(self.cost_per_day),
            "label_validity_days": self.label_validity_days,
            "returnless": self.returnless,
            "keep_item_max_value": money(self.keep_item_max_value),
            "own_shipment_cap": money(self.own_shipment_cap),
            "own_shipment_days": self.own_shipment_days,
        }


def _days(data: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
        raise ValidationError(name, "expected a whole number of days from 1 to 365")
    return value


def _money(data: Mapping[str, Any], name: str) -> Money | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        amount = Money.of(str(value["amount"]), str(value["currency"]))
    except (KeyError, TypeError, MoneyError) as error:
        raise ValidationError(name, f"expected {{amount, currency}}: {error}") from None
    if amount.amount < 0:
        raise ValidationError(name, "must not be negative")
    return amount


def _share(value: Any, name: str) -> Decimal:
    try:
        share = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(name, "expected a number from 0 to 1") from None
    if not share.is_finite() or not 0 <= share <= 1:
        raise ValidationError(name, "expected a number from 0 to 1")
    return share


def _resale(data: Any) -> ResaleTable:
    if not isinstance(data, Mapping):
        raise ValidationError("resale", "expected {by_condition, reason_factor}")
    unknown = sorted(set(data) - {"by_condition", "reason_factor"})
    if unknown:
        raise ValidationError(f"resale.{unknown[0]}", "is not part of a resale table")
    conditions = data.get("by_condition", DEFAULT_RESALE_TABLE.as_dict()["by_condition"])
    reasons = data.get("reason_factor", {})
    if not isinstance(conditions, Mapping) or not isinstance(reasons, Mapping):
        raise ValidationError("resale", "expected objects of shares")
    by_condition: dict[Condition, Decimal] = {}
    for key, value in conditions.items():
        if key not in Condition.__members__.values():
            known = ", ".join(c.value for c in Condition)
            raise ValidationError(f"resale.by_condition.{key}", f"expected one of {known}")
        by_condition[Condition(key)] = _share(value, f"resale.by_condition.{key}")
    reason_factor: dict[Reason, Decimal] = {}
    for key, value in reasons.items():
        if key not in Reason.__members__.values():
            known = ", ".join(r.value for r in Reason)
            raise ValidationError(f"resale.reason_factor.{key}", f"expected one of {known}")
        reason_factor[Reason(key)] = _share(value, f"resale.reason_factor.{key}")
    return ResaleTable(by_condition, reason_factor)
