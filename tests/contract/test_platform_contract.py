"""What every platform adapter must do, run over each of them (``platforms.HARNESSES``).

The sandbox runs this suite so it stays an honest stand-in: whatever the core can rely on here,
it can rely on from Shopify, Amazon or AliExpress too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.domain import Money, Order
from connector.errors import AwaitingPlatform, NothingToDo, PermanentError, RetryableError
from connector.ports import ReturnPublisher, WebhookReceiver
from connector.registry import Registry

from .platforms import HARNESSES, PlatformUnderTest, ReturnCase, new_event_id, supporting


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test runs over the platforms that can do what it needs (``@needs(...)``); a push
    test over each platform and push kind it has."""
    if "platform" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("needs")
    parts = marker.args if marker else ()
    if "kind" in metafunc.fixturenames:
        pairs = [(slug, kind) for kind in sorted(PUSHES) for slug in supporting(kind, *parts)]
        metafunc.parametrize(("platform", "kind"), pairs, indirect=["platform"])
    else:
        metafunc.parametrize("platform", supporting(*parts), indirect=True)


@pytest.fixture
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PlatformUnderTest]:
    under_test = HARNESSES[request.param](tmp_path)
    yield under_test
    under_test.close()


needs = pytest.mark.needs


# --- shape -----------------------------------------------------------------------------


def test_adapter_publishes_returns(platform: PlatformUnderTest) -> None:
    assert isinstance(platform.adapter, ReturnPublisher)


@needs("webhooks")
def test_adapter_receives_webhooks(platform: PlatformUnderTest) -> None:
    assert isinstance(platform.adapter, WebhookReceiver)


def test_adapter_is_registered_under_its_one_word_slug(platform: PlatformUnderTest) -> None:
    slug = type(platform.adapter).slug

    assert slug == platform.slug
    assert slug.isalpha() and slug.islower()
    assert Registry.discover().platform_class(slug) is type(platform.adapter)


# --- webhooks --------------------------------------------------------------------------


@needs("webhooks")
def test_a_signed_delivery_verifies(platform: PlatformUnderTest) -> None:
    headers, body = platform.signed_delivery("orders/create", platform.order_payload, "evt-1")

    assert platform.adapter.verify(headers, body)


@needs("webhooks")
def test_verify_rejects_a_tampered_body(platform: PlatformUnderTest) -> None:
    headers, body = platform.signed_delivery("orders/create", platform.order_payload, "evt-1")
    middle = len(body) // 2
    flipped = body[:middle] + bytes([body[middle] ^ 1]) + body[middle + 1 :]

    assert not platform.adapter.verify(headers, flipped)
    assert not platform.adapter.verify(headers, body + b" ")


@needs("webhooks")
def test_verify_rejects_an_unsigned_delivery(platform: PlatformUnderTest) -> None:
    headers, body = platform.signed_delivery("orders/create", platform.order_payload, "evt-1")
    unsigned = {k: v for k, v in headers.items() if "hmac" not in k.lower()}

    assert not platform.adapter.verify(unsigned, body)


@needs("webhooks")
def test_the_shop_is_read_from_the_headers_alone(platform: PlatformUnderTest) -> None:
    headers, body = platform.signed_delivery("orders/create", platform.order_payload, "evt-1")

    assert type(platform.adapter).shop_of(headers) == platform.adapter.parse(headers, body).shop


@needs("webhooks")
def test_parse_gives_a_stable_event_id(platform: PlatformUnderTest) -> None:
    event_id = new_event_id()
    first = platform.signed_delivery("orders/create", platform.order_payload, event_id)
    redelivered = platform.signed_delivery("orders/create", platform.order_payload, event_id)
    other = platform.signed_delivery("orders/create", platform.order_payload, new_event_id())

    ids = [platform.adapter.parse(*delivery).event_id for delivery in (first, redelivered, other)]

    assert ids[0] == ids[1] == platform.adapter.parse(*first).event_id
    assert ids[0] != ids[2]
    assert ids[0]


@needs("webhooks")
def test_parse_refuses_a_malformed_delivery_with_a_value_error(
    platform: PlatformUnderTest,
) -> None:
    headers, _ = platform.signed_delivery("orders/create", platform.order_payload, "evt-1")

    with pytest.raises(ValueError):
        platform.adapter.parse(headers, b"this is not the platform's JSON")


