"""Shopify's OAuth as the app speaks it: the shop domain, the consent page, the signed callback,
the code exchange, App Bridge session tokens, token exchange and the refresh of expiring
offline tokens — against Shopify's token endpoint stubbed with ``responses``."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import responses

from connector.errors import PermanentError, RetryableError
from platforms.shopify.oauth import (
    AccessGrant,
    InvalidSessionToken,
    InvalidShop,
    ShopifyApp,
    sanitize_shop,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify_oauth"
API_KEY = "5f2a9c1e7b3d4a6f8e0c2b4d6a8f0e1c"
SECRET = "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"
SHOP = "acme-outfitters.myshopify.com"
TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def signed(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    """The query with Shopify's ``hmac``: hex HMAC-SHA256 of the sorted ``key=value`` pairs."""
    message = "&".join(sorted(f"{key}={value}" for key, value in params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {**params, "hmac": digest}


def session_token(secret: str = SECRET, **changes: Any) -> str:
    now = int(time.time())
    payload = {**fixture("session_token_payload.json"), "exp": now + 60, "nbf": now, "iat": now}
    payload.update(changes)
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture
def app() -> ShopifyApp:
    return ShopifyApp(API_KEY, SECRET, ("read_orders", "write_returns"), clock=lambda: NOW)


@pytest.fixture
def shopify() -> Any:
    with responses.RequestsMock() as mock:
        yield mock


def sent(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


# --- the shop domain ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "shop"),
    [
        ("acme-outfitters.myshopify.com", "acme-outfitters.myshopify.com"),
        ("Acme-Outfitters.MyShopify.com", "acme-outfitters.myshopify.com"),
        (" acme2.myshopify.com ", "acme2.myshopify.com"),
    ],
)
def test_a_myshopify_domain_is_accepted_in_lower_case(given: str, shop: str) -> None:
    assert sanitize_shop(given) == shop


@pytest.mark.parametrize(
    "given",
    [
        "",
        "acme-outfitters",
        "acme.com",
        "https://acme.myshopify.com",
        "acme.myshopify.com/admin",
        "acme.myshopify.com.evil.example",
        "evil.example/acme.myshopify.com",
        "-acme.myshopify.com",
        "acme_outfitters.myshopify.com",
        "acme.myshopify.com?x=1",
        "acme.myshopify.com\nHost: evil",
    ],
)
def test_anything_but_a_myshopify_domain_is_refused_by_name(given: str) -> None:
    with pytest.raises(InvalidShop, match=r"<name>\.myshopify\.com"):
        sanitize_shop(given)


# --- the consent page and the callback ----------------------------------------------------


def test_the_consent_url_asks_the_shop_for_the_scopes_with_the_state(app: ShopifyApp) -> None:
    url = urlparse(app.authorize_url(SHOP, "https://helloword.test/shopify/callback", "n0nce"))

    assert (url.scheme, url.netloc, url.path) == ("https", SHOP, "/admin/oauth/authorize")
    assert parse_qs(url.query) == {
        "client_id": [API_KEY],
        "scope": ["read_orders,write_returns"],
        "redirect_uri": ["https://helloword.test/shopify/callback"],
        "state": ["n0nce"],
    }


def test_the_documented_hmac_example_is_signed_as_the_tests_sign() -> None:
    example = fixture("hmac_example.json")
    query = dict(example["query"])
    given = query.pop("hmac")

    assert signed(query, example["secret"])["hmac"] == given


def test_a_fresh_callback_signed_by_the_app_verifies(app: ShopifyApp) -> None:
    params = signed(
        {
            "code": "0907a61c0c8d55e99db179b68161bc00",
            "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZS1vdXRmaXR0ZXJz",
            "shop": SHOP,
            "state": "n0nce",
            "timestamp": str(int(time.time())),
        }
    )
    assert app.verify_callback(params) is True


def test_a_callback_signed_with_another_secret_does_not_verify(app: ShopifyApp) -> None:
    params = signed({"code": "c", "shop": SHOP, "timestamp": str(int(time.time()))}, "other")
    assert app.verify_callback(params) is False


def test_a_callback_changed_after_signing_does_not_verify(app: ShopifyApp) -> None:
    params = signed({"code": "c", "shop": SHOP, "timestamp": str(int(time.time()))})
    assert app.verify_callback({**params, "shop": "evil.myshopify.com"}) is False


def test_a_callback_more_than_a_day_old_does_not_verify(app: ShopifyApp) -> None:
    example = fixture("hmac_example.json")  # correctly signed, in 2012
    documented = ShopifyApp(API_KEY, example["secret"])
    assert documented.verify_callback(example["query"]) is False

    old = str(int(time.time() - timedelta(hours=25).total_seconds()))
    assert app.verify_callback(signed({"code": "c", "shop": SHOP, "timestamp": old})) is False


@pytest.mark.parametrize(
    "params",
    [
        {"code": "c", "shop": SHOP},
        {"code": "c", "shop": SHOP, "timestamp": "yesterday"},
        {"code": "c", "shop": SHOP, "timestamp": "1767225600", "hmac": ["a", "b"]},
    ],
)
def test_a_callback_without_a_readable_timestamp_or_hmac_does_not_verify(
    app: ShopifyApp, params: dict[str, Any]
) -> None:
    assert app.verify_callback(params) is False


def test_checking_a_callback_leaves_shopify_api_global_session_alone(app: ShopifyApp) -> None:
    import shopify as shopify_api

    app.verify_callback(signed({"code": "c", "shop": SHOP, "timestamp": str(int(time.time()))}))
    assert shopify_api.Session.secret is None
    assert shopify_api.Session.api_key is None


# --- the code exchange --------------------------------------------------------------------


def test_the_code_is_exchanged_for_an_expiring_offline_token(app: ShopifyApp, shopify: Any) -> None:
    shopify.post(TOKEN_URL, json=fixture("access_token_expiring.json"))

    grant = app.exchange_code(SHOP, "0907a61c0c8d55e99db179b68161bc00")

    assert sent(shopify.calls[0]) == {
        "client_id": API_KEY,
        "client_secret": SECRET,
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "expiring": "1",
    }
    now = datetime.fromtimestamp(NOW, UTC)
    assert grant == AccessGrant(
        access_token="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",
        scope=fixture("access_token_expiring.json")["scope"],
        expires_at=now + timedelta(hours=1),
        refresh_token="shprt_7d2e91b0c4a84f6e9a3b5c1d8e0f2a64",
        refresh_token_expires_at=now + timedelta(days=90),
    )
    assert grant.secrets() == {
        "access_token": "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",
        "scope": grant.scope,
        "expires_at": "2026-01-01T01:00:00+00:00",
        "refresh_token": "shprt_7d2e91b0c4a84f6e9a3b5c1d8e0f2a64",
        "refresh_token_expires_at": "2026-04-01T00:00:00+00:00",
    }


def test_a_token_that_does_not_expire_keeps_no_expiry(app: ShopifyApp, shopify: Any) -> None:
    shopify.post(TOKEN_URL, json=fixture("access_token_non_expiring.json"))

    grant = app.exchange_code(SHOP, "c0de", expiring=False)

    assert sent(shopify.calls[0])["expiring"] == "0"
    assert grant.secrets() == {
        "access_token": "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",
        "scope": "read_orders,write_returns",
    }


def test_a_used_code_is_a_permanent_refusal_in_shopifys_words(
    app: ShopifyApp, shopify: Any
) -> None:
    shopify.post(TOKEN_URL, status=400, json=fixture("code_already_used.json"))

    with pytest.raises(PermanentError, match="invalid_request: The authorization code was not"):
        app.exchange_code(SHOP, "used")


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_5xx_or_429_from_the_token_endpoint_is_retryable(
    app: ShopifyApp, shopify: Any, status: int
) -> None:
    shopify.post(TOKEN_URL, status=status, body="upstream trouble", headers={"Retry-After": "7"})

    with pytest.raises(RetryableError, match=f"HTTP {status}") as raised:
        app.exchange_code(SHOP, "c0de")
    assert raised.value.retry_after == 7.0


def test_an_answer_without_a_token_is_retryable(app: ShopifyApp, shopify: Any) -> None:
    shopify.post(TOKEN_URL, json={"scope": "read_orders"})

    with pytest.raises(RetryableError, match="no access_token"):
        app.exchange_code(SHOP, "c0de")


def test_an_unreachable_token_endpoint_is_retryable(app: ShopifyApp, shopify: Any) -> None:
    import requests

    shopify.post(TOKEN_URL, body=requests.ConnectionError("connection reset"))

    with pytest.raises(RetryableError, match="unreachable"):
        app.exchange_code(SHOP, "c0de")


def test_no_call_goes_to_a_host_that_is_not_a_shop(app: ShopifyApp) -> None:
    with pytest.raises(InvalidShop):
        app.exchange_code("evil.example", "c0de")


def test_an_app_without_credentials_cannot_be_made() -> None:
    with pytest.raises(PermanentError, match="SHOPIFY_API_KEY and SHOPIFY_API_SECRET"):
        ShopifyApp("", "")


# --- session tokens and token exchange ----------------------------------------------------


def test_a_session_token_from_app_bridge_names_its_shop(app: ShopifyApp) -> None:
    raw = session_token()

    token = app.decode_session_token(f"Bearer {raw}")

    assert token.shop == SHOP
    assert token.user == "74562019"
    assert token.raw == raw
    assert token.expires_at is not None and token.expires_at > datetime.now(UTC)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (
            lambda: f"Bearer {session_token(secret='shpss_forged_by_someone_without_the_secret')}",
            "Signature verification failed",
        ),
        (
            lambda: f"Bearer {session_token(exp=int(time.time()) - 60)}",
            "Signature has expired",
        ),
        (lambda: f"Bearer {session_token(aud='another-app')}", "Audience"),
        (
            lambda: f"Bearer {session_token(dest='https://other.myshopify.com')}",
            "issuer and destination do not match",
        ),
        (
            lambda: (
                "Bearer "
                + session_token(iss="https://evil.example/admin", dest="https://evil.example")
            ),
            "Invalid issuer",
        ),
        (lambda: session_token(), "Bearer"),
        (lambda: "", "Bearer"),
        (lambda: "Bearer not-a-jwt", "session token refused"),
    ],
)
def test_a_forged_expired_or_foreign_session_token_is_refused(
    app: ShopifyApp, header: Any, why: str
) -> None:
    with pytest.raises(InvalidSessionToken, match=why):
        app.decode_session_token(header())


