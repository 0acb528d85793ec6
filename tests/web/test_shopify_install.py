"""Installing Helloword as a Shopify app, end to end on PostgreSQL and Redis: the install link,
the signed callback, the embedded admin's session token, and the jobs that follow — webhook
subscriptions and the import of 90 days of orders, on tokens refreshed before they expire.

Shopify's token endpoint is stubbed with ``responses``; its GraphQL Admin API is the stateful
stand-in of the contract suite."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select

from connector.config import Settings, ShopifySettings
from connector.db import models
from connector.runtime import Runtime
from connector.services import installs, merchants
from tests.contract.shopify_store import FakeShopify, Line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_oauth"
API_KEY = "5f2a9c1e7b3d4a6f8e0c2b4d6a8f0e1c"
SECRET = "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"
SHOP = "acme-outfitters.myshopify.com"
TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
GRAPHQL_URL = f"https://{SHOP}/admin/api/2025-10/graphql.json"
PUBLIC_URL = "https://helloword.test"
GRANTED = json.loads((FIXTURES / "access_token_expiring.json").read_text())
REFRESHED = json.loads((FIXTURES / "access_token_refreshed.json").read_text())
LINES = [Line("Linen Overshirt", "LIN-OVR-M", 1, "49.50", "54.00", hs_code="620530", origin="PT")]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a Shopify app configured and a public HTTPS address."""
    return settings.with_(
        public_url=PUBLIC_URL, shopify=ShopifySettings(api_key=API_KEY, api_secret=SECRET)
    )


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["helloword"]
    return runtime


