"""Linking stores: the platform must be one Helloword has an adapter for, and the secrets go
into the vault and never come back out."""

from __future__ import annotations

from sqlalchemy import select

from connector.db import models

from .support import Caller


def test_linking_a_store_answers_201_with_the_store(a: Caller):
    response = a.post(
        "/api/v1/stores",
        json={
            "platform": "sandbox",
            "external_id": "second.sandbox",
            "name": "Second shop",
            "secrets": {"token": "very-secret"},
            "settings": {"locale": "de"},
        },
    )
    assert response.status_code == 201
    store = response.json
    assert store["platform"] == "sandbox"
    assert store["external_id"] == "second.sandbox"
    assert store["name"] == "Second shop"
    assert store["settings"] == {"locale": "de"}
    assert store["status"] == "active"
    assert "secrets" not in store
    assert "credentials" not in store
    assert a.get(f"/api/v1/stores/{store['id']}").json == store


def test_secrets_are_sealed_in_the_vault_and_never_returned(runtime, a: Caller):
    response = a.post(
        "/api/v1/stores",
        json={"platform": "sandbox", "external_id": "s.sandbox", "secrets": {"token": "t0p"}},
    )
    with runtime.db.session() as session:
        sealed = session.scalar(
            select(models.Store.credentials).where(models.Store.id == response.json["id"])
        )
    assert "t0p" not in sealed
    assert runtime.vault.open(sealed) == {"token": "t0p"}
    assert "t0p" not in a.get("/api/v1/stores").get_data(as_text=True)


def test_a_platform_without_an_adapter_is_refused_by_name(a: Caller):
    response = a.post("/api/v1/stores", json={"platform": "myspace", "external_id": "x"})
    assert response.status_code == 422
    assert "myspace" in response.json["errors"]["json"]["platform"][0]


def test_a_store_needs_a_platform_and_its_id_there(a: Caller):
    response = a.post("/api/v1/stores", json={"name": "nameless"})
    assert response.status_code == 422
    assert response.json["status"] == "Unprocessable Entity"
    assert set(response.json["errors"]["json"]) == {"platform", "external_id"}


def test_the_store_list_is_the_merchants_stores(a: Caller):
    stores = a.get("/api/v1/stores").json
    assert [store["external_id"] for store in stores] == ["ana.sandbox"]
