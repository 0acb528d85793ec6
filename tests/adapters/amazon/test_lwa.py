"""Linking a seller account: the consent page of the right Seller Central, the code exchange at
the LWA token endpoint, and a refresh token Amazon no longer accepts."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connector.errors import PermanentError, RetryableError
from platforms.amazon import LwaClient, NeedsRelinking, consent_url
from platforms.amazon.lwa import TOKEN_URL
from tests.contract.amazon_store import FakeAmazon

from .conftest import (
    APP_ID,
    APP_SECRET,
    ITEMS,
    REFRESH,
    SELLER,
    Build,
    FakeTime,
    fixture_bytes,
)

APPLICATION = "amzn1.sp.solution.8c3f5e1a-2b4d-4e6f-9a0b-1c2d3e4f5a6b"
REDIRECT = "https://helloword.example/amazon/callback"


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("na", "sellercentral.amazon.com"),
        ("eu", "sellercentral-europe.amazon.com"),
        ("fe", "sellercentral.amazon.co.jp"),
    ],
)
def test_the_consent_page_is_the_regions_seller_central(region: str, host: str) -> None:
    url = consent_url(APPLICATION, "nonce-1", region=region, redirect_uri=REDIRECT)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", host, "/apps/authorize/consent")
    assert _query(url) == {
        "application_id": APPLICATION,
        "state": "nonce-1",
        "redirect_uri": REDIRECT,
    }


def test_a_marketplace_with_its_own_seller_central_is_sent_there() -> None:
    url = consent_url(APPLICATION, "nonce-1", region="eu", marketplace_id="A1805IZSGTT6HS")

    assert urlsplit(url).netloc == "sellercentral.amazon.nl"


def test_a_draft_app_asks_for_the_beta_consent() -> None:
    url = consent_url(APPLICATION, "nonce-1", region="eu", draft=True)

    assert _query(url)["version"] == "beta"
    assert "version" not in _query(consent_url(APPLICATION, "nonce-1", region="eu"))


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="region"):
        consent_url(APPLICATION, "nonce-1", region="sa")


def test_the_adapter_sends_the_seller_to_consent_with_the_apps_settings(build: Build) -> None:
    adapter = build(seller="", settings={"application_id": APPLICATION, "draft": True})

    url = adapter.authorize_url("state-42", REDIRECT)

    assert urlsplit(url).netloc == "sellercentral-europe.amazon.com"
    assert _query(url) == {
        "application_id": APPLICATION,
        "state": "state-42",
        "redirect_uri": REDIRECT,
        "version": "beta",
    }


def test_the_code_is_exchanged_with_the_redirect_uri(router: respx.MockRouter) -> None:
    route = router.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, content=fixture_bytes("lwa_token.json"))
    )

    grant = LwaClient(APP_ID, APP_SECRET, clock=lambda: 1000.0).exchange_code("ANxyz", REDIRECT)

    form = parse_qs(route.calls.last.request.content.decode())
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["ANxyz"],
        "redirect_uri": [REDIRECT],
        "client_id": [APP_ID],
        "client_secret": [APP_SECRET],
    }
    expected = json.loads(fixture_bytes("lwa_token.json"))
    assert grant.refresh_token == expected["refresh_token"]
    assert grant.access_token == expected["access_token"]
    assert grant.expires_at == 1000.0 + 3600


def test_a_bad_code_is_permanent_with_amazons_words(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(400, content=fixture_bytes("lwa_invalid_grant.json"))
    )

    with pytest.raises(PermanentError, match="invalid grant parameter : code") as refused:
        LwaClient(APP_ID, APP_SECRET).exchange_code("used-code", REDIRECT)
    assert not isinstance(refused.value, NeedsRelinking)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_busy_token_endpoint_is_retryable(router: respx.MockRouter, status: int) -> None:
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(status, headers={"Retry-After": "7"}, text="busy")
    )

    with pytest.raises(RetryableError) as raised:
        LwaClient(APP_ID, APP_SECRET).exchange_code("ANxyz", REDIRECT)
    assert raised.value.retry_after == 7.0


def test_an_unreachable_token_endpoint_is_retryable(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).mock(side_effect=httpx.ConnectError("no route"))

    with pytest.raises(RetryableError, match="out of reach"):
        LwaClient(APP_ID, APP_SECRET).refresh(REFRESH)


def test_a_revoked_refresh_token_needs_relinking(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "invalid_grant",
                "error_description": "The request has an invalid grant parameter : refresh_token",
            },
        )
    )

    with pytest.raises(NeedsRelinking, match="authorise Helloword again"):
        LwaClient(APP_ID, APP_SECRET).refresh("Atzr|revoked")


def test_a_wrong_client_secret_is_the_apps_fault_not_the_sellers(
    router: respx.MockRouter,
) -> None:
    router.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            401,
            json={"error": "invalid_client", "error_description": "Client authentication failed"},
        )
    )

    with pytest.raises(PermanentError, match="Client authentication failed") as refused:
        LwaClient(APP_ID, "wrong").refresh(REFRESH)
    assert not isinstance(refused.value, NeedsRelinking)


def test_completing_the_link_gives_the_sellers_credentials(
    build: Build, amazon: FakeAmazon
) -> None:
    amazon.codes["ANcode-1"] = "Atzr|new-refresh-token"
    amazon.redirect_uris.add(REDIRECT)
    adapter = build(seller="", settings={"application_id": APPLICATION})

    credentials = adapter.complete(
        {"state": "state-42", "selling_partner_id": SELLER, "spapi_oauth_code": "ANcode-1"},
        REDIRECT,
    )

    assert credentials.external_id == SELLER
    assert credentials.secrets == {"refresh_token": "Atzr|new-refresh-token"}
    assert credentials.settings["region"] == "eu"


def test_a_code_spent_once_cannot_complete_a_second_link(build: Build, amazon: FakeAmazon) -> None:
    amazon.codes["ANcode-1"] = "Atzr|new-refresh-token"
    adapter = build(seller="")
    params = {"selling_partner_id": SELLER, "spapi_oauth_code": "ANcode-1"}
    adapter.complete(params, REDIRECT)

    with pytest.raises(PermanentError, match="authorization code is invalid"):
        adapter.complete(params, REDIRECT)


def test_a_callback_without_a_seller_or_code_is_refused(build: Build, amazon: FakeAmazon) -> None:
    adapter = build(seller="")

    with pytest.raises(PermanentError, match="selling_partner_id"):
        adapter.complete({"spapi_oauth_code": "ANcode-1"}, REDIRECT)
    with pytest.raises(PermanentError, match="spapi_oauth_code"):
        adapter.complete({"selling_partner_id": SELLER}, REDIRECT)
    assert "token" not in amazon.calls


def test_any_call_with_a_revoked_refresh_token_needs_relinking(
    build: Build, amazon: FakeAmazon
) -> None:
    amazon.refresh_tokens.clear()
    adapter = build()

    with pytest.raises(NeedsRelinking):
        adapter.fetch_order("302-0000000-0000000")
    assert "getOrder" not in amazon.calls


def test_an_access_token_serves_calls_until_it_nearly_expires(
    build: Build, amazon: FakeAmazon, clock: FakeTime
) -> None:
    order = amazon.add_order(ITEMS)
    adapter = build()

    adapter.fetch_order(order["orderId"])
    clock.now += 3000
    adapter.fetch_order(order["orderId"])
    assert amazon.calls.count("token") == 1

    clock.now += 600  # within a minute of the hour's end
    adapter.fetch_order(order["orderId"])
    assert amazon.calls.count("token") == 2