@pytest.fixture
def shopify() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def signed(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    message = "&".join(sorted(f"{key}={value}" for key, value in params.items()))
    return {
        **params,
        "hmac": hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest(),
    }


def start_install(client: FlaskClient, shop: str = SHOP) -> str:
    """Follow the install link; the state Shopify's consent page will send back."""
    response = client.get(f"/shopify/install?shop={shop}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlparse(response.headers["Location"]).query)["state"][0]


def callback_query(
    state: str, *, shop: str = SHOP, age: timedelta = timedelta(0)
) -> dict[str, str]:
    return signed(
        {
            "code": "0907a61c0c8d55e99db179b68161bc00",
            "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZS1vdXRmaXR0ZXJz",
            "shop": shop,
            "state": state,
            "timestamp": str(int(time.time() - age.total_seconds())),
        }
    )


def come_back(client: FlaskClient, query: dict[str, str]) -> Any:
    return client.get(
        "/shopify/callback", query_string=query, headers={"Accept": "application/json"}
    )


def grant_tokens(shopify: responses.RequestsMock, answer: Any = None, status: int = 200) -> None:
    shopify.post(TOKEN_URL, status=status, json=GRANTED if answer is None else answer)
    shopify.post(GRAPHQL_URL, json=fixture("shop_details.json"))


def count(runtime: Runtime, model: type[models.Base]) -> int:
    with runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def the_store(runtime: Runtime) -> tuple[models.Store, dict[str, Any]]:
    with runtime.db.session() as session:
        store = session.scalars(select(models.Store).where(models.Store.external_id == SHOP)).one()
        return store, runtime.vault.open(store.credentials)


def queued(runtime: Runtime) -> list[str]:
    return sorted(runtime.queue.get_job_ids())


def work(app: Flask) -> None:
    runtime = app.extensions["helloword"]
    with app.app_context():
        SimpleWorker([runtime.queue], connection=runtime.redis).work(
            burst=True, logging_level="ERROR"
        )


def session_token(secret: str = SECRET, **changes: Any) -> str:
    now = int(time.time())
    payload = {**fixture("session_token_payload.json"), "exp": now + 60, "nbf": now, "iat": now}
    return jwt.encode({**payload, **changes}, secret, algorithm="HS256")


def recent(days: int) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the install link ---------------------------------------------------------------------


def test_the_install_link_sends_the_merchant_to_shopifys_consent_page(
    client: FlaskClient, runtime: Runtime
) -> None:
    response = client.get("/shopify/install?shop=Acme-Outfitters.myshopify.com")

    assert response.status_code == 302
    consent = urlparse(response.headers["Location"])
    query = parse_qs(consent.query)
    assert (consent.scheme, consent.netloc, consent.path) == (
        "https",
        SHOP,
        "/admin/oauth/authorize",
    )
    assert query["client_id"] == [API_KEY]
    assert query["scope"] == [",".join(runtime.settings.shopify.scopes)]
    assert query["redirect_uri"] == [f"{PUBLIC_URL}/shopify/callback"]
    state = query["state"][0]
    assert len(state) >= 32
    key = f"helloword:shopify:oauth-state:{state}"
    assert runtime.redis.get(key) == SHOP.encode()
    assert 0 < runtime.redis.ttl(key) <= 600


@pytest.mark.parametrize(
    "shop", ["acme.com", "https://acme.myshopify.com", "acme.myshopify.com.evil.example", ""]
)
def test_the_install_link_refuses_what_is_not_a_shop_domain(
    client: FlaskClient, runtime: Runtime, shop: str
) -> None:
    response = client.get(
        "/shopify/install", query_string={"shop": shop}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 400
    assert "myshopify.com" in response.json["error"]
    assert runtime.redis.keys("helloword:shopify:oauth-state:*") == []


def test_the_install_link_explains_itself_to_a_browser(client: FlaskClient) -> None:
    response = client.get("/shopify/install?shop=<script>.com", headers={"Accept": "text/html"})

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "<script>" not in response.get_data(as_text=True)


def test_an_installation_without_a_shopify_app_says_what_to_set(
    app: Flask, client: FlaskClient
) -> None:
    runtime: Runtime = app.extensions["helloword"]
    runtime.settings = runtime.settings.with_(shopify=ShopifySettings())

    response = client.get(f"/shopify/install?shop={SHOP}", headers={"Accept": "application/json"})

    assert response.status_code == 503
    assert "SHOPIFY_API_KEY" in response.json["error"]


# --- the callback -----------------------------------------------------------------------


def test_the_callback_links_the_store_with_sealed_expiring_credentials(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    state = start_install(client)

    response = come_back(client, callback_query(state))

    assert response.status_code == 200, response.json
    assert response.json["status"] == "linked"
    assert response.json["merchant"] == SHOP
    exchange = json.loads(shopify.calls[0].request.body)
    assert exchange == {
        "client_id": API_KEY,
        "client_secret": SECRET,
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "expiring": "1",
    }
    store, secrets = the_store(runtime)
    assert store.id == response.json["store_id"]
    assert (store.name, store.status) == ("Acme Outfitters", "active")
    assert set(secrets) == {
        "access_token",
        "scope",
        "expires_at",
        "refresh_token",
        "refresh_token_expires_at",
        "api_secret",
    }
    assert secrets["access_token"] == GRANTED["access_token"]
    assert secrets["refresh_token"] == GRANTED["refresh_token"]
    assert secrets["api_secret"] == SECRET
    expires_at = datetime.fromisoformat(secrets["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert GRANTED["access_token"] not in store.credentials
    assert store.settings == {
        "api_version": "2025-10",
        "backfill": {"status": "queued", "orders": 0, "days": 90},
        "webhooks": {"status": "queued"},
    }
    with runtime.db.session() as session:
        merchant = session.get_one(models.Merchant, store.merchant_id)
        assert (merchant.name, merchant.currency) == (SHOP, "EUR")
    jobs = queued(runtime)
    assert [job.split("-")[0] for job in jobs] == ["backfill_orders", "register_webhooks"]


def test_a_browser_is_told_the_store_is_linked(
    client: FlaskClient, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    state = start_install(client)

    response = client.get("/shopify/callback", query_string=callback_query(state))

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert f"{SHOP} is linked to Helloword" in response.get_data(as_text=True)


def test_a_shop_whose_currency_is_unknown_gets_a_merchant_in_usd(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    shopify.post(TOKEN_URL, json=GRANTED)
    shopify.post(GRAPHQL_URL, status=503, body="unavailable")

    response = come_back(client, callback_query(start_install(client)))

    assert response.status_code == 200
    store, _ = the_store(runtime)
    with runtime.db.session() as session:
        assert session.get_one(models.Merchant, store.merchant_id).currency == "USD"
    assert store.name == SHOP


def test_reinstalling_keeps_the_merchant_and_the_stores_settings(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, "Acme Outfitters Ltd", "GBP")
        uninstalled = merchants.link_store(
            session,
            runtime.vault,
            merchant,
            "shopify",
            SHOP,
            name="Acme",
            secrets={"access_token": "shpat_revoked"},
            settings={"location_id": "gid://shopify/Location/1"},
        )
        uninstalled.status = "uninstalled"
    grant_tokens(shopify)

    response = come_back(client, callback_query(start_install(client)))

    assert response.json["merchant"] == "Acme Outfitters Ltd"
    store, secrets = the_store(runtime)
    assert store.status == "active"
    assert store.settings["location_id"] == "gid://shopify/Location/1"
    assert secrets["access_token"] == GRANTED["access_token"]
    assert count(runtime, models.Merchant) == 1


def test_a_callback_with_a_bad_hmac_is_refused_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    state = start_install(client)
    forged = signed({**callback_query(state), "hmac": ""}, "not-the-app-secret")

    response = come_back(client, forged)

    assert response.status_code == 401
    assert "not signed by Shopify" in response.json["error"]
    assert len(shopify.calls) == 0
    assert count(runtime, models.Store) == 0
    assert count(runtime, models.Merchant) == 0
    assert queued(runtime) == []


def test_a_callback_altered_after_signing_is_refused(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    query = callback_query(start_install(client))

    response = come_back(client, {**query, "code": "an-attackers-code"})

    assert response.status_code == 401
    assert len(shopify.calls) == 0
    assert count(runtime, models.Store) == 0


def test_a_callback_more_than_a_day_old_is_refused(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    query = callback_query(start_install(client), age=timedelta(hours=25))

    response = come_back(client, query)

    assert response.status_code == 401
    assert len(shopify.calls) == 0
    assert count(runtime, models.Store) == 0


def test_a_state_this_installation_never_issued_is_refused(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    start_install(client)

    response = come_back(client, callback_query("a-state-from-elsewhere"))

    assert response.status_code == 401
    assert "state" in response.json["error"]
    assert len(shopify.calls) == 0
    assert count(runtime, models.Store) == 0


def test_a_replayed_callback_is_refused_and_the_code_exchanged_once(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    query = callback_query(start_install(client))
    assert come_back(client, query).status_code == 200

    replay = come_back(client, query)

    assert replay.status_code == 401
    assert "already used" in replay.json["error"]
    assert [call.request.url for call in shopify.calls].count(TOKEN_URL) == 1
    assert count(runtime, models.Store) == 1


def test_a_state_issued_for_another_shop_is_refused(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    state = start_install(client, "other-shop.myshopify.com")

    response = come_back(client, callback_query(state))

    assert response.status_code == 401
    assert count(runtime, models.Store) == 0


@pytest.mark.parametrize("status", [500, 503])
def test_a_code_exchange_shopify_fails_to_answer_stores_nothing(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock, status: int
) -> None:
    shopify.post(TOKEN_URL, status=status, body="upstream trouble")

    response = come_back(client, callback_query(start_install(client)))

    assert response.status_code == 502
    assert f"HTTP {status}" in response.json["error"]
    assert "start the install again" in response.json["error"]
    assert count(runtime, models.Store) == 0
    assert count(runtime, models.Merchant) == 0
    assert queued(runtime) == []


def test_a_code_shopify_refuses_is_a_bad_request(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    shopify.post(TOKEN_URL, status=400, json=fixture("code_already_used.json"))

    response = come_back(client, callback_query(start_install(client)))

    assert response.status_code == 400
    assert "already used" in response.json["error"]
    assert count(runtime, models.Store) == 0


# --- the embedded admin ----------------------------------------------------------------------


def test_a_session_token_links_a_new_shop_by_token_exchange(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    token = session_token()

    response = client.post("/shopify/session", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.json
    assert response.json["token_exchanged"] is True
    exchange = json.loads(shopify.calls[0].request.body)
    assert exchange["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert exchange["subject_token"] == token
    assert exchange["requested_token_type"] == (
        "urn:shopify:params:oauth:token-type:offline-access-token"
    )
    assert exchange["expiring"] == "1"
    store, secrets = the_store(runtime)
    assert store.id == response.json["store_id"]
    assert secrets["refresh_token"] == GRANTED["refresh_token"]
    assert secrets["api_secret"] == SECRET
    assert len(queued(runtime)) == 2


def test_a_linked_shop_keeps_its_token_when_the_admin_opens(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    grant_tokens(shopify)
    headers = {"Authorization": f"Bearer {session_token()}"}
    first = client.post("/shopify/session", headers=headers)
    calls = len(shopify.calls)

    again = client.post("/shopify/session", headers=headers)

    assert again.status_code == 200
    assert again.json == {
        "status": "linked",
        "shop": SHOP,
        "store_id": first.json["store_id"],
        "token_exchanged": False,
    }
    assert len(shopify.calls) == calls


@pytest.mark.parametrize(
    "authorization",
    [
        lambda: f"Bearer {session_token(secret='shpss_a_secret_only_an_attacker_knows_0000')}",
        lambda: f"Bearer {session_token(exp=int(time.time()) - 120)}",
        lambda: f"Bearer {session_token(aud='the-client-id-of-another-app')}",
        lambda: session_token(),
        lambda: "",
    ],
    ids=["forged", "expired", "another-app", "no-bearer", "missing"],
)
def test_a_forged_expired_or_missing_session_token_is_refused(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock, authorization: Any
) -> None:
    grant_tokens(shopify)

    response = client.post("/shopify/session", headers={"Authorization": authorization()})

    assert response.status_code == 401
    assert "session token refused" in response.json["error"]
    assert len(shopify.calls) == 0
    assert count(runtime, models.Store) == 0


def test_a_session_token_shopify_will_not_exchange_links_nothing(
    client: FlaskClient, runtime: Runtime, shopify: responses.RequestsMock
) -> None:
    shopify.post(TOKEN_URL, status=400, json=fixture("invalid_subject_token.json"))

    response = client.post(
        "/shopify/session", headers={"Authorization": f"Bearer {session_token()}"}
    )

    assert response.status_code == 400
    assert "invalid_subject_token" in response.json["error"]
    assert count(runtime, models.Store) == 0


# --- the jobs an install queues ----------------------------------------------------------------


@pytest.fixture
def installed(client: FlaskClient, runtime: Runtime) -> int:
    """A store linked by the callback, its two jobs queued and not yet run."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        grant_tokens(mock)
        response = come_back(client, callback_query(start_install(client)))
    assert response.status_code == 200, response.json
    return int(response.json["store_id"])


def shop_with_orders(mock: responses.RequestsMock, token: str, recent_orders: int) -> FakeShopify:
    fake = FakeShopify(SHOP, token)
    fake.install(mock)
    fake.add_order(LINES, updated_at=recent(200))  # before the 90 days
    for n in range(recent_orders):
        fake.add_order(LINES, updated_at=recent(80 - n % 80))
    return fake


def test_an_install_subscribes_the_webhooks_and_imports_90_days_of_orders(
    app: Flask, client: FlaskClient, runtime: Runtime, installed: int
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = shop_with_orders(mock, GRANTED["access_token"], recent_orders=55)
        work(app)

    assert {s["uri"] for s in fake.subscriptions} == {f"{PUBLIC_URL}/webhooks/shopify"}
    assert len(fake.subscriptions) == 12
    store, _ = the_store(runtime)
    assert store.settings["webhooks"]["status"] == "registered"
    assert "RETURNS_REQUEST" in store.settings["webhooks"]["topics"]
    progress = store.settings["backfill"]
    assert progress["status"] == "done"
    assert progress["orders"] == 55
    since = datetime.fromisoformat(progress["since"])
    assert abs(since - (datetime.now(UTC) - timedelta(days=90))) < timedelta(minutes=5)
    assert datetime.fromisoformat(progress["finished_at"]) <= datetime.now(UTC)
    assert count(runtime, models.Order) == 55
    assert FailedJobRegistry(queue=runtime.queue).get_job_ids() == []

    with runtime.db.transaction() as session:
        merchant = session.get_one(models.Merchant, store.merchant_id)
        _, key = merchants.create_api_key(session, merchant)
    listed = client.get("/api/v1/stores", headers={"Authorization": f"Bearer {key}"}).json
    assert listed[0]["backfill"]["status"] == "done"
    assert listed[0]["backfill"]["orders"] == 55
    assert "access_token" not in json.dumps(listed)


def test_a_backfill_that_stops_keeps_the_batches_it_committed(
    app: Flask, runtime: Runtime, installed: int
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = shop_with_orders(mock, GRANTED["access_token"], recent_orders=60)
        fake.page_size = 50
        first_page = [{"id": node_id} for node_id in list(fake.orders)[1:51]]
        fake.inject(
            "OrderIds",
            (
                200,
                {
                    "data": {
                        "orders": {
                            "pageInfo": {"hasNextPage": True, "endCursor": "order:51"},
                            "nodes": first_page,
                        }
                    }
                },
            ),
            (401, {"errors": "[API] Invalid API key or access token"}),
        )
        work(app)

    store, _ = the_store(runtime)
    progress = store.settings["backfill"]
    assert progress["status"] == "failed"
    assert progress["orders"] == 50
    assert "refused the access token" in progress["error"]
    assert count(runtime, models.Order) == 50
    failed = FailedJobRegistry(queue=runtime.queue).get_job_ids()
    assert [job.split("-")[0] for job in failed] == ["backfill_orders"]


def test_webhooks_shopify_refuses_are_shown_on_the_store(
    app: Flask, runtime: Runtime, installed: int
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = shop_with_orders(mock, GRANTED["access_token"], recent_orders=1)
        fake.inject(
            "WebhookSubscriptions", (403, {"errors": "Access denied for webhookSubscriptions"})
        )
        work(app)

    store, _ = the_store(runtime)
    assert store.settings["webhooks"]["status"] == "failed"
    assert "Access denied" in store.settings["webhooks"]["error"]
    assert store.settings["backfill"]["status"] == "done"


# --- expiring tokens --------------------------------------------------------------------------


def expire_soon(runtime: Runtime, store_id: int, within: timedelta) -> None:
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, store_id)
        secrets = runtime.vault.open(store.credentials)
        secrets["expires_at"] = (datetime.now(UTC) + within).isoformat(timespec="seconds")
        store.credentials = runtime.vault.seal(secrets)


def test_a_token_about_to_expire_is_refreshed_before_the_backfill_uses_it(
    app: Flask, runtime: Runtime, installed: int
) -> None:
    expire_soon(runtime, installed, timedelta(minutes=2))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json=REFRESHED)
        shop_with_orders(mock, REFRESHED["access_token"], recent_orders=3)
        work(app)
        refreshes = [c for c in mock.calls if c.request.url == TOKEN_URL]

    assert len(refreshes) == 1  # once, though both jobs needed the token
    assert json.loads(refreshes[0].request.body) == {
        "client_id": API_KEY,
        "client_secret": SECRET,
        "grant_type": "refresh_token",
        "refresh_token": GRANTED["refresh_token"],
    }
    store, secrets = the_store(runtime)
    assert secrets["access_token"] == REFRESHED["access_token"]
    assert secrets["refresh_token"] == REFRESHED["refresh_token"]
    assert secrets["api_secret"] == SECRET
    assert datetime.fromisoformat(secrets["expires_at"]) > datetime.now(UTC) + timedelta(minutes=55)
    assert (
        store.settings["backfill"] | {"orders": 3, "status": "done"} == store.settings["backfill"]
    )


def test_a_token_with_time_left_is_used_as_it_is(
    app: Flask, runtime: Runtime, installed: int
) -> None:
    expire_soon(runtime, installed, timedelta(minutes=30))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        shop_with_orders(mock, GRANTED["access_token"], recent_orders=2)
        work(app)
        assert all(c.request.url != TOKEN_URL for c in mock.calls)

    store, secrets = the_store(runtime)
    assert secrets["access_token"] == GRANTED["access_token"]
    assert store.settings["backfill"]["status"] == "done"


def test_a_refresh_shopify_refuses_fails_the_job_and_keeps_the_credentials(
    app: Flask, runtime: Runtime, installed: int
) -> None:
    expire_soon(runtime, installed, timedelta(minutes=-10))
    _, before = the_store(runtime)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, status=400, json=fixture("invalid_grant.json"))
        work(app)

    store, after = the_store(runtime)
    assert after == before
    assert store.settings["backfill"]["status"] == "failed"
    assert "invalid_grant" in store.settings["backfill"]["error"]
    assert store.settings["webhooks"]["status"] == "failed"
    assert len(FailedJobRegistry(queue=runtime.queue).get_job_ids()) == 2


def test_a_refresh_during_a_shopify_outage_is_retried_later(
    app: Flask, runtime: Runtime, installed: int
) -> None:
    expire_soon(runtime, installed, timedelta(minutes=1))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, status=503, body="unavailable")
        work(app)

    store, _ = the_store(runtime)
    assert store.settings["backfill"]["status"] == "retrying"
    assert store.settings["backfill"]["retry_in"] == 5.0
    retries = ScheduledJobRegistry(queue=runtime.queue).get_job_ids()
    assert sorted(job.split("-")[0] for job in retries) == ["backfill_orders", "register_webhooks"]
    assert FailedJobRegistry(queue=runtime.queue).get_job_ids() == []


class Refresher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def refresh(self, shop: str, refresh_token: str) -> Any:
        from platforms.shopify.oauth import AccessGrant

        self.calls.append((shop, refresh_token))
        return AccessGrant("shpat_next", "read_orders", datetime.now(UTC) + timedelta(hours=1))


def test_fresh_credentials_drop_what_the_old_grant_said_of_its_expiry(
    runtime: Runtime, installed: int
) -> None:
    expire_soon(runtime, installed, timedelta(seconds=30))
    refresher = Refresher()

    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, installed)
        fresh = installs.fresh_credentials(session, runtime.vault, store, refresher)

    assert refresher.calls == [(SHOP, GRANTED["refresh_token"])]
    assert fresh["access_token"] == "shpat_next"
    assert "refresh_token" not in fresh
    assert "refresh_token_expires_at" not in fresh
    assert fresh["api_secret"] == SECRET
    assert the_store(runtime)[1] == fresh


def test_an_expiring_token_nobody_can_refresh_is_a_permanent_error(
    runtime: Runtime, installed: int
) -> None:
    from connector.errors import PermanentError

    expire_soon(runtime, installed, timedelta(seconds=30))
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, installed)
        with pytest.raises(PermanentError, match="cannot refresh it"):
            installs.fresh_credentials(session, runtime.vault, store, None)
