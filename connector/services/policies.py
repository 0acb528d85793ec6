"""The merchant's current policy: the newest stored version, or the default one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from ..rules import DEFAULT_POLICY, Policy, parse_policy


def current(session: Session, merchant_id: int) -> tuple[Policy, int | None]:
    row = session.scalar(
        select(models.Policy)
        .where(models.Policy.merchant_id == merchant_id)
        .order_by(models.Policy.version.desc())
        .limit(1)
    )
    if row is None:
        return DEFAULT_POLICY, None
    return parse_policy(row.document), row.version


def save(session: Session, merchant_id: int, document: dict[str, object]) -> models.Policy:
    parse_policy(document)  # refuse what cannot be applied, before it is stored
    _, version = current(session, merchant_id)
    row = models.Policy(merchant_id=merchant_id, version=(version or 0) + 1, document=document)
    session.add(row)
    session.flush()
    return row
