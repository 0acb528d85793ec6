"""A Shopify store stand-in behind ``responses``, and the adapter pointed at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.ports import AdapterContext, Credentials
from platforms.shopify import ShopifyPlatform
from tests.adapters.clock import FakeTime
from tests.contract.shopify_store import FakeShopify, Line

SHOP = "ateliernord.myshopify.com"
TOKEN = "shpat_test_token"
SECRET = "current-webhook-secret"
PREVIOUS = "previous-webhook-secret"
APP_SECRET = "app-client-secret"
LOCATION = "gid://shopify/Location/71829094466"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "shopify"

LINES = [
    Line("Linen Overshirt", "LIN-OVR-M-SND", 2, "49.50", "54.00", hs_code="620530", origin="PT"),
    Line("Canvas Tote", "TOTE-CNV", 1, "26.10", "28.80", grams=227),
]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def store(mock: responses.RequestsMock) -> FakeShopify:
    fake = FakeShopify(SHOP, TOKEN)
    fake.install(mock)
    return fake


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime(now=1_750_000_000.0)


@pytest.fixture
def make_adapter(tmp_path: Path, clock: FakeTime) -> Callable[..., ShopifyPlatform]:
    def make(
        secrets: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        redis: Any = None,
    ) -> ShopifyPlatform:
        return ShopifyPlatform(
            Credentials(
                SHOP,
                {"access_token": TOKEN, "webhook_secret": SECRET} if secrets is None else secrets,
                {"location_id": LOCATION} if settings is None else settings,
            ),
            AdapterContext(data_dir=tmp_path, redis=redis),
            sleep=clock.sleep,
            clock=clock.time,
        )

    return make


@pytest.fixture
def adapter(make_adapter: Callable[..., ShopifyPlatform]) -> ShopifyPlatform:
    return make_adapter()
