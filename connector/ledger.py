"""A tamper-evident ledger per return: every state change appends an event whose hash covers
the previous event's hash and the event's canonical JSON.

``verify`` walks each return's chain and names the first event that was edited, deleted or
reordered. The return row keeps the head hash and the length, so even the removal of the
newest event shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import LedgerEvent, Return
from .db.types import canonical_json, utcnow

GENESIS = "0" * 64


def event_hash(
    prev_hash: str,
    return_id: int,
    seq: int,
    kind: str,
    payload: dict[str, Any],
    actor: str,
    occurred_at: datetime,
) -> str:
    body = canonical_json(
        {
            "return_id": return_id,
            "seq": seq,
            "kind": kind,
            "payload": payload,
            "actor": actor,
            "occurred_at": occurred_at.isoformat(),
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(
    session: Session,
    return_: Return,
    kind: str,
    payload: dict[str, Any] | None = None,
    actor: str = "system",
    occurred_at: datetime | None = None,
) -> LedgerEvent:
    """Append an event to the return's chain. The caller holds the return's row lock."""
    payload = json.loads(canonical_json(payload or {}))  # what is stored is what was hashed
    occurred = (occurred_at or utcnow()).astimezone(UTC).replace(microsecond=0)
    seq = return_.ledger_length + 1
    prev = return_.ledger_head or GENESIS
    digest = event_hash(prev, return_.id, seq, kind, payload, actor, occurred)
    event = LedgerEvent(
        return_id=return_.id,
        seq=seq,
        kind=kind,
        payload=payload,
        actor=actor,
        occurred_at=occurred,
        prev_hash=prev,
        hash=digest,
    )
    session.add(event)
    return_.ledger_head = digest
    return_.ledger_length = seq
    return event


@dataclass(frozen=True)
class Breach:
    return_id: int
    rma: str
    seq: int
    event_id: int | None
    problem: str  # edited | deleted | reordered | truncated

    def __str__(self) -> str:
        what = f"event #{self.seq}" + (f" (id {self.event_id})" if self.event_id else "")
        return f"return {self.rma or self.return_id}: {what} was {self.problem}"


def verify_return(return_: Return, events: list[LedgerEvent]) -> Breach | None:
    """The first breach in one return's chain, or None when it is intact."""
    rma = return_.rma or ""
    prev = GENESIS
    for position, event in enumerate(events, start=1):
        if event.seq != position:
            problem = "deleted" if event.seq > position else "reordered"
            return Breach(return_.id, rma, position, event.id, problem)
        if event.prev_hash != prev:
            return Breach(return_.id, rma, event.seq, event.id, "reordered")
        expected = event_hash(
            prev, return_.id, event.seq, event.kind, event.payload, event.actor, event.occurred_at
        )
        if expected != event.hash:
            return Breach(return_.id, rma, event.seq, event.id, "edited")
        prev = event.hash
    if len(events) < return_.ledger_length:
        return Breach(return_.id, rma, len(events) + 1, None, "deleted")
    if prev != (return_.ledger_head or GENESIS):
        return Breach(return_.id, rma, len(events), events[-1].id if events else None, "edited")
    return None


def verify_all(session: Session, batch: int = 500) -> Iterator[tuple[Return, Breach | None]]:
    """Every return with its first breach (or None), in id order, reading in batches."""
    last_id = 0
    while True:
        returns = session.scalars(
            select(Return).where(Return.id > last_id).order_by(Return.id).limit(batch)
        ).all()
        if not returns:
            return
        ids = [r.id for r in returns]
        events: dict[int, list[LedgerEvent]] = {i: [] for i in ids}
        for event in session.scalars(
            select(LedgerEvent)
            .where(LedgerEvent.return_id.in_(ids))
            .order_by(LedgerEvent.return_id, LedgerEvent.seq, LedgerEvent.id)
        ):
            events[event.return_id].append(event)
        for return_ in returns:
            yield return_, verify_return(return_, events[return_.id])
        last_id = ids[-1]
