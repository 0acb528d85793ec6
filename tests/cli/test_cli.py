"""The ``helloword`` command as people and scripts run it: a separate process, configured by
the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector.config import Settings


def _helloword(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "HELLOWORD_INSTANCE": str(settings.instance_path),
        "HELLOWORD_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
    }
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_db_upgrade_is_repeatable(settings: Settings) -> None:
    result = _helloword(settings, "db", "upgrade")
    assert result.returncode == 0, result.stderr


def test_merchants_create_prints_only_the_api_key(settings: Settings) -> None:
    result = _helloword(settings, "merchants", "create", "Acme Imports")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hw_") and len(lines[0]) > 40


def test_the_printed_key_authenticates_api_calls(settings: Settings, client) -> None:  # type: ignore[no-untyped-def]
    key = _helloword(settings, "merchants", "create", "Key Check").stdout.strip()
    assert (
        client.get("/api/v1/returns", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert (
        client.get("/api/v1/returns", headers={"Authorization": "Bearer hw_wrong"}).status_code
        == 401
    )


def test_duplicate_merchant_name_is_refused(settings: Settings) -> None:
    _helloword(settings, "merchants", "create", "Twice")
    result = _helloword(settings, "merchants", "create", "Twice")
    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert result.stdout == ""


@pytest.fixture
def ledger_with_events(settings: Settings, app) -> Settings:  # type: ignore[no-untyped-def]
    """Two returns with three ledger events each, written through the ledger module."""
    from datetime import UTC, datetime

    from connector import ledger
    from connector.db import models

    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchant = models.Merchant(name="Ledger Co", slug="ledger-co")
        session.add(merchant)
        session.flush()
        store = models.Store(merchant_id=merchant.id, platform="sandbox", external_id="l.test")
        session.add(store)
        session.flush()
        order = models.Order(
            merchant_id=merchant.id,
            store_id=store.id,
            external_id="o1",
            number="#1",
            currency="USD",
            total_minor=1000,
            placed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add(order)
        session.flush()
        for n in range(2):
            return_ = models.Return(
                merchant_id=merchant.id,
                store_id=store.id,
                order_id=order.id,
                rma=f"R{n}",
                requested_at=datetime(2026, 1, 2, tzinfo=UTC),
            )
            session.add(return_)
            session.flush()
            for kind in ("ReturnRequested", "ReturnDecided", "LabelIssued"):
                ledger.append(session, return_, kind, {"n": n})
    return settings


def test_ledger_verify_passes_on_an_intact_ledger(ledger_with_events: Settings) -> None:
    result = _helloword(ledger_with_events, "ledger", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 returns verified" in result.stdout


def test_ledger_verify_names_the_edited_event(ledger_with_events: Settings) -> None:
    engine = create_engine(ledger_with_events.database_url)
    with engine.begin() as connection:
        event_id = connection.execute(
            text("SELECT id FROM ledger_events WHERE seq = 2 ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        connection.execute(
            text("UPDATE ledger_events SET kind = 'RefundIssued' WHERE id = :id"), {"id": event_id}
        )
    engine.dispose()
    result = _helloword(ledger_with_events, "ledger", "verify")
    assert result.returncode == 1
    assert "R1" in result.stdout and "#2" in result.stdout and "edited" in result.stdout
    assert f"id {event_id}" in result.stdout


def test_ledger_payloads_are_stored_as_the_canonical_text_their_hashes_cover(
    ledger_with_events: Settings,
) -> None:
    engine = create_engine(ledger_with_events.database_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT payload FROM ledger_events ORDER BY id"))
        payloads = stored.scalars().all()
    engine.dispose()
    assert payloads == ['{"n":0}'] * 3 + ['{"n":1}'] * 3


def test_ledger_verify_names_an_edited_payload(ledger_with_events: Settings) -> None:
    engine = create_engine(ledger_with_events.database_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_events SET payload = :edited WHERE seq = 1 AND return_id = 1"),
            {"edited": '{"n":7}'},
        )
    engine.dispose()
    result = _helloword(ledger_with_events, "ledger", "verify")
    assert result.returncode == 1
    assert "R0" in result.stdout and "#1" in result.stdout and "edited" in result.stdout


def test_ledger_verify_notices_a_deleted_last_event(ledger_with_events: Settings) -> None:
    engine = create_engine(ledger_with_events.database_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM ledger_events WHERE seq = 3 AND return_id = 1"))
    engine.dispose()
    result = _helloword(ledger_with_events, "ledger", "verify")
    assert result.returncode == 1
    assert "R0" in result.stdout and "deleted" in result.stdout


def test_help_lists_the_setup_commands(settings: Settings, tmp_path: Path) -> None:
    result = _helloword(settings, "--help")
    for command in ("db", "merchants", "demo", "ledger", "worker", "run"):
        assert command in result.stdout


def test_policy_check_accepts_a_valid_document(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\ncurrency: USD\nrules:\n"
        "  - id: final-sale\n    when: {tag: final-sale}\n"
        "    then: {decision: decline, reason: FINAL_SALE}\n"
    )
    result = _helloword(settings, "policy", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid, 1 rules" in result.stdout


def test_policy_check_lists_every_error_with_its_path(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(
        '{"version": 1, "currency": "USD", "rules": ['
        '{"id": "a", "when": {"line_value": {"gt": "x"}}, "then": {"decision": "review"}}]}'
    )
    result = _helloword(settings, "policy", "check", str(path))
    assert result.returncode == 1
    assert "rules[0].when.line_value.gt" in result.stderr
    assert "rules[0].then" in result.stderr


def test_policy_simulate_reports_for_the_named_merchant(settings: Settings, tmp_path: Path) -> None:
    import json

    _helloword(settings, "merchants", "create", "Simulated Co")
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\ncurrency: USD\ndefaults: {window_days: 10}\n")
    result = _helloword(settings, "policy", "simulate", str(path), "--merchant", "Simulated Co")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["returns"], report["changed"], report["days"]) == (0, 0, 90)
    unknown = _helloword(settings, "policy", "simulate", str(path), "--merchant", "Nobody")
    assert unknown.returncode != 0 and "Nobody" in unknown.stderr


def test_destinations_carriers_and_routing_are_set_from_files(
    settings: Settings, tmp_path: Path
) -> None:
    _helloword(settings, "merchants", "create", "Routed Co")
    places = tmp_path / "destinations.yaml"
    places.write_text(
        """
