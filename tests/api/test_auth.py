"""Every endpoint under /api/v1 needs a live API key, sent as a bearer token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector.db import models
from connector.services import merchants

from .support import Caller, Tenant

ENDPOINTS = [
    ("GET", "/api/v1/stores"),
    ("POST", "/api/v1/stores"),
    ("GET", "/api/v1/orders"),
    ("GET", "/api/v1/orders/1"),
    ("GET", "/api/v1/returns"),
    ("POST", "/api/v1/returns"),
    ("GET", "/api/v1/returns/1"),
    ("GET", "/api/v1/returns/1/label.pdf"),
    ("POST", "/api/v1/returns/1/cancel"),
    ("GET", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/1"),
]


def _assert_unauthorized(response, invalid_token: bool) -> None:
    assert response.status_code == 401
    assert response.json["code"] == 401
    assert response.json["status"] == "Unauthorized"
    assert response.json["message"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert ('error="invalid_token"' in challenge) is invalid_token


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_a_request_without_a_key(client, tenant_a, method, path):
    response = client.open(path, method=method, json={})
    _assert_unauthorized(response, invalid_token=False)


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token hw_abc", "hw_abc"],
    ids=["basic", "bearer-without-key", "bearer-blank", "other-scheme", "bare-key"],
)
def test_a_malformed_authorization_header_is_refused(client, tenant_a, header):
    response = client.get("/api/v1/stores", headers={"Authorization": header})
    _assert_unauthorized(response, invalid_token=False)


@pytest.mark.parametrize("key", ["hw_not-a-real-key", "sk_live_something_else"])
def test_an_unknown_key_is_refused(client, tenant_a, key):
    response = client.get("/api/v1/stores", headers={"Authorization": f"Bearer {key}"})
    _assert_unauthorized(response, invalid_token=True)


def test_a_revoked_key_is_refused(client, runtime, tenant_a: Tenant):
    with runtime.db.transaction() as session:
        merchant = session.get_one(models.Merchant, tenant_a.merchant_id)
        key_id = session.scalar(
            select(models.ApiKey.id).where(models.ApiKey.merchant_id == merchant.id)
        )
        merchants.revoke_api_key(session, merchant, key_id)
    response = client.get("/api/v1/stores", headers=tenant_a.headers)
    _assert_unauthorized(response, invalid_token=True)


def test_a_live_key_is_accepted_and_its_last_use_recorded(runtime, a: Caller):
    assert a.get("/api/v1/stores").status_code == 200
    with runtime.db.session() as session:
        key = session.scalars(select(models.ApiKey)).one()
    assert key.last_used_at is not None


def test_the_ledger_names_the_key_that_acted(runtime, a: Caller):
    return_id = a.new_return_id()
    ledger = a.get(f"/api/v1/returns/{return_id}").json["ledger"]
    assert ledger[0]["actor"] == "api:tests"


def test_the_openapi_document_and_its_page_need_no_key(client):
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs").status_code == 200
