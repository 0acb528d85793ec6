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


def test_routing_settings_start_as_the_defaults_and_are_replaced_whole(
    client: FlaskClient, seller: dict[str, Any]
) -> None:
    headers = seller["headers"]
    defaults = client.get("/api/v1/routing/settings", headers=headers).json
    assert defaults["label_validity_days"] == 30
    assert defaults["returnless"] == "keep_item"
    assert defaults["resale"]["by_condition"]["unused"] == "0.90"
    document = {
        "resale": {"by_condition": {"unused": "0.50"}},
        "cost_per_day": {"amount": "0.40", "currency": "USD"},
        "own_shipment_cap": {"amount": "4.00", "currency": "USD"},
        "own_shipment_days": 8,
    }
    saved = client.put("/api/v1/routing/settings", json=document, headers=headers)
    assert saved.status_code == 200, saved.json
    again = client.get("/api/v1/routing/settings", headers=headers).json
    assert again == saved.json
    assert again["resale"] == {"by_condition": {"unused": "0.50"}, "reason_factor": {}}
    assert again["label_validity_days"] == 30  # left out: its default


def test_the_preview_prices_with_the_merchants_settings(
    client: FlaskClient, seller: dict[str, Any]
) -> None:
    client.put(
        "/api/v1/routing/settings",
        json={
            "resale": {"by_condition": {"unused": "0.50"}},
            "cost_per_day": {"amount": "0.40", "currency": "USD"},
            "own_shipment_cap": {"amount": "4.00", "currency": "USD"},
            "own_shipment_days": 8,
            "returnless": "donate",
        },
        headers=seller["headers"],
    )
    answer = _preview(client, seller, "US").json
    own = _option(answer, "own_shipment:us-3pl")
    assert own["kind"] == "own_shipment"
    assert (own["shipping"], own["time_cost"], own["transit_days"]) == ("4.00", "3.20", 8)
    # 80.00 × resale 0.85 × P(unused) 0.50
    assert own["recovery"] == "34.00"
    label = _option(answer, "label:us-3pl")
    assert Decimal(label["time_cost"]) == Decimal("0.40") * label["transit_days"]
    assert _option(answer, "donate")["allowed"] is True
    assert _option(answer, "keep_item")["allowed"] is False
    # a preview may try other numbers without saving them
    override = _preview(client, seller, "US", cost_per_day={"amount": "0", "currency": "USD"}).json
    assert _option(override, "own_shipment:us-3pl")["time_cost"] == "0.00"


def test_bad_routing_settings_name_the_field(client: FlaskClient, seller: dict[str, Any]) -> None:
    headers = seller["headers"]
    bad = client.put(
        "/api/v1/routing/settings",
        json={"resale": {"by_condition": {"mint": "0.5"}}},
        headers=headers,
    )
    assert bad.status_code == 422
    assert "mint" in bad.json["errors"]["json"]["resale"]["by_condition"]
    days = client.put("/api/v1/routing/settings", json={"max_transit_days": 0}, headers=headers)
    assert days.status_code == 422 and "max_transit_days" in days.json["errors"]["json"]
    unknown = client.put("/api/v1/routing/settings", json={"speed": "fast"}, headers=headers)
    assert unknown.status_code == 422 and "speed" in unknown.json["errors"]["json"]
    assert client.get("/api/v1/routing/settings", headers=headers).json["max_transit_days"] is None
