"""Rows ⇄ domain objects: the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..domain import Address, Condition, Customer, Money, Order, OrderLine, Reason
from ..domain import ReturnLine as DomainReturnLine
from ..domain import ReturnRequest as DomainReturnRequest
from . import models


def address_to_dict(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "phone": address.phone,
        "email": address.email,
    }


def address_from_dict(data: dict[str, Any]) -> Address:
    return Address(
        name=data.get("name", ""),
        line1=data.get("line1", ""),
        line2=data.get("line2", ""),
        city=data.get("city", ""),
        region=data.get("region", ""),
        postal_code=data.get("postal_code", ""),
        country=data["country"],
        phone=data.get("phone", ""),
        email=data.get("email", ""),
    )


def order_line_from_row(row: models.OrderLine) -> OrderLine:
    dims = row.dimensions_mm or [200, 150, 50]
    return OrderLine(
        external_id=row.external_id,
        sku=row.sku,
        title=row.title,
        quantity=row.quantity,
        unit_price=Money.from_minor(row.unit_price_minor, row.currency),
        weight_kg=Decimal(row.weight_g) / 1000,
        dimensions_cm=(Decimal(dims[0]) / 10, Decimal(dims[1]) / 10, Decimal(dims[2]) / 10),
        hs_code=row.hs_code,
        origin_country=row.origin_country,
        tags=tuple(row.tags or ()),
        delivered_at=row.delivered_at,
    )


def order_from_row(row: models.Order) -> Order:
    customer = row.customer
    return Order(
        external_id=row.external_id,
        number=row.number,
        currency=row.currency,
        placed_at=row.placed_at,
        customer=Customer(
            external_id=customer.external_id if customer else "",
            email=customer.email if customer else "",
            name=customer.name if customer else "",
            locale=customer.locale if customer else "en",
        ),
        shipping_address=address_from_dict(row.shipping_address),
        lines=tuple(order_line_from_row(line) for line in row.lines),
        total=Money.from_minor(row.total_minor, row.currency),
        delivered_at=row.delivered_at,
        tags=tuple(row.tags or ()),
        shipped_from=row.shipped_from,
        export_reference=row.export_reference,
    )


def return_request_from_row(
    row: models.Return, photos: Mapping[int | None, int] | None = None
) -> DomainReturnRequest:
    """The canonical request of a stored return; ``photos`` counts each line's photos (by
    return line id), which the policy's photo rules read."""
    photos = photos or {}
    return DomainReturnRequest(
        order_external_id=row.order.external_id,
        external_id=row.external_id or "",
        requested_at=row.requested_at,
        buyer_address=address_from_dict(row.buyer_address) if row.buyer_address else None,
        note=row.note,
        resolution=row.resolution,
        lines=tuple(
            DomainReturnLine(
                order_line_external_id=line.order_line.external_id,
                quantity=line.quantity,
                reason=Reason(line.reason),
                condition=Condition(line.condition),
                note=line.note,
                external_id=line.external_id,
                photo_count=photos.get(line.id, 0),
            )
            for line in row.lines
        ),
    )
