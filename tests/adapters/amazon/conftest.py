"""An Amazon seller account stand-in behind ``respx``, and the adapter pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from connector.ports import AdapterContext, Credentials
from platforms.amazon import AmazonPlatform
from tests.adapters.clock import FakeTime
from tests.contract.amazon_store import FakeAmazon, Item

SELLER = "A3AMZSELLER42"
APP_ID = "amzn1.application-oa2-client.5f7e1c2a9b0d4e6f8a1b2c3d4e5f6a7b"
APP_SECRET = "amzn1.oa2-cs.v1.lwa-client-secret"
REFRESH = "Atzr|IwEBIRefreshTokenForTheSeller"
GERMANY = "A1PA6795UKMFR9"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "amazon"

ITEMS = [
    Item("LIN-SHIRT-M", "Linen shirt, sand, M", 1, "49.90"),
    Item("LIN-TROUSER-32", "Linen trousers, 32", 2, "59.90"),
]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


FLAT_FILE_HEADER = (FIXTURES / "returns_flat_file.tsv").read_bytes().split(b"\r\n")[0].decode()


def flat_file_row(**cells: str) -> str:
    """A seller-fulfilled returns report row with the documented columns, a plain open
    return unless ``cells`` (by column name, ``_`` for a space) say otherwise."""
    names = FLAT_FILE_HEADER.split("\t")
    base = {
        "Order ID": "302-1111111-1111111",
        "Order date": "01-Jul-2025",
        "Return request date": "05-Jul-2025",
        "Return request status": "Approved",
        "Amazon RMA ID": "RMA-ONE",
        "Merchant SKU": "SKU-1",
        "Item Name": "Thing",
        "Return quantity": "1",
        "Return Reason": "CR-UNWANTED_ITEM",
        "Currency code": "EUR",
        "Order Amount": "10.00",
        "Order quantity": "1",
    }
    base.update({name.replace("_", " "): value for name, value in cells.items()})
    return "\t".join(base.get(name, "") for name in names)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def amazon(router: respx.MockRouter) -> FakeAmazon:
    fake = FakeAmazon(SELLER, APP_ID, APP_SECRET, refresh_tokens={REFRESH})
    fake.install(router)
    return fake


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


Build = Callable[..., AmazonPlatform]


@pytest.fixture
def build(tmp_path: Path, clock: FakeTime) -> Build:
    """An adapter for the seller: ``build(settings=…, secrets=…, redis=…)``."""

    def make(
        *,
        settings: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        redis: Any = None,
        seller: str = SELLER,
    ) -> AmazonPlatform:
        credentials = Credentials(
            seller,
            {
                "refresh_token": REFRESH,
                "lwa_app_id": APP_ID,
                "lwa_client_secret": APP_SECRET,
                **(secrets or {}),
            },
            {"region": "eu", "marketplace_ids": [GERMANY], **(settings or {})},
        )
        return AmazonPlatform(
            credentials,
            AdapterContext(data_dir=tmp_path, redis=redis),
            sleep=clock.sleep,
            clock=clock.time,
        )

    return make


@pytest.fixture
def adapter(build: Build, amazon: FakeAmazon) -> AmazonPlatform:
    return build()
