"""``helloword stores add shopify``: a store that runs a custom app is linked as an install
would link it — webhooks subscribed at once, the import of its orders queued — and a mistake is
named without anything stored. The command runs in-process so ``responses`` stands in for
Shopify's GraphQL Admin API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import responses
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from connector.cli import main
from connector.config import Settings
from connector.db import models
from connector.runtime import Runtime
from connector.services import merchants
from tests.contract.shopify_store import FakeShopify

SHOP = "nordic-knits.myshopify.com"
TOKEN = "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"
WEBHOOK_SECRET = "3b9f1c7e5a2d4f6b8e0a1c3d5f7b9e2a4c6d8f0b"
MERCHANT = "Nordic Knits"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(public_url="https://helloword.test")


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchants.create_merchant(session, MERCHANT, "EUR")
    return runtime


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeShopify(SHOP, TOKEN)
        fake.install(mock)
        yield fake


def helloword(app: Flask, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def add(app: Flask, changes: dict[str, str] | None = None) -> Result:
    """``helloword stores add shopify`` with good options, but for ``changes``."""
    options = {
        "--merchant": MERCHANT,
        "--shop": SHOP,
        "--token": TOKEN,
        "--webhook-secret": WEBHOOK_SECRET,
        **(changes or {}),
    }
    return helloword(app, "stores", "add", "shopify", *(x for kv in options.items() for x in kv))


def stores(runtime: Runtime) -> list[models.Store]:
    with runtime.db.session() as session:
        return list(session.scalars(select(models.Store)))


def test_a_custom_app_store_is_linked_subscribed_and_queued_for_import(
    app: Flask, runtime: Runtime, shopify: FakeShopify
) -> None:
    result = add(app, {"--days": "30"})

    assert result.exit_code == 0, result.output
    [store] = stores(runtime)
    assert result.stdout.strip() == str(store.id)
    assert "12 webhook topics subscribed" in result.stderr
    assert runtime.vault.open(store.credentials) == {
        "access_token": TOKEN,
        "webhook_secret": WEBHOOK_SECRET,
    }
    assert TOKEN not in store.credentials
    assert store.settings["api_version"] == "2025-10"
    assert store.settings["webhooks"]["status"] == "registered"
    assert store.settings["backfill"] == {"status": "queued", "orders": 0, "days": 30}
    with runtime.db.session() as session:
        assert session.get_one(models.Merchant, store.merchant_id).name == MERCHANT
    assert {s["uri"] for s in shopify.subscriptions} == {"https://helloword.test/webhooks/shopify"}
    assert len(shopify.subscriptions) == 12
    [job] = runtime.queue.get_jobs()
    assert job.func_name == "connector.jobs.backfill_orders"
    assert job.args == (store.id, 30)


def test_adding_the_same_store_again_relinks_it_without_duplicates(
    app: Flask, runtime: Runtime, shopify: FakeShopify
) -> None:
    assert add(app).exit_code == 0

    again = add(app, {"--webhook-secret": "a-rotated-secret"})

    assert again.exit_code == 0, again.output
    [store] = stores(runtime)
    assert runtime.vault.open(store.credentials)["webhook_secret"] == "a-rotated-secret"
    assert len(shopify.subscriptions) == 12


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"--shop": "nordic-knits.com"}, "--shop"),
        ({"--shop": "https://nordic-knits.myshopify.com"}, "myshopify.com"),
        ({"--token": "  "}, "--token"),
        ({"--webhook-secret": ""}, "--webhook-secret"),
        ({"--merchant": "Nobody"}, "no merchant named 'Nobody'"),
        ({"--days": "0"}, "--days"),
    ],
)
def test_a_mistake_is_named_and_nothing_is_stored_or_asked_of_shopify(
    app: Flask, runtime: Runtime, shopify: FakeShopify, changes: dict[str, str], complaint: str
) -> None:
    result = add(app, changes)

    assert result.exit_code == 2
    assert complaint in result.output
    assert stores(runtime) == []
    assert shopify.calls == []
    assert runtime.queue.get_job_ids() == []


def test_a_token_shopify_refuses_links_nothing(app: Flask, runtime: Runtime) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeShopify(SHOP, "shpat_the_real_token").install(mock)
        result = add(app)

    assert result.exit_code == 1
    assert f"{SHOP} was not linked" in result.output
    assert "refused the access token" in result.output
    assert stores(runtime) == []
    assert runtime.queue.get_job_ids() == []


def test_a_store_of_another_merchant_is_refused_before_shopify_is_asked(
    app: Flask, runtime: Runtime, shopify: FakeShopify
) -> None:
    with runtime.db.transaction() as session:
        other = merchants.create_merchant(session, "Someone Else")
        merchants.link_store(session, runtime.vault, other, "shopify", SHOP)

    result = add(app)

    assert result.exit_code == 2
    assert "linked to another merchant" in result.output
    assert shopify.calls == []
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(models.Store)) == 1


def test_an_installation_shopify_cannot_reach_over_https_is_told_so(
    app: Flask, runtime: Runtime, shopify: FakeShopify
) -> None:
    runtime.settings = runtime.settings.with_(public_url="http://localhost:5000")

    result = add(app)

    assert result.exit_code == 2
    assert "HELLOWORD_PUBLIC_URL is http://localhost:5000" in result.output
    assert stores(runtime) == []
    assert shopify.calls == []


def test_the_command_is_part_of_the_installed_cli(settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "stores", "add", "shopify", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HELLOWORD_INSTANCE": str(settings.instance_path), "PATH": ""},
    )

    assert result.returncode == 0, result.stderr
    for option in ("--merchant", "--shop", "--token", "--webhook-secret", "--days"):
        assert option in result.stdout
