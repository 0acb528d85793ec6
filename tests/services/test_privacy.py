"""Data protection, as the platforms' compliance deliveries ask it: a customer's data handed
over, a customer's or a whole shop's personal data erased with the aggregates kept, and an
uninstall that forgets the tokens."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, inspect, select, text

from connector.db import models
from connector.ports import ParsedEvent
from connector.services import intake
from tests.services.test_refunds import _shipped_return


def _inbound(ctx: dict[str, Any], topic: str, payload: dict[str, Any]) -> int:
    """A delivery as the webhook endpoint stores it."""
    with ctx["runtime"].db.transaction() as session:
        row = models.InboundEvent(
            source="sandbox",
            store_id=ctx["setup"].store_id,
            event_id=str(uuid.uuid4()),
            topic=topic,
            headers={"X-Sandbox-Topic": topic},
            body=json.dumps(payload),
        )
        session.add(row)
        session.flush()
        return row.id


def _apply(ctx: dict[str, Any], kind: str, **details: Any) -> None:
    runtime = ctx["runtime"]
    inbound_id = _inbound(ctx, kind, details)
    reading = intake.Reading(ParsedEvent(kind, details=details))
    with runtime.db.transaction() as session:
        intake.apply_inbound(
            session, inbound_id, reading, intake.Keepers(runtime.files, runtime.vault)
        )


def _customer_of(ctx: dict[str, Any], return_id: int) -> dict[str, Any]:
    with ctx["runtime"].db.session() as session:
        return_ = session.get(models.Return, return_id)
        order, customer = return_.order, return_.order.customer
        labels = session.scalars(
            select(models.LabelFile.path)
            .join(models.Shipment)
            .where(models.Shipment.return_id == return_id)
        ).all()
        return {
            "external_id": customer.external_id,
            "email": customer.email,
            "name": customer.name,
            "order": order.external_id,
            "street": order.shipping_address["line1"],
            "postal_code": order.shipping_address["postal_code"],
            "country": order.shipping_address["country"],
            "labels": list(labels),
        }


def _database_text(ctx: dict[str, Any]) -> str:
    """Every row of every table, as text: where personal data would show if it remained."""
    engine = ctx["runtime"].db.engine
    chunks = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            if table == "alembic_version":
                continue
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(f"{table}: {tuple(row)}")
    return "\n".join(chunks)


def test_a_customer_data_request_gives_the_merchant_an_export(ctx, client):
    return_id = _shipped_return(ctx)
    who = _customer_of(ctx, return_id)

    _apply(
        ctx,
        "customer_data_request",
        customer_external_id=who["external_id"],
        email=who["email"],
        order_external_ids=[who["order"]],
        request_id="dr-9001",
    )

    with ctx["runtime"].db.session() as session:
        request = session.scalars(select(models.PrivacyRequest)).one()
        export = json.loads(ctx["runtime"].files.read(request.export_path))
    assert (request.kind, request.reference) == ("data_request", "dr-9001")
    assert request.summary["orders"] >= 1
    assert export["customers"][0]["email"] == who["email"]
    [order] = [o for o in export["orders"] if o["external_id"] == who["order"]]
    assert order["shipping_address"]["line1"] == who["street"]
    assert order["returns"][0]["shipments"][0]["tracking_number"]

    key = _merchant_key(ctx)
    listed = client.get("/api/v1/privacy-requests", headers=key).json
    assert [(r["kind"], r["export_ready"]) for r in listed] == [("data_request", True)]
    download = client.get(f"/api/v1/privacy-requests/{listed[0]['id']}/export.json", headers=key)
    assert download.status_code == 200
    assert json.loads(download.data) == export


def test_redacting_a_customer_leaves_nothing_personal_and_keeps_the_aggregates(ctx):
    runtime = ctx["runtime"]
    return_id = _shipped_return(ctx)
    who = _customer_of(ctx, return_id)
    assert who["labels"], "the return travels on a label that prints the buyer's address"
    _inbound(ctx, "orders/updated", {"email": who["email"], "id": who["order"]})
    with runtime.db.session() as session:
        counts_before = _counts(session)
    assert who["email"] in _database_text(ctx)

    _apply(
        ctx,
        "customer_redact",
        customer_external_id=who["external_id"],
        email=who["email"],
        order_external_ids=[who["order"]],
        request_id="",
    )

    everything = _database_text(ctx)
    # a postal code is short enough to turn up inside a timestamp or a hash: look for it as
    # an address field, in a stored dict or a stored JSON body
    postal = who["postal_code"]
    for personal in (
        who["email"],
        who["name"],
        who["street"],
        f"'postal_code': '{postal}'",
        f'"postal_code": "{postal}"',
        f'"zip": "{postal}"',
    ):
        assert personal not in everything, f"{personal!r} is still stored"
    for path in who["labels"]:
        assert not runtime.files.path(path).exists()
    with runtime.db.session() as session:
        assert _counts(session) == counts_before
        return_ = session.get(models.Return, return_id)
        assert return_.order.shipping_address == {"country": who["country"]}
        assert return_.status == "AWAITING_SHIPMENT"
        request = session.scalars(select(models.PrivacyRequest)).one()
    assert request.kind == "customer_redact" and request.subject == {}
    assert request.summary["files"] == len(who["labels"])


def test_redacting_the_shop_erases_every_customer_and_forgets_its_tokens(ctx):
    runtime = ctx["runtime"]
    return_id = _shipped_return(ctx)
    who = _customer_of(ctx, return_id)
    with runtime.db.session() as session:
        counts_before = _counts(session)
        emails = [e for e in session.scalars(select(models.Customer.email)) if e]
    assert len(emails) > 1

    _apply(ctx, "shop_redact", request_id="")

    everything = _database_text(ctx)
    for email in emails:
        assert email not in everything
    assert who["street"] not in everything
    with runtime.db.session() as session:
        assert _counts(session) == counts_before
        store = session.get(models.Store, ctx["setup"].store_id)
        assert store.status == "uninstalled"
        secrets = runtime.vault.open(store.credentials)
    assert set(secrets) <= {"webhook_secret", "previous_webhook_secret"}


def test_an_uninstalled_store_keeps_only_its_webhook_secret_and_ignores_business(ctx):
    runtime = ctx["runtime"]
    with runtime.db.transaction() as session:
        store = session.get(models.Store, ctx["setup"].store_id)
        secrets = runtime.vault.open(store.credentials)
        store.credentials = runtime.vault.seal({**secrets, "access_token": "shpat_live"})

    _apply(ctx, "uninstalled")

    with runtime.db.session() as session:
        store = session.get(models.Store, ctx["setup"].store_id)
        assert store.status == "uninstalled"
        assert runtime.vault.open(store.credentials) == {
            "webhook_secret": secrets["webhook_secret"]
        }
        orders_before = session.scalar(select(func.count()).select_from(models.Order))
    # a delivery about ordinary business, arriving after the uninstall, changes nothing
    inbound_id = _inbound(ctx, "orders/create", {"id": "ignored-after-uninstall"})
    with runtime.db.transaction() as session:
        follow_ups = intake.apply_inbound(
            session,
            inbound_id,
            intake.Reading(ParsedEvent("return_update", return_external_id="x")),
            intake.Keepers(runtime.files, runtime.vault),
        )
    assert follow_ups == []
    with runtime.db.session() as session:
        assert session.get(models.InboundEvent, inbound_id).status == "processed"
        assert session.scalar(select(func.count()).select_from(models.Order)) == orders_before


def _counts(session: Any) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (models.Order, models.Return, models.Refund, models.Shipment)
    }


def _merchant_key(ctx: dict[str, Any]) -> dict[str, str]:
    from connector.services import merchants

    with ctx["runtime"].db.transaction() as session:
        merchant = session.get(models.Merchant, ctx["setup"].merchant_id)
        _, key = merchants.create_api_key(session, merchant, name="privacy test")
    return {"Authorization": f"Bearer {key}"}
