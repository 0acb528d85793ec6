"""A return being put together, before the buyer sends it.

The buyer's choices (items, quantities, reasons, conditions, note) live in the signed session
cookie; their photos, already checked and stripped of metadata, wait in Redis for ``KEEP_FOR``
seconds, so a buyer who leaves halfway leaves nothing behind for long. Sending the request
moves the photos into the file store (``services.photos.store_photo``) and ends the draft.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import session
from redis import Redis

KEEP_FOR = 2 * 3600
_KEY = "portal_draft"


@dataclass(frozen=True)
class DraftLine:
    line_id: int  # the order line's id
    quantity: int
    reason: str  # a canonical Reason value
    condition: str  # a canonical Condition value


@dataclass(frozen=True)
class DraftPhoto:
    line_id: int
    key: str  # where its bytes wait in Redis


@dataclass(frozen=True)
class Draft:
    order_id: int
    lines: tuple[DraftLine, ...]
    note: str = ""
    photos: tuple[DraftPhoto, ...] = ()

    def photos_of(self, line_id: int) -> int:
        return sum(1 for photo in self.photos if photo.line_id == line_id)


def keep_photo(redis: Redis, data: bytes) -> str:
    """Park a stripped photo until the request is sent; its key."""
    key = f"helloword:portal:photo:{secrets.token_urlsafe(16)}"
    redis.set(key, data, ex=KEEP_FOR)
    return key


def photo(redis: Redis, key: str) -> bytes | None:
    """A parked photo's bytes; None once it has expired."""
    data = redis.get(key)
    return bytes(data) if isinstance(data, bytes) else None


def save(redis: Redis, draft: Draft) -> None:
    """Make ``draft`` the browser's draft, dropping the photos of the one it replaces."""
    previous = load()
    if previous is not None:
        stale = {p.key for p in previous.photos} - {p.key for p in draft.photos}
        if stale:
            redis.delete(*stale)
    session[_KEY] = {
        "order": draft.order_id,
        "lines": [[d.line_id, d.quantity, d.reason, d.condition] for d in draft.lines],
        "note": draft.note,
        "photos": [[p.line_id, p.key] for p in draft.photos],
    }


def load(order_id: int | None = None) -> Draft | None:
    """The browser's draft (for ``order_id`` when given)."""
    data = session.get(_KEY)
    if not isinstance(data, dict) or (order_id is not None and data.get("order") != order_id):
        return None
    return Draft(
        order_id=int(data["order"]),
        lines=tuple(DraftLine(int(a), int(b), str(c), str(d)) for a, b, c, d in data["lines"]),
        note=str(data.get("note", "")),
        photos=tuple(DraftPhoto(int(a), str(b)) for a, b in data.get("photos", [])),
    )


def discard(redis: Redis) -> None:
    draft = load()
    if draft is not None and draft.photos:
        redis.delete(*(p.key for p in draft.photos))
    session.pop(_KEY, None)
