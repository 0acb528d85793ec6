"""The merchant's stores: a shop on a platform, with its credentials sealed at rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ...db import models
from ...errors import ValidationError
from ...runtime import current_runtime
from ...services import merchants
from .auth import api_blueprint, merchant_id, owned
from .schemas import StoreSchema

blp = api_blueprint("stores", "/api/v1/stores", "Stores on the platforms, linked to Helloword.")


@blp.get("")
@blp.response(200, StoreSchema(many=True))
def list_stores() -> list[models.Store]:
    """List the merchant's stores."""
    with current_runtime().db.session() as session:
        return list(
            session.scalars(
                select(models.Store)
                .where(models.Store.merchant_id == merchant_id())
                .order_by(models.Store.id)
            )
        )


@blp.post("")
@blp.arguments(StoreSchema)
@blp.response(201, StoreSchema)
def link_store(body: dict[str, Any]) -> models.Store:
    """Link a store on a platform.

    Linking the same store again replaces its name, secrets and settings.
    """
    runtime = current_runtime()
    if body["platform"] not in runtime.registry.platforms:
        known = ", ".join(sorted(runtime.registry.platforms)) or "none"
        raise ValidationError("platform", f"no platform {body['platform']!r} (known: {known})")
    with runtime.db.transaction() as session:
        merchant = session.get_one(models.Merchant, merchant_id())
        return merchants.link_store(
            session,
            runtime.vault,
            merchant,
            body["platform"],
            body["external_id"],
            name=body["name"],
            secrets=body["secrets"],
            settings=body["settings"],
        )


@blp.get("/<int:store_id>")
@blp.response(200, StoreSchema)
def get_store(store_id: int) -> models.Store:
    """Read a store."""
    with current_runtime().db.session() as session:
        return owned(session, models.Store, store_id, "store")
