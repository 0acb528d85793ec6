"""Fixtures shared by every suite: a real database (PostgreSQL by default, SQLite when
``HELLOWORD_TEST_DATABASE=sqlite``), a real Redis, and the app built from them.

Each pytest-xdist worker gets its own PostgreSQL database and its own Redis database number,
so workers never see each other's rows or jobs. Tables are emptied between tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import create_engine, text

from connector import create_app
from connector.config import Settings
from connector.db.models import Base
from migrations import upgrade

PG_ADMIN_URL = os.environ.get(
    "HELLOWORD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_BASE_URL = os.environ.get("HELLOWORD_TEST_REDIS", "redis://127.0.0.1:6379")
TEST_KEY = Fernet.generate_key().decode()


def _worker_number(worker_id: str) -> int:
    return int(worker_id[2:]) if worker_id.startswith("gw") else 0


@pytest.fixture(scope="session")
def database_url(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("HELLOWORD_TEST_DATABASE", "postgresql") == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'helloword.sqlite3'}"
        upgrade(url)
        yield url
        return
    name = f"helloword_test_{_worker_number(worker_id)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url(worker_id: str) -> str:
    return f"{REDIS_BASE_URL}/{1 + _worker_number(worker_id) % 15}"


@pytest.fixture
def clean_state(database_url: str, redis_url: str) -> Iterator[None]:
    """Empty every table and the Redis database before the test."""
    engine = create_engine(database_url)
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())
            connection.execute(text("DELETE FROM sqlite_sequence"))
    engine.dispose()
    Redis.from_url(redis_url).flushdb()
    yield


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str, clean_state: None) -> Settings:
    instance = tmp_path / "instance"
    instance.mkdir()
    return Settings(
        instance_path=instance,
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key",
        encryption_keys=(TEST_KEY,),
        public_url="http://helloword.test",
        queue_name="helloword",
        testing=True,
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    runtime = app.extensions["helloword"]
    runtime.db.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
