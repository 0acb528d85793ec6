"""API keys: made with a name and shown once, listed without their secret, revoked for good."""

from __future__ import annotations

from .support import Caller


def test_a_new_key_is_shown_once_and_works(client, a: Caller):
    response = a.post("/api/v1/api-keys", json={"name": "warehouse scanner"})

    assert response.status_code == 201
    created = response.json
    assert created["name"] == "warehouse scanner"
    assert created["key"].startswith("hw_")
    assert created["key"].startswith(created["prefix"])
    assert created["revoked_at"] is None
    new_key = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/stores", headers=new_key).status_code == 200


def test_keys_are_listed_without_the_key_or_its_hash(a: Caller):
    created = a.post("/api/v1/api-keys", json={"name": "ci"}).json
    listed = a.get("/api/v1/api-keys")
    assert [key["name"] for key in listed.json] == ["tests", "ci"]
    for key in listed.json:
        assert set(key) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"}
    assert created["key"] not in listed.get_data(as_text=True)


def test_a_revoked_key_stops_working_at_once(client, a: Caller):
    created = a.post("/api/v1/api-keys", json={"name": "temporary"}).json
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/returns", headers=headers).status_code == 200

    response = a.delete(f"/api/v1/api-keys/{created['id']}")

    assert response.status_code == 204
    assert response.data == b""
    assert client.get("/api/v1/returns", headers=headers).status_code == 401
    revoked = next(key for key in a.get("/api/v1/api-keys").json if key["id"] == created["id"])
    assert revoked["revoked_at"] is not None


def test_a_key_can_revoke_itself(a: Caller):
    own = a.get("/api/v1/api-keys").json[0]["id"]
    assert a.delete(f"/api/v1/api-keys/{own}").status_code == 204
    assert a.get("/api/v1/api-keys").status_code == 401


def test_a_key_needs_a_name(a: Caller):
    response = a.post("/api/v1/api-keys", json={})
    assert response.status_code == 422
    assert "name" in response.json["errors"]["json"]


def test_revoking_an_unknown_key_is_404(a: Caller):
    assert a.delete("/api/v1/api-keys/999999").status_code == 404
