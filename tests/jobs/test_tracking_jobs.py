"""Periodic logistics work: polling carriers for parcels on their way, and expiring returns
whose label went unused (voiding the label with its carrier)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import responses
from flask import Flask
from sqlalchemy import select, update

from connector import jobs
from connector.db import models
from connector.db.types import utcnow
from tests.services.test_refunds import drain
from tests.web.test_carrier_webhooks import shipped  # noqa: F401 (a fixture)

TRACKERS = Path(__file__).parent.parent / "fixtures" / "easypost" / "trackers_list.json"


def _age_shipments(app: Flask, **values: Any) -> None:
    with app.extensions["helloword"].db.transaction() as session:
        session.execute(update(models.Shipment).values(**values))


def _ledger(app: Flask, return_id: int) -> list[str]:
    with app.extensions["helloword"].db.session() as session:
        return list(
            session.scalars(
                select(models.LedgerEvent.kind)
                .where(models.LedgerEvent.return_id == return_id)
                .order_by(models.LedgerEvent.seq)
            )
        )


@responses.activate
def test_polling_brings_in_the_scans_a_webhook_would_have(
    app: Flask,
    shipped: dict[str, Any],  # noqa: F811
) -> None:
    responses.get(
        re.compile(r"https://api\.easypost\.com/v2/trackers.*"),
        body=TRACKERS.read_text(),
        content_type="application/json",
    )
    _age_shipments(app, account="easypost-main", updated_at=utcnow() - timedelta(hours=1))
    with app.app_context():
        assert jobs.poll_tracking() == {"polled": 1}
        drain(app)
        assert jobs.poll_tracking() == {"polled": 0}  # asked just now, and delivered
    with app.extensions["helloword"].db.session() as session:
        return_ = session.get(models.Return, shipped["return_id"])
        assert return_.status == "RECEIVED"


def test_a_label_unused_past_its_validity_expires_and_is_voided(
    app: Flask,
    shipped: dict[str, Any],  # noqa: F811
) -> None:
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        session.execute(update(models.Return).values(updated_at=utcnow() - timedelta(days=31)))
        session.execute(
            update(models.CarrierAccount).values(carrier="ratecard", settings={"card": "us-3pl"})
        )
        session.execute(update(models.Shipment).values(account="easypost-main"))
    with app.app_context():
        jobs.expire_stale_returns()
        drain(app)
    with runtime.db.session() as session:
        return_ = session.get(models.Return, shipped["return_id"])
        shipment = session.scalars(select(models.Shipment)).one()
    assert return_.status == "EXPIRED"
    assert shipment.status == "CANCELLED"
    assert _ledger(app, shipped["return_id"])[-2:] == ["ReturnExpired", "LabelVoided"]


def test_an_aggregators_parcel_is_polled_by_the_carrier_that_moves_it(
    app: Flask,
    shipped: dict[str, Any],  # noqa: F811
) -> None:
    from connector.services import logistics

    _age_shipments(
        app,
        account="easypost-main",
        tracking_carrier="usps",
        updated_at=utcnow() - timedelta(hours=1),
    )
    with app.extensions["helloword"].db.session() as session:
        [(_, number, _, _)] = logistics.shipments_to_poll(session, 10)
        tracking_number = session.scalars(select(models.Shipment.tracking_number)).one()
    assert number == f"usps/{tracking_number}"
