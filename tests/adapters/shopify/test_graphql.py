"""The GraphQL client: how it calls Shopify, and how each kind of failure leaves it."""

from __future__ import annotations

import json
import re
from importlib.resources import files

import pytest
import requests
import responses

from connector.errors import PermanentError, RetryableError
from platforms.shopify.graphql import ShopifyGraphQL, UserErrors, operation

from .conftest import SHOP, TOKEN, FakeTime, fixture

URL = f"https://{SHOP}/admin/api/2025-10/graphql.json"
RETURN_ID = "gid://shopify/Return/945000961"


@pytest.fixture
def client(clock: FakeTime) -> ShopifyGraphQL:
    return ShopifyGraphQL(SHOP, TOKEN, "2025-10", sleep=clock.sleep, clock=clock.time)


def test_a_query_posts_the_named_operation_with_the_token(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, json=fixture("return.json"))

    data = client.query("Return", {"id": RETURN_ID})

    assert data["return"]["name"] == "#1042-R1"
    sent = mock.calls[0].request
    assert sent.headers["X-Shopify-Access-Token"] == TOKEN
    body = json.loads(sent.body)
    assert body["operationName"] == "Return"
    assert body["variables"] == {"id": RETURN_ID}
    assert "fragment ReturnFields on Return" in body["query"]


def test_every_operation_file_holds_the_operation_it_is_named_for() -> None:
    folder = files("platforms.shopify") / "queries"
    names = sorted(
        p.name[: -len(".graphql")] for p in folder.iterdir() if p.name.endswith(".graphql")
    )
    operations = [
        n
        for n in names
        if not re.search(r"^\s*fragment", (folder / f"{n}.graphql").read_text(), re.M)
    ]

    assert len(operations) >= 25
    for name in operations:
        text = operation(name)
        spread = set(re.findall(r"\.\.\.\s*([A-Z]\w*)", text))
        defined = set(re.findall(r"^fragment (\w+) on", text, re.M))
        assert spread <= defined, f"{name} spreads fragments it does not carry"