def test_a_session_token_is_exchanged_for_an_expiring_offline_token(
    app: ShopifyApp, shopify: Any
) -> None:
    shopify.post(TOKEN_URL, json=fixture("access_token_expiring.json"))
    token = app.decode_session_token(f"Bearer {session_token()}")

    grant = app.exchange_session_token(token)

    assert sent(shopify.calls[0]) == {
        "client_id": API_KEY,
        "client_secret": SECRET,
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token.raw,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
        "expiring": "1",
    }
    assert grant.refresh_token == "shprt_7d2e91b0c4a84f6e9a3b5c1d8e0f2a64"


def test_a_session_token_shopify_refuses_to_exchange_is_permanent(
    app: ShopifyApp, shopify: Any
) -> None:
    shopify.post(TOKEN_URL, status=400, json=fixture("invalid_subject_token.json"))
    token = app.decode_session_token(f"Bearer {session_token()}")

    with pytest.raises(PermanentError, match="invalid_subject_token"):
        app.exchange_session_token(token)


# --- refreshing an expiring offline token ---------------------------------------------------


def test_a_refresh_token_buys_a_new_pair(app: ShopifyApp, shopify: Any) -> None:
    shopify.post(TOKEN_URL, json=fixture("access_token_refreshed.json"))

    grant = app.refresh(SHOP, "shprt_7d2e91b0c4a84f6e9a3b5c1d8e0f2a64")

    assert sent(shopify.calls[0]) == {
        "client_id": API_KEY,
        "client_secret": SECRET,
        "grant_type": "refresh_token",
        "refresh_token": "shprt_7d2e91b0c4a84f6e9a3b5c1d8e0f2a64",
    }
    assert grant.access_token == "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"
    assert grant.refresh_token == "shprt_1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
    assert grant.expires_at == datetime.fromtimestamp(NOW, UTC) + timedelta(hours=1)


