"""Finding a buyer's order, and remembering it for the pages that follow.

An order is found by its number together with the buyer's email address or the postal code it
was shipped to; anything else finds nothing, and the caller says so with one message whatever
was wrong. The order found is kept in the signed session cookie for ``OPEN_FOR`` seconds.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

from flask import session
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ...db import models
from ...services.intake import returned_quantities

OPEN_FOR = 3600
_KEY = "portal"
_SPACE = re.compile(r"[\s\-]+")


def normalise_number(number: str) -> str:
    """``#1001``, `` 1001 `` and ``1001`` are the same order number."""
    return number.strip().lstrip("#").strip()


def find_order(
    session_: Session, merchant_id: int, number: str, contact: str
) -> models.Order | None:
    """The merchant's order with this number whose buyer has this email address or whose
    parcel went to this postal code; None for any other combination."""
    number = normalise_number(number)
    contact = contact.strip()
    if not number or not contact:
        return None
    orders = session_.scalars(
        select(models.Order).where(
            models.Order.merchant_id == merchant_id,
            or_(models.Order.number == number, models.Order.number == f"#{number}"),
        )
    ).all()
    for order in orders:
        if _belongs_to(order, contact):
            return order
    return None


def _belongs_to(order: models.Order, contact: str) -> bool:
    if "@" in contact:
        given = contact.casefold()
        known = [
            order.customer.email if order.customer else "",
            order.shipping_address.get("email"),
        ]
        return any(hmac.compare_digest(given, str(e).casefold()) for e in known if e)
    postal = str(order.shipping_address.get("postal_code") or "")
    return bool(postal) and hmac.compare_digest(_postal(contact), _postal(postal))


def _postal(code: str) -> str:
    return _SPACE.sub("", code).upper()


def remember(slug: str, order_id: int) -> None:
    session[_KEY] = {"slug": slug, "order": order_id, "at": int(time.time())}


def remembered(slug: str) -> int | None:
    """The order this browser found at this merchant's portal, while it is still open."""
    found = session.get(_KEY)
    if not isinstance(found, dict) or found.get("slug") != slug:
        return None
    if time.time() - float(found.get("at", 0)) > OPEN_FOR:
        session.pop(_KEY, None)
        return None
    return int(found["order"])


@dataclass(frozen=True)
class Returnable:
    """An order line and how many of its units may still be returned."""

    line: models.OrderLine
    remaining: int


def returnable(session_: Session, order: models.Order) -> list[Returnable]:
    already = returned_quantities(session_, order)
    return [
        Returnable(line, line.quantity - already.get(line.id, 0))
        for line in order.lines
        if line.quantity - already.get(line.id, 0) > 0
    ]
