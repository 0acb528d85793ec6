"""An app with the Amazon app configured, a merchant, and Amazon behind ``respx``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.config import AmazonSettings, Settings
from connector.db import models
from connector.runtime import Runtime
from connector.services import merchants
from tests.contract.amazon_store import FakeAmazon

SELLER = "A3AMZSELLER42"
APP_ID = "amzn1.application-oa2-client.5f7e1c2a9b0d4e6f8a1b2c3d4e5f6a7b"
APP_SECRET = "amzn1.oa2-cs.v1.lwa-client-secret"
SOLUTION = "amzn1.sp.solution.2a3b4c5d-6e7f-8a9b-0c1d-2e3f4a5b6c7d"
REFRESH = "Atzr|IwEBIRefreshTokenForTheSeller"
GERMANY = "A1PA6795UKMFR9"
MERCHANT = "Nordic Knits"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(amazon=AmazonSettings(APP_ID, APP_SECRET, SOLUTION, draft=True))


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchants.create_merchant(session, MERCHANT, "EUR")
    return runtime


@pytest.fixture
def amazon() -> Iterator[FakeAmazon]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        fake = FakeAmazon(SELLER, APP_ID, APP_SECRET, refresh_tokens={REFRESH})
        fake.install(router)
        yield fake


def link(runtime: Runtime, refresh_token: str = REFRESH) -> int:
    """The seller's account linked to the merchant, as ``stores add amazon`` would."""
    with runtime.db.transaction() as session:
        merchant = merchants.merchant_by_name(session, MERCHANT)
        store = merchants.link_store(
            session,
            runtime.vault,
            merchant,
            "amazon",
            SELLER,
            secrets={"refresh_token": refresh_token},
            settings={"region": "eu", "marketplace_ids": [GERMANY]},
        )
        return store.id


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The process ids of the processes the imports fork (SQLite's builder, PostgreSQL's
    writer)."""
    forked: list[int] = []
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recorded)
    return forked


def gone(pids: list[int]) -> bool:
    """Whether each of these processes has ended and been reaped."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


def line_keys(session: Session, rma: str) -> set[str]:
    """The keys (RMA and SKU) of a stored return's lines."""
    return set(
        session.scalars(
            select(models.ReturnLine.external_id)
            .join(models.Return)
            .where(models.Return.external_id == rma)
        )
    )