def test_a_refresh_token_shopify_no_longer_takes_is_permanent(
    app: ShopifyApp, shopify: Any
) -> None:
    shopify.post(TOKEN_URL, status=400, json=fixture("invalid_grant.json"))

    with pytest.raises(PermanentError, match="invalid_grant: The refresh token is invalid"):
        app.refresh(SHOP, "shprt_spent")


def test_a_refresh_during_an_outage_is_retryable(app: ShopifyApp, shopify: Any) -> None:
    shopify.post(TOKEN_URL, status=503, json={"errors": "Service unavailable"})

    with pytest.raises(RetryableError, match="HTTP 503: Service unavailable"):
        app.refresh(SHOP, "shprt_7d2e91b0c4a84f6e9a3b5c1d8e0f2a64")


# --- the shop's details -------------------------------------------------------------------


def test_the_shops_name_and_currency_are_read_with_the_new_token(
    app: ShopifyApp, shopify: Any
) -> None:
    shopify.post(
        f"https://{SHOP}/admin/api/2025-10/graphql.json", json=fixture("shop_details.json")
    )

    details = app.shop_details(SHOP, "shpat_new", "2025-10")

    assert details is not None and (details.name, details.currency) == ("Acme Outfitters", "EUR")
    assert shopify.calls[0].request.headers["X-Shopify-Access-Token"] == "shpat_new"
    assert sent(shopify.calls[0])["operationName"] == "ShopDetails"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "json": {"errors": "[API] Invalid API key or access token"}},
        {"status": 500, "body": "oops"},
        {"status": 200, "json": {"errors": [{"message": "Field 'shop' doesn't exist"}]}},
    ],
)
def test_shop_details_shopify_does_not_give_are_unknown(
    app: ShopifyApp, shopify: Any, answer: dict[str, Any]
) -> None:
    shopify.post(f"https://{SHOP}/admin/api/2025-10/graphql.json", **answer)

    assert app.shop_details(SHOP, "shpat_new", "2025-10") is None