def test_throttled_then_success_waits_for_the_points_to_come_back(
    mock: responses.RequestsMock, client: ShopifyGraphQL, clock: FakeTime
) -> None:
    mock.post(URL, json=fixture("throttled.json"))
    mock.post(URL, json=fixture("return.json"))

    data = client.query("Return", {"id": RETURN_ID})

    assert data["return"]["id"] == RETURN_ID
    assert len(mock.calls) == 2
    # 372 points asked, 72 left, 100 restored a second: three seconds' wait
    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_throttled_every_time_ends_as_retryable_with_the_wait(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    for _ in range(5):
        mock.post(URL, json=fixture("throttled.json"))

    with pytest.raises(RetryableError, match="THROTTLED") as raised:
        client.query("Return", {"id": RETURN_ID})

    assert raised.value.retry_after == pytest.approx(3.0)


def test_a_server_error_is_retried_with_backoff_then_retryable(
    mock: responses.RequestsMock, client: ShopifyGraphQL, clock: FakeTime
) -> None:
    for _ in range(5):
        mock.post(URL, status=502, body="<html>Bad Gateway</html>")

    with pytest.raises(RetryableError, match="HTTP 502"):
        client.query("Return", {"id": RETURN_ID})

    assert len(mock.calls) == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_a_server_error_then_success_returns_the_data(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, status=500, json={"errors": "Internal Server Error"})
    mock.post(URL, json=fixture("return.json"))

    assert client.query("Return", {"id": RETURN_ID})["return"]["id"] == RETURN_ID


def test_a_429_waits_as_long_as_retry_after_says(
    mock: responses.RequestsMock, client: ShopifyGraphQL, clock: FakeTime
) -> None:
    mock.post(
        URL,
        status=429,
        json={"errors": "Exceeded 2 calls per second"},
        headers={"Retry-After": "2.0"},
    )
    mock.post(URL, json=fixture("return.json"))

    client.query("Return", {"id": RETURN_ID})

    assert clock.sleeps == [2.0]


def test_a_429_asking_for_a_long_wait_is_left_to_a_later_job(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, status=429, json={"errors": "Exceeded"}, headers={"Retry-After": "120"})

    with pytest.raises(RetryableError) as raised:
        client.query("Return", {"id": RETURN_ID})

    assert raised.value.retry_after == 120.0
    assert len(mock.calls) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_permanent(
    mock: responses.RequestsMock, client: ShopifyGraphQL, status: int
) -> None:
    mock.post(URL, status=status, json=fixture("unauthorized.json"))

    with pytest.raises(PermanentError, match="Invalid API key or access token"):
        client.query("Return", {"id": RETURN_ID})
    assert len(mock.calls) == 1


def test_a_query_the_api_version_does_not_know_is_permanent(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, json=fixture("undefined_field.json"))

    with pytest.raises(PermanentError, match="doesn't exist on type 'ReturnLineItem'"):
        client.query("Return", {"id": RETURN_ID})


def test_a_dropped_connection_is_retried(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, body=requests.ConnectionError("connection reset by peer"))
    mock.post(URL, json=fixture("return.json"))

    assert client.query("Return", {"id": RETURN_ID})["return"]["id"] == RETURN_ID


def test_a_mutation_that_may_have_run_is_not_repeated(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, status=504, body="Gateway Timeout")

    with pytest.raises(RetryableError, match="may or may not have run"):
        client.mutate("ReturnProcess", {"input": {}}, "returnProcess")
    assert len(mock.calls) == 1


def test_a_mutation_whose_connection_was_never_made_is_tried_again(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, body=requests.ConnectTimeout("connect timed out"))
    mock.post(URL, json={"data": {"returnClose": {"return": {"id": RETURN_ID}, "userErrors": []}}})

    payload = client.mutate("ReturnClose", {"id": RETURN_ID}, "returnClose")

    assert payload["return"]["id"] == RETURN_ID
    assert len(mock.calls) == 2


def test_a_repeatable_mutation_is_retried_after_a_server_error(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(URL, status=502, body="Bad Gateway")
    mock.post(URL, json={"data": {"returnClose": {"return": {"id": RETURN_ID}, "userErrors": []}}})

    payload = client.mutate("ReturnClose", {"id": RETURN_ID}, "returnClose", repeatable=True)

    assert payload["return"]["id"] == RETURN_ID


def test_a_body_that_is_not_json_is_retried_then_retryable(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    for _ in range(5):
        mock.post(URL, body="<html>maintenance</html>", content_type="text/html")

    with pytest.raises(RetryableError, match="not JSON"):
        client.query("Return", {"id": RETURN_ID})


def test_user_errors_become_a_permanent_error_with_shopifys_message(
    mock: responses.RequestsMock, client: ShopifyGraphQL
) -> None:
    mock.post(
        URL,
        json={
            "data": {
                "returnApproveRequest": {
                    "return": None,
                    "userErrors": [
                        {
                            "field": ["input", "id"],
                            "message": "Return is not approvable. Only returns with status "
                            "REQUESTED can be approved.",
                            "code": "INVALID_STATE",
                        }
                    ],
                }
            }
        },
    )

    with pytest.raises(UserErrors) as raised:
        client.mutate("ReturnApproveRequest", {"input": {"id": RETURN_ID}}, "returnApproveRequest")

    assert isinstance(raised.value, PermanentError)
    assert "Return is not approvable" in str(raised.value)
    assert "input.id" in str(raised.value)
    assert raised.value.codes == {"INVALID_STATE"}


def test_the_cost_of_an_operation_is_learned_and_reserved_next_time(
    mock: responses.RequestsMock, client: ShopifyGraphQL, clock: FakeTime
) -> None:
    drained = fixture("return.json")
    drained["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] = 100
    mock.post(URL, json=drained)
    mock.post(URL, json=fixture("return.json"))

    client.query("Return", {"id": RETURN_ID})
    client.query("Return", {"id": RETURN_ID})

    # the first answer priced Return at 372 with 100 points left: wait for 272 at 100/s
    assert sum(clock.sleeps) == pytest.approx(2.72)


@pytest.mark.parametrize(
    ("shop", "version", "token", "message"),
    [
        ("evil.example.com", "2025-10", TOKEN, "myshopify.com"),
        (SHOP, "latest", TOKEN, "API version"),
        (SHOP, "2025-10", "", "no access token"),
    ],
)
def test_a_call_to_anything_but_a_store_is_refused_before_it_is_sent(
    mock: responses.RequestsMock, shop: str, version: str, token: str, message: str
) -> None:
    client = ShopifyGraphQL(shop, token, version)

    with pytest.raises(PermanentError, match=message):
        client.query("Return", {"id": RETURN_ID})
    assert len(mock.calls) == 0
