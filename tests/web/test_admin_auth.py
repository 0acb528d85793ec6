"""Signing in to the back office: argon2id passwords, one message for every wrong answer,
sessions that end, forms that need their CSRF token, and a user who sees only their merchant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.db import models
from connector.errors import ValidationError
from connector.services import merchants, users

PASSWORD = "correct horse battery staple"


@pytest.fixture
def user(app: Flask) -> str:
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Bench Co")
        users.create_user(session, merchant, "Ops@Bench.example", PASSWORD, "Olu")
    return "ops@bench.example"


def _token(client: FlaskClient) -> str:
    page = client.get("/admin/sign-in").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the sign-in form carries a CSRF token"
    return found.group(1)


def _sign_in(client: FlaskClient, email: str, password: str, next_: str = "") -> object:
    return client.post(
        "/admin/sign-in",
        data={"email": email, "password": password, "csrf_token": _token(client), "next": next_},
    )


def test_passwords_are_stored_as_argon2id_hashes(app: Flask, user: str) -> None:
    with app.extensions["helloword"].db.session() as session:
        stored = session.scalars(select(models.User.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_short_password_or_a_second_account_is_refused(app: Flask, user: str) -> None:
    with app.extensions["helloword"].db.transaction() as session:
        merchant = session.scalars(select(models.Merchant)).one()
        with pytest.raises(ValidationError, match="at least 12"):
            users.create_user(session, merchant, "new@bench.example", "short")
        with pytest.raises(ValidationError, match="already has an account"):
            users.create_user(session, merchant, user.upper(), PASSWORD)


def test_signing_in_opens_a_session_and_returns_where_the_user_was_going(
    client: FlaskClient, user: str
) -> None:
    response = _sign_in(client, user, PASSWORD, next_="/admin/somewhere")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/somewhere"
    with client.session_transaction() as session:
        assert session["user_id"] and session.permanent


@pytest.mark.parametrize("email", ["ops@bench.example", "nobody@bench.example"])
def test_a_wrong_email_or_password_gets_one_message(client: FlaskClient, user: str, email: str):
    response = _sign_in(client, email, "not the password at all")
    assert response.status_code == 401
    assert "do not match an account" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, user: str) -> None:
    response = client.post("/admin/sign-in", data={"email": user, "password": PASSWORD})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_an_offsite_next_is_not_followed(client: FlaskClient, user: str) -> None:
    response = _sign_in(client, user, PASSWORD, next_="//evil.example/admin")
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    ("signed_in_hours_ago", "seen_minutes_ago"), [(9, 1), (1, 61)], ids=["too long", "idle"]
)
def test_a_session_ends_after_its_lifetime_or_when_idle(
    client: FlaskClient, user: str, signed_in_hours_ago: int, seen_minutes_ago: int
) -> None:
    _sign_in(client, user, PASSWORD)
    now = datetime.now(UTC)
    with client.session_transaction() as session:
        session["signed_in_at"] = (now - timedelta(hours=signed_in_hours_ago)).timestamp()
        session["seen_at"] = (now - timedelta(minutes=seen_minutes_ago)).timestamp()

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/sign-in")


def test_the_sandbox_comes_with_a_back_office_account(app: Flask) -> None:
    from connector.demo import bootstrap

    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=1)
        again = bootstrap(runtime, orders=1)

    assert again.admin_password == setup.admin_password  # made once, kept
    kept = runtime.settings.instance_path / "sandbox-admin-password"
    assert kept.stat().st_mode & 0o077 == 0
    with runtime.db.transaction() as session:
        user = users.authenticate(session, setup.admin_email, setup.admin_password)
        assert user is not None and user.merchant_id == setup.merchant_id


@pytest.mark.parametrize(
    ("redis_url", "expected"),
    [
        ("redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/3"),
        ("unix:///srv/instance/redis.sock", "redis+unix:///srv/instance/redis.sock"),
        ("", "redis+unix:///srv/instance/redis.sock"),
    ],
)
def test_rate_limits_count_in_the_apps_redis_however_it_is_reached(
    redis_url: str, expected: str
) -> None:
    from pathlib import Path

    from connector.config import Settings
    from connector.web.ui import _limits_uri

    settings = Settings(Path("/srv/instance"), "sqlite://", redis_url, "k", ("k",))
    assert _limits_uri(settings) == expected
