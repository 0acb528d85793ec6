"""Linking an Amazon seller account through the website authorization workflow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select

from connector.db import models
from connector.runtime import Runtime
from tests.contract.amazon_store import FakeAmazon

from .conftest import GERMANY, SELLER, SOLUTION

JSON = {"Accept": "application/json"}


def authorize(client: FlaskClient, region: str = "eu") -> dict[str, list[str]]:
    answer = client.get(f"/amazon/authorize?region={region}")
    assert answer.status_code == 302
    url = urlsplit(answer.headers["Location"])
    assert url.netloc == "sellercentral-europe.amazon.com"
    assert url.path == "/apps/authorize/consent"
    return parse_qs(url.query)


def stores(runtime: Runtime) -> list[models.Store]:
    with runtime.db.session() as session:
        return list(session.scalars(select(models.Store)))


def test_a_seller_who_consents_is_linked_with_the_marketplaces_they_sell_in(
    client: FlaskClient, runtime: Runtime, amazon: FakeAmazon
) -> None:
    query = authorize(client)
    assert query["application_id"] == [SOLUTION]
    assert query["version"] == ["beta"]
    assert query["redirect_uri"] == ["http://helloword.test/amazon/callback"]
    amazon.codes["ANcode123"] = "Atzr|NewRefreshToken"
    amazon.redirect_uris.add("http://helloword.test/amazon/callback")

    answer = client.get(
        "/amazon/callback",
        query_string={
            "state": query["state"][0],
            "selling_partner_id": SELLER,
            "spapi_oauth_code": "ANcode123",
        },
        headers=JSON,
    )

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["marketplace_ids"] == [GERMANY]
    [store] = stores(runtime)
    assert (store.platform, store.external_id, store.status) == ("amazon", SELLER, "active")
    assert store.settings["region"] == "eu"
    assert store.settings["marketplace_ids"] == [GERMANY]
    secrets = runtime.vault.open(store.credentials)
    assert secrets == {"refresh_token": "Atzr|NewRefreshToken"}  # the app's LWA client is not kept
    assert "Atzr|NewRefreshToken" not in store.credentials
    queued = runtime.queue.job_ids
    assert any(job.startswith("import_amazon_returns") for job in queued)
    with runtime.db.session() as session:
        merchant = session.get_one(models.Merchant, store.merchant_id)
    assert merchant.name == SELLER


def test_a_callback_with_an_unknown_or_spent_state_is_refused_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, amazon: FakeAmazon
) -> None:
    query = authorize(client)
    amazon.codes["ANcode123"] = "Atzr|NewRefreshToken"
    forged = {"state": "made-up", "selling_partner_id": SELLER, "spapi_oauth_code": "ANcode123"}
    assert client.get("/amazon/callback", query_string=forged).status_code == 401

    good = {**forged, "state": query["state"][0]}
    assert client.get("/amazon/callback", query_string=good).status_code == 200
    assert client.get("/amazon/callback", query_string=good).status_code == 401  # spent
    assert len(stores(runtime)) == 1


def test_a_code_amazon_does_not_take_is_a_400_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, amazon: FakeAmazon
) -> None:
    query = authorize(client)

    answer = client.get(
        "/amazon/callback",
        query_string={
            "state": query["state"][0],
            "selling_partner_id": SELLER,
            "spapi_oauth_code": "ANnotissued",
        },
        headers=JSON,
    )

    assert answer.status_code == 400
    assert "authorization code" in answer.get_json()["error"]
    assert stores(runtime) == []


def test_an_unknown_region_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    assert client.get("/amazon/authorize?region=moon").status_code == 400
