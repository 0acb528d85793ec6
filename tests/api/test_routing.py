"""The routing preview: every way back for a described return, each with the arithmetic of
its expected net cost, and the cheapest allowed one chosen; nothing stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.db import models
from connector.demo import bootstrap

COMPONENTS = ("shipping", "handling", "duties", "time_cost", "recovery")


@pytest.fixture
def seller(app: Flask, client: FlaskClient) -> dict[str, Any]:
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=1)
    return {
        "headers": {"Authorization": f"Bearer {setup.api_key}"},
        "runtime": runtime,
        "setup": setup,
    }


def _preview(client: FlaskClient, seller: dict[str, Any], country: str, **extra: Any) -> Any:
    line = {
        "unit_price": {"amount": "80.00", "currency": "USD"},
        "reason": "SIZE_TOO_SMALL",
        "condition": "unused",
        "weight_kg": "0.6",
        "dimensions_cm": ["30", "20", "5"],
        "hs_code": "610910",
        "origin_country": "CN",
        **extra.pop("line", {}),
    }
    body = {"buyer_address": {"country": country, "postal_code": "94117"}, "lines": [line], **extra}
    return client.post("/api/v1/routing/preview", json=body, headers=seller["headers"])


def _option(answer: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(o for o in answer["options"] if o["id"].startswith(prefix))


def test_every_option_shows_its_arithmetic_and_the_cheapest_is_chosen(
    client: FlaskClient, seller: dict[str, Any]
) -> None:
    response = _preview(client, seller, "US")
    assert response.status_code == 200, response.json
    answer = response.json
    kinds = {o["kind"] for o in answer["options"]}
    assert {"label", "dropoff", "keep_item"} <= kinds
    for option in answer["options"]:
        shipping, handling, duties, time_cost, recovery = (Decimal(option[c]) for c in COMPONENTS)
        assert Decimal(option["net_cost"]) == shipping + handling + duties + time_cost - recovery
    cheapest = min(
        (o for o in answer["options"] if o["allowed"]),
        key=lambda o: (Decimal(o["net_cost"]), o["transit_days"], o["id"]),
    )
    assert answer["chosen"] == cheapest["id"]
    assert answer["currency"] == "USD"


def test_nothing_is_stored(client: FlaskClient, seller: dict[str, Any]) -> None:
    _preview(client, seller, "US")
    with seller["runtime"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(models.Return)) == 0


def test_duties_apply_on_re_entry_unless_returned_goods_relief_does(
    client: FlaskClient, seller: dict[str, Any]
) -> None:
    without = _option(_preview(client, seller, "JP").json, "label:cn-origin")
    assert Decimal(without["duties"]) == Decimal("10.40")  # 80.00 × 13 % import VAT
    relieved = _preview(client, seller, "JP", line={"export_reference": "EX-2026-0042"}).json
    assert Decimal(_option(relieved, "label:cn-origin")["duties"]) == 0


def test_a_domestic_return_pays_no_duties(client: FlaskClient, seller: dict[str, Any]) -> None:
    assert Decimal(_option(_preview(client, seller, "US").json, "label:us-3pl")["duties"]) == 0


def test_the_wait_until_the_refund_is_priced_per_day(
    client: FlaskClient, seller: dict[str, Any]
) -> None:
    answer = _preview(client, seller, "US", cost_per_day={"amount": "0.50", "currency": "USD"}).json
    for option in answer["options"]:
        assert Decimal(option["time_cost"]) == Decimal("0.50") * option["transit_days"]


def test_options_slower_than_the_limit_are_not_allowed(
    client: FlaskClient, seller: dict[str, Any]
) -> None:
    answer = _preview(client, seller, "US", max_transit_days=7).json
    slow = _option(answer, "label:cn-origin")
    assert slow["allowed"] is False and "over the limit of 7" in slow["why_not"]
    assert not answer["chosen"].startswith("label:cn-origin")


def test_a_failing_carrier_degrades_the_quote_not_the_route(
    app: Flask, client: FlaskClient, seller: dict[str, Any]
) -> None:
    runtime = seller["runtime"]
    with runtime.db.transaction() as session:
        session.add(
            models.CarrierAccount(
                merchant_id=seller["setup"].merchant_id,
                carrier="ratecard",
                name="broken-card",
                settings={"card": "no-such-card"},
                credentials=runtime.vault.seal({}),
            )
        )
    response = _preview(client, seller, "US")
    assert response.status_code == 200
    assert any(note.startswith("broken-card:") for note in response.json["notes"])
    assert response.json["chosen"]


def test_bad_input_names_the_field(client: FlaskClient, seller: dict[str, Any]) -> None:
    response = _preview(client, seller, "usa", line={"weight_kg": "-1", "dimensions_cm": ["1"]})
    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    assert "country" in errors["buyer_address"]
    assert set(errors["lines"]["0"]) == {"weight_kg", "dimensions_cm"}
