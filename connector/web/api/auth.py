"""Who is calling: every request to ``/api/v1`` carries ``Authorization: Bearer <key>``, and
every row it reads or changes belongs to that key's merchant.

A row of another merchant answers exactly like a row that does not exist (404), so ids leak
nothing about other tenants.
"""

from __future__ import annotations

from typing import NoReturn, TypeVar

from flask import g, request
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption
from webargs.flaskparser import abort

from ...db import models
from ...db.types import utcnow
from ...errors import NotFound
from ...runtime import current_runtime
from ...services import merchants
from .errors import translate_service_errors

SECURITY_SCHEME = "bearerAuth"

Owned = TypeVar(
    "Owned", models.Store, models.Order, models.Return, models.ApiKey, models.PrivacyRequest
)


def api_blueprint(name: str, url_prefix: str, description: str) -> Blueprint:
    """A blueprint of the versioned API: it needs a live key and speaks the services' errors."""
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix, description=description)
    blueprint.before_request(require_api_key)
    translate_service_errors(blueprint)
    return blueprint


def require_api_key() -> None:
    credentials = request.authorization
    if credentials is None or credentials.type != "bearer" or not credentials.token:
        _unauthorized("an API key is required: send the header Authorization: Bearer <key>")
    runtime = current_runtime()
    with runtime.db.session() as session:
        found = merchants.authenticate(session, credentials.token)
    if found is None:
        _unauthorized("the API key is not valid or has been revoked", invalid=True)
    merchant, key = found
    g.merchant_id = merchant.id
    g.actor = f"api:{key.name or merchant.name}"
    stale = key.last_used_at is None or key.last_used_at < utcnow() - merchants.TOUCH_EVERY
    if stale:
        with runtime.db.transaction() as session:
            merchants.touch_api_key(session, key.id)


def merchant_id() -> int:
    value: int = g.merchant_id
    return value


def actor() -> str:
    """How the ledger names the caller: ``api:<key name>``, or the merchant for unnamed keys."""
    value: str = g.actor
    return value


def owned(
    session: Session,
    model: type[Owned],
    row_id: int,
    what: str,
    *load: ORMOption,
    for_update: bool = False,
) -> Owned:
    """The caller's row of ``model``; ``NotFound`` when it is missing or someone else's.
    ``load`` names relationships to load with it, for dumping after the session closes."""
    query = select(model).where(model.id == row_id, model.merchant_id == merchant_id())
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query.options(*load))
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


def _unauthorized(message: str, invalid: bool = False) -> NoReturn:
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    abort(401, message=message, headers={"WWW-Authenticate": challenge})