@needs("webhooks")
def test_an_order_event_becomes_a_canonical_order(platform: PlatformUnderTest) -> None:
    headers, body = platform.signed_delivery("orders/create", platform.order_payload, "evt-1")

    parsed = platform.adapter.interpret(platform.adapter.parse(headers, body))

    assert parsed.kind == "order"
    order = parsed.order
    assert isinstance(order, Order)
    assert order.lines
    assert isinstance(order.total, Money) and order.total.currency == order.currency
    for line in order.lines:
        assert isinstance(line.unit_price, Money)
        assert isinstance(line.value, Money)
        assert line.value.currency == order.currency
    assert order.placed_at.tzinfo is not None


# --- publishing ------------------------------------------------------------------------

# Each push, with what the return needs first: (needs approval, the call).
Push = Callable[[Any, str, ReturnCase], Any]
PUSHES: dict[str, tuple[bool, Push]] = {
    "approve": (False, lambda a, key, case: a.approve(key, case.external_id)),
    "decline": (
        False,
        lambda a, key, case: a.decline(key, case.external_id, "FINAL_SALE", "final sale"),
    ),
    "attach_label": (
        True,
        lambda a, key, case: a.attach_label(
            key, case.external_id, "1Z999AA10123456784", "ups", "https://labels.test/l.pdf"
        ),
    ),
    "refund": (
        True,
        lambda a, key, case: a.refund(
            key,
            case.external_id,
            case.order_external_id,
            case.refund,
            [(case.order_line_external_id, 1)],
        ),
    ),
    "dispose": (
        True,
        lambda a, key, case: a.dispose(
            key, case.external_id, [(case.order_line_external_id, 1, "RESTOCKED")]
        ),
    ),
    "close": (True, lambda a, key, case: a.close(key, case.external_id)),
}


def answered(platform: PlatformUnderTest, push: Callable[[], Any]) -> Any:
    """A push's answer. A platform may take the push on and answer later (``AwaitingPlatform``,
    never a failure): its jobs then do their part, and the same push asked again answers."""
    for _ in range(3):
        try:
            return push()
        except AwaitingPlatform:
            platform.catch_up()
    return push()


def test_every_push_is_idempotent_by_key(platform: PlatformUnderTest, kind: str) -> None:
    needs_approval, push = PUSHES[kind]
    case = platform.new_return()
    if needs_approval:
        platform.adapter.approve(f"approve:{case.external_id}", case.external_id)
    before = platform.remote_state()
    key = f"{kind}:{case.external_id}:1"

    first = answered(platform, lambda: push(platform.adapter, key, case))
    after_first = platform.remote_state()
    second = answered(platform, lambda: push(platform.adapter, key, case))

    assert not first.already_done
    assert after_first != before
    assert second.already_done
    assert second.external_id == first.external_id
    assert platform.remote_state() == after_first


def test_a_refund_beyond_the_order_total_is_refused(platform: PlatformUnderTest) -> None:
    case = platform.new_return()
    platform.adapter.approve(f"approve:{case.external_id}", case.external_id)
    before = platform.remote_state()
    too_much = case.refund * 1_000_000

    with pytest.raises(PermanentError):
        answered(
            platform,
            lambda: platform.adapter.refund(
                f"refund:{case.external_id}:1",
                case.external_id,
                case.order_external_id,
                too_much,
                [(case.order_line_external_id, 1)],
            ),
        )
    assert platform.remote_state() == before


@needs("approve")
def test_a_push_for_a_return_the_platform_never_had_is_permanent(
    platform: PlatformUnderTest,
) -> None:
    with pytest.raises(PermanentError):
        platform.adapter.approve("approve:nowhere", "999999999999")


@needs("decline", "attach_label")
def test_pushes_fail_only_with_the_three_error_kinds(platform: PlatformUnderTest) -> None:
    case = platform.new_return()
    platform.adapter.decline(f"decline:{case.external_id}", case.external_id, "OTHER", "")

    with pytest.raises((RetryableError, PermanentError, NothingToDo)):
        platform.adapter.attach_label(
            f"label:{case.external_id}", case.external_id, "1Z", "ups", "https://labels.test/l"
        )
