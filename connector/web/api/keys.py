"""The merchant's API keys. A key is shown once, when it is made; only its digest is kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ...db import models
from ...runtime import current_runtime
from ...services import merchants
from .auth import api_blueprint, merchant_id
from .schemas import ApiKeySchema, NewApiKeySchema, RowWith

blp = api_blueprint("api-keys", "/api/v1/api-keys", "Keys for the API; each acts for the merchant.")


@blp.get("")
@blp.response(200, ApiKeySchema(many=True))
def list_keys() -> list[models.ApiKey]:
    """List the merchant's keys, revoked ones included."""
    with current_runtime().db.session() as session:
        return list(
            session.scalars(
                select(models.ApiKey)
                .where(models.ApiKey.merchant_id == merchant_id())
                .order_by(models.ApiKey.id)
            )
        )


@blp.post("")
@blp.arguments(ApiKeySchema)
@blp.response(201, NewApiKeySchema)
def create_key(body: dict[str, Any]) -> RowWith:
    """Make a key. The answer holds the key itself, which is never shown again."""
    with current_runtime().db.transaction() as session:
        merchant = session.get_one(models.Merchant, merchant_id())
        row, key = merchants.create_api_key(session, merchant, body["name"])
    return RowWith(row, key=key)


@blp.delete("/<int:key_id>")
@blp.response(204)
def revoke_key(key_id: int) -> None:
    """Revoke a key; requests made with it are refused from now on."""
    with current_runtime().db.transaction() as session:
        merchant = session.get_one(models.Merchant, merchant_id())
        merchants.revoke_api_key(session, merchant, key_id)
