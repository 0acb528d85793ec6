"""The merchant's policy: the active version, saving a new one, the facts a decision needs
beyond the request, and simulating a candidate over past returns."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import models
from ..db.mapping import order_from_row, return_request_from_row
from ..db.types import utcnow
from ..rules import DEFAULT_POLICY, Policy, decide, parse_policy
from ..rules.engine import RequestContext
from . import fx, photos


def latest(session: Session, merchant_id: int) -> models.Policy | None:
    return session.scalar(
        select(models.Policy)
        .where(models.Policy.merchant_id == merchant_id)
        .order_by(models.Policy.version.desc())
        .limit(1)
    )


def current(session: Session, merchant_id: int) -> tuple[Policy, int | None]:
    """The active policy, compiled (once per version: the engine caches it), and its version."""
    row = latest(session, merchant_id)
    if row is None:
        return DEFAULT_POLICY, None
    return parse_policy(row.document, row.version), row.version


def save(
    session: Session, merchant_id: int, document: dict[str, Any], saved_by: str = ""
) -> models.Policy:
    """Store the document as the next version; a document with errors raises ``PolicyError``
    naming every one, and nothing is stored."""
    parse_policy(document)
    # two saves at once wait for each other instead of both taking the same version number
    session.execute(
        select(models.Merchant.id).where(models.Merchant.id == merchant_id).with_for_update()
    )
    row = latest(session, merchant_id)
    saved = models.Policy(
        merchant_id=merchant_id,
        version=(row.version if row else 0) + 1,
        document=document,
        saved_by=saved_by,
    )
    session.add(saved)
    session.flush()
    return saved


def context_for(session: Session, return_: models.Return) -> RequestContext:
    """What the policy may ask beyond the request: the platform, and the customer's history
    (returns in the 90 days before this one, and returns per order)."""
    platform = session.scalar(
        select(models.Store.platform).where(models.Store.id == return_.store_id)
    )
    customer_id = return_.order.customer_id
    returns_90d, rate = 0, Decimal(0)
    if customer_id is not None:
        since = return_.requested_at - timedelta(days=90)
        returns_90d = (
            session.scalar(
                select(func.count(models.Return.id))
                .join(models.Order, models.Return.order_id == models.Order.id)
                .where(
                    models.Order.customer_id == customer_id,
                    models.Return.id != return_.id,
                    models.Return.requested_at >= since,
                    models.Return.requested_at <= return_.requested_at,
                )
            )
            or 0
        )
        orders = session.scalar(
            select(func.count(models.Order.id)).where(models.Order.customer_id == customer_id)
        )
        returned = session.scalar(
            select(func.count(func.distinct(models.Return.order_id)))
            .join(models.Order, models.Return.order_id == models.Order.id)
            .where(models.Order.customer_id == customer_id)
        )
        if orders:
            rate = (Decimal(returned or 0) / Decimal(orders)).quantize(Decimal("0.0001"))
    return RequestContext(
        platform=platform or "", customer_returns_90d=returns_90d, customer_return_rate=rate
    )


def _what_counts(line: Any) -> tuple[Any, ...]:
    """What a buyer or the money would notice of a line's decision."""
    return (
        line.outcome,
        line.reason,
        line.queue,
        line.returnless,
        line.refund_trigger,
        line.resolutions,
        line.restocking_fee,
        line.bonus_credit_percent,
    )


def simulate(
    session: Session,
    merchant_id: int,
    document: dict[str, Any],
    days: int,
    *,
    examples: int = 5,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Decide the returns of the last ``days`` days with the candidate and with the active
    policy, each as of the day the buyer asked, and report what would change."""
    candidate = parse_policy(document)
    active, version = current(session, merchant_id)
    convert = fx.load(session).convert
    since = (now or utcnow()) - timedelta(days=days)
    returns = session.scalars(
        select(models.Return)
        .where(models.Return.merchant_id == merchant_id, models.Return.requested_at >= since)
        .order_by(models.Return.id)
    ).all()
    changed, lines_changed = 0, 0
    by_rule: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    shown: list[dict[str, Any]] = []
    for return_ in returns:
        request = return_request_from_row(return_, photos.photo_counts(session, return_.id))
        order = order_from_row(return_.order)
        context = context_for(session, return_)
        day = return_.requested_at.astimezone(UTC).date()
        before = decide(request, order, active, day, convert, context)
        after = decide(request, order, candidate, day, convert, context)
        differing = [
            (old, new)
            for old, new in zip(before.lines, after.lines, strict=True)
            if _what_counts(old) != _what_counts(new)
        ]
        if not differing:
            continue
        changed += 1
        lines_changed += len(differing)
        outcomes[f"{before.outcome.value}->{after.outcome.value}"] += 1
        for old, new in differing:
            by_rule[new.rule_id or old.rule_id or "(defaults)"] += 1
        if len(shown) < examples:
            shown.append(
                {
                    "return_id": return_.id,
                    "rma": return_.rma,
                    "before": before.outcome.value,
                    "after": after.outcome.value,
                    "lines": [
                        {
                            "line": new.order_line_external_id,
                            "before": old.outcome.value,
                            "after": new.outcome.value,
                            "rule_id": new.rule_id,
                            "explanation": new.explanation,
                        }
                        for old, new in differing
                    ],
                }
            )
    return {
        "days": days,
        "active_version": version,
        "returns": len(returns),
        "changed": changed,
        "unchanged": len(returns) - changed,
        "lines_changed": lines_changed,
        "by_rule": dict(by_rule.most_common()),
        "by_outcome": dict(outcomes.most_common()),
        "examples": shown,
    }