- code: us-3pl
  kind: warehouse
  address: {name: West Coast 3PL, line1: 1500 S Milliken Ave, city: Ontario, country: US}
  countries: [US, CA]
  handling: {amount: "2.50", currency: USD}
  resale_factor: "0.85"
  duty_rate: "0.05"
- code: cn-origin
  kind: origin
  address: {city: Shenzhen, country: CN}
  handling: {amount: "1.20", currency: USD}
  resale_factor: "0.55"
""",
        encoding="utf-8",
    )
    result = _helloword(settings, "destinations", "set", str(places), "--merchant", "Routed Co")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["us-3pl", "cn-origin"]
    listed = json.loads(
        _helloword(settings, "destinations", "list", "--merchant", "Routed Co").stdout
    )
    assert [(d["code"], d["handling"]["amount"]) for d in listed] == [
        ("cn-origin", "1.20"),
        ("us-3pl", "2.50"),
    ]

    account = tmp_path / "carrier.json"
    account.write_text(
        json.dumps(
            {
                "carrier": "ratecard",
                "name": "us-card",
                "destination": "us-3pl",
                "settings": {"card": "us-3pl"},
            }
        ),
        encoding="utf-8",
    )
    linked = _helloword(settings, "carriers", "link", str(account), "--merchant", "Routed Co")
    assert linked.returncode == 0, linked.stderr
    name, url = linked.stdout.strip().split("\t")
    assert name == "us-card" and "/webhooks/carriers/" in url

    terms = tmp_path / "routing.yaml"
    terms.write_text("max_transit_days: 12\nreturnless: donate\n", encoding="utf-8")
    shown = _helloword(settings, "routing", "set", str(terms), "--merchant", "Routed Co")
    assert shown.returncode == 0, shown.stderr
    again = json.loads(_helloword(settings, "routing", "show", "--merchant", "Routed Co").stdout)
    assert (again["max_transit_days"], again["returnless"]) == (12, "donate")


def test_a_bad_destination_file_names_the_item_and_field_and_keeps_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    _helloword(settings, "merchants", "create", "Careful Co")
    places = tmp_path / "destinations.json"
    places.write_text(
        json.dumps(
            [
                {
                    "code": "good",
                    "kind": "hub",
                    "address": {"country": "NL"},
                    "handling": {"amount": "1", "currency": "EUR"},
                },
                {"code": "bad", "kind": "garage", "address": {"country": "NL"}},
            ]
        ),
        encoding="utf-8",
    )
    result = _helloword(settings, "destinations", "set", str(places), "--merchant", "Careful Co")
    assert result.returncode == 1
    assert "[1] kind: expected one of origin, warehouse, hub" in result.stderr
    listed = _helloword(settings, "destinations", "list", "--merchant", "Careful Co")
    assert json.loads(listed.stdout) == []
    terms = tmp_path / "routing.yaml"
    terms.write_text("returnless: sell\n", encoding="utf-8")
    refused = _helloword(settings, "routing", "set", str(terms), "--merchant", "Careful Co")
    assert refused.returncode == 1 and "returnless: expected one of" in refused.stderr
