"""Destinations and carrier accounts as data through the API: validated by field, scoped to
the merchant, secrets sealed and never returned, and used by routing at once."""

from __future__ import annotations

from typing import Any

from connector.runtime import Runtime

from .support import Caller

US_3PL = {
    "code": "us-3pl",
    "name": "US 3PL, Ontario CA",
    "kind": "warehouse",
    "address": {
        "name": "3PL",
        "line1": "1500 S Milliken Ave",
        "city": "Ontario",
        "postal_code": "91761",
        "country": "US",
    },
    "countries": ["US", "CA"],
    "handling": {"amount": "2.50", "currency": "USD"},
    "resale_factor": "0.85",
    "duty_rate": "0.05",
    "grades": True,
}


def _put(caller: Caller, **changes: Any) -> Any:
    return caller.post("/api/v1/destinations", json={**US_3PL, **changes})


def test_a_destination_is_created_then_replaced_by_code(a: Caller) -> None:
    created = _put(a)
    assert created.status_code == 201, created.json
    assert created.json["handling"] == {"amount": "2.50", "currency": "USD"}
    assert created.json["grades"] is True
    replaced = _put(a, resale_factor="0.9")
    assert replaced.json["id"] == created.json["id"]
    assert [d["resale_factor"] for d in a.get("/api/v1/destinations").json] == ["0.9"]


def test_destinations_are_the_merchants_own(a: Caller, b: Caller) -> None:
    created = _put(a).json
    assert b.get("/api/v1/destinations").json == []
    assert b.get(f"/api/v1/destinations/{created['id']}").status_code == 404
    assert b.delete(f"/api/v1/destinations/{created['id']}").status_code == 404
    assert a.delete(f"/api/v1/destinations/{created['id']}").status_code == 204
    assert a.get(f"/api/v1/destinations/{created['id']}").json["active"] is False


def test_bad_destinations_name_the_field(a: Caller) -> None:
    response = _put(
        a, kind="garage", countries=["usa"], resale_factor="7", address={"country": "United States"}
    )
    assert response.status_code == 422
    errors = response.json["errors"]["json"]
    assert {"kind", "countries", "resale_factor", "address"} <= set(errors)


def test_a_carrier_account_keeps_its_secrets_and_names_its_webhook(a: Caller) -> None:
    destination = _put(a).json
    response = a.post(
        "/api/v1/carrier-accounts",
        json={
            "carrier": "ratecard",
            "name": "us-card",
            "destination_id": destination["id"],
            "settings": {"card": "us-3pl"},
            "secrets": {"webhook_secret": "s3cret"},
        },
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert "secrets" not in body and "s3cret" not in str(body)
    assert body["webhook_url"].endswith(f"/webhooks/carriers/{body['id']}")
    unknown = a.post("/api/v1/carrier-accounts", json={"carrier": "owl-post", "name": "x"})
    assert unknown.status_code == 422 and "carrier" in unknown.json["errors"]["json"]


def test_routing_uses_what_was_just_configured(a: Caller, runtime: Runtime) -> None:
    from connector.services import fx

    with runtime.db.transaction() as session:  # the merchant counts in EUR, the card in USD
        fx.store_reference_rates(session)
    destination = _put(a).json
    a.post(
        "/api/v1/carrier-accounts",
        json={
            "carrier": "ratecard",
            "name": "us-card",
            "destination_id": destination["id"],
            "settings": {"card": "us-3pl"},
        },
    )
    answer = a.post(
        "/api/v1/routing/preview",
        json={
            "buyer_address": {"country": "US", "postal_code": "94117"},
            "lines": [{"unit_price": {"amount": "60.00", "currency": "USD"}}],
        },
    ).json
    assert any(o["id"].startswith("label:us-3pl:ratecard:") for o in answer["options"])
