"""The policy as data through the API: the active document and its versions, validation that
names every error by its path, the preview that stores nothing, and simulation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from connector.db import models
from connector.runtime import Runtime

from .support import Caller

EXAMPLE = {
    "version": 1,
    "currency": "USD",
    "defaults": {"window_days": 30, "refund_trigger": "received"},
    "rules": [
        {
            "id": "final-sale",
            "when": {"tag": "final-sale"},
            "then": {"decision": "decline", "reason": "FINAL_SALE"},
        },
        {
            "id": "cheap-faulty-keep",
            "when": {"all": [{"line_value": {"lte": 15}}, {"reason": {"in": ["DEFECTIVE"]}}]},
            "then": {"decision": "approve", "returnless": True},
        },
        {
            "id": "high-value",
            "when": {"line_value": {"gt": 300}},
            "then": {"decision": "review", "queue": "high-value"},
        },
    ],
}

YAML = """
version: 1
currency: EUR
defaults: {window_days: 14, refund_trigger: inspected}
rules:
  - id: de-fr-longer
    when: {country: {in: [DE, FR]}}
    then: {window_days: 45}
"""


def _line(**changes: Any) -> dict[str, Any]:
    line = {
        "sku": "SHIRT",
        "unit_price": {"amount": "40.00", "currency": "USD"},
        "reason": "UNWANTED",
        "delivered_at": "2026-11-20T10:00:00+00:00",
    }
    return {**line, **changes}


def _preview(caller: Caller, *lines: dict[str, Any], **extra: Any) -> Any:
    request = {"requested_at": "2026-11-25T09:00:00+00:00", "country": "US", "lines": list(lines)}
    return caller.post(
        "/api/v1/returns/preview",
        json={"policy": extra.pop("policy", EXAMPLE), "request": {**request, **extra}},
    )


def _policy_rows(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(models.Policy)) or 0


def test_the_default_policy_is_active_until_one_is_saved(a: Caller) -> None:
    body = a.get("/api/v1/policy").json
    assert body["version"] is None
    assert body["document"]["defaults"]["window_days"] == 30


def test_saving_makes_a_new_version_in_json_or_yaml(a: Caller, client: Any) -> None:
    first = a.client.put("/api/v1/policy", json=EXAMPLE, headers=a.tenant.headers)
    assert first.status_code == 200 and first.json["version"] == 1
    second = a.client.put(
        "/api/v1/policy",
        data=YAML,
        headers={**a.tenant.headers, "Content-Type": "application/yaml"},
    )
    assert second.status_code == 200, second.json
    assert second.json["version"] == 2
    assert second.json["document"]["defaults"]["window_days"] == 14
    assert a.get("/api/v1/policy").json["version"] == 2
    assert [v["version"] for v in a.get("/api/v1/policy/versions").json] == [2, 1]
    assert [v["saved_by"] for v in a.get("/api/v1/policy/versions").json] == ["api:tests"] * 2


def test_an_invalid_policy_names_every_error_and_stores_nothing(
    a: Caller, runtime: Runtime
) -> None:
    broken = {
        "version": 1,
        "currency": "USD",
        "rules": [
            {"id": "r1", "when": {"line_value": {"gt": "lots"}}, "then": {"decision": "review"}},
            {"id": "r2", "when": {"shoe_size": 42}, "then": {"window_days": -1}},
        ],
    }
    response = a.client.put("/api/v1/policy", json=broken, headers=a.tenant.headers)
    assert response.status_code == 422
    paths = set(response.json["errors"]["json"])
    assert "rules[0].when.line_value.gt" in paths
    assert any(p.startswith("rules[1].when") for p in paths)
    assert any(p.startswith("rules[1].then") for p in paths)
    assert len(paths) >= 4
    assert _policy_rows(runtime) == 0


def test_preview_decides_each_line_and_stores_nothing(a: Caller, runtime: Runtime) -> None:
    response = _preview(
        a,
        _line(tags=["final-sale"]),
        _line(reason="DEFECTIVE", unit_price={"amount": "9.99", "currency": "USD"}),
        _line(unit_price={"amount": "450.00", "currency": "USD"}),
        _line(),
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["outcome"] == "partial"
    decisions = [(x["decision"], x["rule_id"], x["returnless"]) for x in body["lines"]]
    assert decisions == [
        ("decline", "final-sale", False),
        ("approve", "cheap-faulty-keep", True),
        ("review", "high-value", False),
        ("approve", "", False),
    ]
    assert body["lines"][0]["reason"] == "FINAL_SALE"
    assert body["lines"][2]["queue"] == "high-value"
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(models.Return)) == 0


def test_preview_applies_the_statutory_floor_for_an_eu_buyer(a: Caller) -> None:
    response = _preview(a, _line(tags=["final-sale"]), country="DE")
    line = response.json["lines"][0]
    assert line["decision"] == "approve" and line["statutory"] is True


def test_preview_explains_in_the_buyers_language(a: Caller) -> None:
    english = _preview(a, _line(tags=["final-sale"])).json["lines"][0]["explanation"]
    chinese = a.client.post(
        "/api/v1/returns/preview",
        json={
            "policy": EXAMPLE,
            "locale": "zh-CN",
            "request": {
                "requested_at": "2026-11-25T09:00:00+00:00",
                "country": "US",
                "lines": [_line(tags=["final-sale"])],
            },
        },
        headers=a.tenant.headers,
    ).json["lines"][0]["explanation"]
    assert english != chinese
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


def test_preview_uses_the_active_policy_without_an_inline_one(a: Caller) -> None:
    a.client.put("/api/v1/policy", json=EXAMPLE, headers=a.tenant.headers)
    response = _preview(a, _line(tags=["final-sale"]), policy=None)
    assert response.json["lines"][0]["rule_id"] == "final-sale"
    assert response.json["policy_version"] == 1


def test_preview_validation_names_the_field(a: Caller) -> None:
    response = _preview(a, _line(reason="BORED", quantity=0))
    assert response.status_code == 422
    line = response.json["errors"]["json"]["request"]["lines"]["0"]
    assert set(line) == {"reason", "quantity"}


def test_simulation_without_exchange_rates_says_which_are_missing(a: Caller) -> None:
    a.new_return_id()  # an order in EUR; the default policy counts in USD; no rates stored
    response = a.post("/api/v1/policy/simulate", json={"policy": EXAMPLE, "days": 30})
    assert response.status_code == 422
    assert "EUR" in response.json["message"] and "USD" in response.json["message"]


def test_simulation_counts_the_decisions_a_candidate_would_change(
    a: Caller, runtime: Runtime
) -> None:
    from connector.services import fx

    with runtime.db.transaction() as session:
        fx.store_reference_rates(session)
    for _ in range(2):
        a.new_return_id()
    strict = {
        "version": 1,
        "currency": "EUR",
        "rules": [
            {
                "id": "no-returns",
                "when": {"quantity": {"gte": 1}},
                "then": {"decision": "decline", "reason": "FINAL_SALE"},
                "statutory_exception": True,
            }
        ],
    }
    response = a.post("/api/v1/policy/simulate", json={"policy": strict, "days": 30})
    assert response.status_code == 200, response.json
    report = response.json
    assert report["returns"] == 2
    assert report["changed"] == 2
    assert report["by_rule"] == {"no-returns": 2}
    assert report["examples"][0]["after"] == "decline"
    unchanged = a.post(
        "/api/v1/policy/simulate",
        json={
            "policy": {
                "version": 1,
                "currency": "EUR",
                "defaults": {"window_days": 30, "refund_trigger": "received"},
                "rules": [
                    {
                        "id": "high-value",
                        "when": {"line_value": {"gt": 300}},
                        "then": {"decision": "review", "queue": "high-value"},
                    }
                ],
            },
            "days": 30,
        },
    )
    assert unchanged.json["changed"] == 0
