"""The merchant's stores: a shop on a platform, with its credentials sealed at rest."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import select

from ...db import models
from ...errors import NothingToDo, ValidationError
from ...ports import LocationSource
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


class StoreSettingsSchema(Schema):
    settings = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={
            "description": "Keys to set (a null value removes the key), e.g. Shopify's "
            "location_id (where restocked goods go back) or notify_customer."
        },
    )


# progress Helloword itself keeps on the store, not the merchant's to set
RESERVED_SETTINGS = frozenset({"backfill", "webhooks"})


@blp.patch("/<int:store_id>/settings")
@blp.arguments(StoreSettingsSchema)
@blp.response(200, StoreSchema)
def update_settings(body: dict[str, Any], store_id: int) -> models.Store:
    """Change some of a store's settings, keeping its credentials and the rest."""
    reserved = sorted(RESERVED_SETTINGS & set(body["settings"]))
    if reserved:
        raise ValidationError(f"settings.{reserved[0]}", "is kept by Helloword, not set")
    with current_runtime().db.transaction() as session:
        store = owned(session, models.Store, store_id, "store", for_update=True)
        settings = dict(store.settings or {})
        for key, value in body["settings"].items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        store.settings = settings
        return store


class LocationSchema(Schema):
    id = fields.String()
    name = fields.String()
    country = fields.String()
    city = fields.String()


@blp.get("/<int:store_id>/locations")
@blp.response(200, LocationSchema(many=True))
def list_locations(store_id: int) -> list[dict[str, str]]:
    """The store's locations on its platform, to choose where restocked goods go back
    (``PATCH .../settings`` with ``location_id``). 422 for a platform without locations."""
    from ...jobs import store_platform

    runtime = current_runtime()
    with runtime.db.session() as session:
        owned(session, models.Store, store_id, "store")
    try:
        adapter, platform = store_platform(runtime, store_id)
    except NothingToDo:
        raise ValidationError("store", f"store {store_id} is not active") from None
    if not isinstance(adapter, LocationSource):
        raise ValidationError("platform", f"{platform} stores have no locations to choose from")
    return adapter.locations()
