"""Where the merchant's returns may go, and the carrier accounts that reach them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from ...db import models
from ...domain.money import Money
from ...runtime import current_runtime
from ...services import destinations as service
from .auth import api_blueprint, merchant_id

blp = api_blueprint(
    "destinations", "/api/v1/destinations", "Origin warehouses, overseas 3PLs and hubs."
)
carriers_blp = api_blueprint(
    "carrier-accounts", "/api/v1/carrier-accounts", "The merchant's accounts with carriers."
)


class DestinationAddressSchema(Schema):
    name = fields.String(load_default="")
    line1 = fields.String(load_default="")
    line2 = fields.String(load_default="")
    city = fields.String(load_default="")
    region = fields.String(load_default="")
    postal_code = fields.String(load_default="")
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))


class HandlingSchema(Schema):
    amount = fields.Decimal(required=True, as_string=True, validate=validate.Range(0, 10**6))
    currency = fields.String(required=True)


class DestinationSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,59}$"))
    name = fields.String(load_default="")
    kind = fields.String(required=True, validate=validate.OneOf(service.KINDS))
    address = fields.Nested(DestinationAddressSchema, required=True)
    countries = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z]{2}$")),
        load_default=list,
        metadata={"description": "Buyer countries it serves; empty: every country."},
    )
    handling = fields.Nested(HandlingSchema, required=True)
    resale_factor = fields.Decimal(as_string=True, required=True, validate=validate.Range(0, 2))
    duty_rate = fields.Decimal(as_string=True, load_default="0", validate=validate.Range(0, 1))
    grades = fields.Boolean(load_default=False)
    active = fields.Boolean(load_default=True)


class CarrierAccountSchema(Schema):
    id = fields.Integer(dump_only=True)
    carrier = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,59}$"))
    destination_id = fields.Integer(load_default=None, allow_none=True)
    settings = fields.Dict(keys=fields.String(), load_default=dict)
    secrets = fields.Dict(
        keys=fields.String(),
        load_only=True,
        load_default=dict,
        metadata={"description": "API keys and webhook secrets; encrypted, never returned."},
    )
    active = fields.Boolean(load_default=True)
    webhook_url = fields.String(dump_only=True)


def _dump(row: models.Destination) -> dict[str, Any]:
    handling = Money.from_minor(row.handling_minor, row.currency)
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "address": row.address,
        "countries": row.countries,
        "handling": {"amount": str(handling.amount), "currency": handling.currency},
        "resale_factor": row.resale_factor,
        "duty_rate": row.duty_rate,
        "grades": row.grades,
        "active": row.active,
    }


@blp.get("")
@blp.response(200, DestinationSchema(many=True))
def list_destinations() -> list[dict[str, Any]]:
    """Every destination of the merchant, inactive ones included."""
    with current_runtime().db.session() as session:
        rows = session.scalars(
            select(models.Destination)
            .where(models.Destination.merchant_id == merchant_id())
            .order_by(models.Destination.id)
        )
        return [_dump(row) for row in rows]


@blp.post("")
@blp.arguments(DestinationSchema)
@blp.response(201, DestinationSchema)
def put_destination(body: dict[str, Any]) -> dict[str, Any]:
    """Create a destination, or replace the one with the same code."""
    with current_runtime().db.transaction() as session:
        return _dump(service.upsert_destination(session, merchant_id(), body))


@blp.get("/<int:destination_id>")
@blp.response(200, DestinationSchema)
def get_destination(destination_id: int) -> dict[str, Any]:
    with current_runtime().db.session() as session:
        return _dump(service.destination(session, merchant_id(), destination_id))


@blp.delete("/<int:destination_id>")
@blp.response(204)
def retire_destination(destination_id: int) -> None:
    """Stop routing returns there; returns already on their way still arrive."""
    with current_runtime().db.transaction() as session:
        service.destination(session, merchant_id(), destination_id).active = False


def _dump_account(row: models.CarrierAccount) -> dict[str, Any]:
    public = current_runtime().settings.public_url
    return {
        "id": row.id,
        "carrier": row.carrier,
        "name": row.name,
        "destination_id": row.destination_id,
        "settings": row.settings,
        "active": row.active,
        "webhook_url": f"{public}/webhooks/carriers/{row.id}",
    }


@carriers_blp.get("")
@carriers_blp.response(200, CarrierAccountSchema(many=True))
def list_accounts() -> list[dict[str, Any]]:
    with current_runtime().db.session() as session:
        rows = session.scalars(
            select(models.CarrierAccount)
            .where(models.CarrierAccount.merchant_id == merchant_id())
            .order_by(models.CarrierAccount.id)
        )
        return [_dump_account(row) for row in rows]


@carriers_blp.post("")
@carriers_blp.arguments(CarrierAccountSchema)
@carriers_blp.response(201, CarrierAccountSchema)
def put_account(body: dict[str, Any]) -> dict[str, Any]:
    """Link a carrier account (or replace the one of the same name); its secrets are sealed
    at rest. The answer gives the URL to register for the carrier's tracking webhooks."""
    runtime = current_runtime()
    with runtime.db.transaction() as session:
        row = service.link_carrier(
            session, runtime.vault, merchant_id(), set(runtime.registry.carriers), body
        )
        return _dump_account(row)


@carriers_blp.delete("/<int:account_id>")
@carriers_blp.response(204)
def retire_account(account_id: int) -> None:
    from ...errors import NotFound

    with current_runtime().db.transaction() as session:
        row = session.get(models.CarrierAccount, account_id)
        if row is None or row.merchant_id != merchant_id():
            raise NotFound(f"carrier account {account_id} does not exist")
        row.active = False
