"""The merchant's orders, as the platforms delivered them: read-only."""

from __future__ import annotations

from typing import Any

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ...db import models
from ...runtime import current_runtime
from .auth import api_blueprint, merchant_id, owned
from .schemas import OrderDetailSchema, OrderQuerySchema, OrderSchema

blp = api_blueprint("orders", "/api/v1/orders", "Orders from the linked stores.")


@blp.get("")
@blp.arguments(OrderQuerySchema, location="query")
@blp.response(200, OrderSchema(many=True))
@blp.paginate()
def list_orders(
    filters: dict[str, Any], pagination_parameters: PaginationParameters
) -> list[models.Order]:
    """List the merchant's orders, newest first."""
    query = _matching(filters)
    with current_runtime().db.session() as session:
        pagination_parameters.item_count = session.scalar(
            select(func.count()).select_from(query.subquery())
        )
        return list(
            session.scalars(
                query.options(selectinload(models.Order.customer))
                .order_by(models.Order.placed_at.desc(), models.Order.id.desc())
                .offset(pagination_parameters.first_item)
                .limit(pagination_parameters.page_size)
            )
        )


@blp.get("/<int:order_id>")
@blp.response(200, OrderDetailSchema)
def get_order(order_id: int) -> models.Order:
    """Read an order with its lines."""
    with current_runtime().db.session() as session:
        return owned(
            session,
            models.Order,
            order_id,
            "order",
            selectinload(models.Order.lines),
            selectinload(models.Order.customer),
        )


def _matching(filters: dict[str, Any]) -> Select[models.Order]:
    query = select(models.Order).where(models.Order.merchant_id == merchant_id())
    if "store_id" in filters:
        query = query.where(models.Order.store_id == filters["store_id"])
    if "number" in filters:
        query = query.where(models.Order.number == filters["number"])
    if "email" in filters:
        query = query.join(models.Customer, models.Order.customer_id == models.Customer.id).where(
            func.lower(models.Customer.email) == filters["email"].strip().lower()
        )
    return query
