"""The back office's returns pages: the list narrows by every filter and finds by RMA, order or
email, shows one merchant only; reviewers settle returns one by one or in bulk; the receiving
bench opens a return by its scanned RMA, grades it, and the refund follows the policy."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from rq import SimpleWorker
from sqlalchemy import select, update

from connector.db import models
from connector.demo import Setup, bootstrap, import_orders
from connector.domain import (
    Address,
    Condition,
    Customer,
    Money,
    Order,
    OrderLine,
    Reason,
    ReturnLine,
    ReturnRequest,
)
from connector.jobs import enqueue_all
from connector.runtime import Runtime
from connector.services import intake, merchants, policies, users
from tests.services.test_platform_label_tracking import NUMBER, amazon_return, ship

PASSWORD = "a long enough password"
REVIEW_DEFECTS = {
    "version": 1,
    "currency": "USD",
    "defaults": {"window_days": 3650, "refund_trigger": "received", "resolutions": ["refund"]},
    "rules": [
        {
            "id": "defects-by-hand",
            "when": {"reason": {"in": ["DEFECTIVE"]}},
            "then": {"decision": "review", "queue": "damage"},
        }
    ],
}


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["helloword"]
    return runtime


def sign_in(client: FlaskClient, email: str) -> None:
    response = client.post(
        "/admin/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": token(client, "/admin/sign-in")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def token(client: FlaskClient, path: str = "/admin/returns") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, f"{path} carries a CSRF token"
    return found.group(1)


def listed(client: FlaskClient, query: str = "") -> set[int]:
    response = client.get(f"/admin/returns?{query}")
    assert response.status_code == 200
    return {int(i) for i in re.findall(r'href="/admin/returns/(\d+)"', response.get_data(True))}


def drain(app: Flask) -> None:
    """Run every queued job, and the jobs they queue, in this process. The app context is
    the jobs' alone: one held around the test client's requests would share their ``g``."""
    runtime = app.extensions["helloword"]
    with app.app_context():
        worker = SimpleWorker([runtime.queue], connection=runtime.redis)
        worker.work(burst=True, logging_level="ERROR")


# --- two merchants with returns in known states, made without running the pipeline ---------


@dataclass(frozen=True)
class Shop:
    merchant_id: int
    store_ids: tuple[int, ...]
    email: str
    slug: str


def _order(number: str, email: str, country: str) -> Order:
    line = OrderLine(
        "L1", f"SKU-{number}", "Linen shirt", 2, Money.of("25.00", "EUR"), delivered_at=None
    )
    return Order(
        external_id=f"order-{number}",
        number=number,
        currency="EUR",
        placed_at=datetime(2025, 3, 1, tzinfo=UTC),
        customer=Customer(f"customer-{number}", email, "A Buyer"),
        shipping_address=Address("A Buyer", "Hauptstr. 1", "Berlin", "10115", country),
        lines=(line,),
        total=Money.of("50.00", "EUR"),
    )


def _shop(runtime: Runtime, name: str, platforms: tuple[str, ...]) -> Shop:
    with runtime.db.transaction() as session:
        merchant = merchants.create_merchant(session, name, currency="EUR")
        email = f"ops@{merchant.slug}.example"
        users.create_user(session, merchant, email, PASSWORD)
        stores = [
            merchants.link_store(
                session, runtime.vault, merchant, platform, f"{merchant.slug}.{platform}"
            )
            for platform in platforms
        ]
        return Shop(merchant.id, tuple(store.id for store in stores), email, merchant.slug)


def _return(
    runtime: Runtime,
    store_id: int,
    number: str,
    reason: Reason,
    requested: datetime,
    *,
    email: str = "",
    country: str = "DE",
    **columns: Any,
) -> int:
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, store_id)
        order = intake.upsert_order(
            session, store, _order(number, email or f"buyer-{number}@example.com", country)
        )
        request = ReturnRequest(
            order_external_id=order.external_id,
            lines=(ReturnLine("L1", 1, reason, Condition.UNUSED),),
            requested_at=requested,
        )
        return_, _ = intake.create_return(session, store, order, request, source="api")
        return_id = return_.id
    if columns:
        with runtime.db.transaction() as session:
            session.execute(
                update(models.Return).where(models.Return.id == return_id).values(**columns)
            )
    return return_id


@pytest.fixture
def two_shops(runtime: Runtime) -> dict[str, Any]:
    ana = _shop(runtime, "Ana's Linen", ("sandbox", "shopify"))
    bo = _shop(runtime, "Bo's Boards", ("sandbox",))
    sandbox, shopify = ana.store_ids
    made = {
        "first": _return(
            runtime,
            sandbox,
            "1001",
            Reason.SIZE_TOO_SMALL,
            datetime(2025, 3, 10, 9, tzinfo=UTC),
            email="Ana@Example.com",
        ),
        "defect": _return(
            runtime,
            sandbox,
            "1002",
            Reason.DEFECTIVE,
            datetime(2025, 3, 20, 9, tzinfo=UTC),
            country="ES",
            status="IN_REVIEW",
            review_queue="damage",
        ),
        "shopify": _return(
            runtime,
            shopify,
            "1003",
            Reason.UNWANTED,
            datetime(2025, 4, 2, 9, tzinfo=UTC),
            country="FR",
            status="APPROVED",
        ),
        "bo": _return(
            runtime,
            bo.store_ids[0],
            "2001",
            Reason.DEFECTIVE,
            datetime(2025, 3, 20, 9, tzinfo=UTC),
            status="IN_REVIEW",
            review_queue="damage",
        ),
    }
    stores = {"sandbox_store": sandbox, "shopify_store": shopify}
    return {"ana": ana, "bo_shop": bo, **stores, **made}


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client: FlaskClient) -> None:
    for path in ("/admin/returns", "/admin/returns/1", "/admin/review", "/admin/receiving"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/sign-in?next=")


def test_the_list_shows_only_the_merchants_own_returns(client, two_shops) -> None:
    sign_in(client, two_shops["ana"].email)
    assert listed(client) == {two_shops["first"], two_shops["defect"], two_shops["shopify"]}
    assert listed(client, f"q=R{two_shops['bo']:07d}") == set()
    assert listed(client, "q=2001") == set()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=IN_REVIEW", {"defect"}),
        ("status=APPROVED", {"shopify"}),
        ("platform=shopify", {"shopify"}),
        ("platform=sandbox", {"first", "defect"}),
        ("store={shopify_store}", {"shopify"}),
        ("reason=DEFECTIVE", {"defect"}),
        ("country=es", {"defect"}),
        ("country=FR", {"shopify"}),
        ("queue=damage", {"defect"}),
        ("from=2025-03-15", {"defect", "shopify"}),
        ("from=2025-03-15&to=2025-03-31", {"defect"}),
        ("to=2025-03-10", {"first"}),
        ("q=r+{shopify_digits}", {"shopify"}),
        ("q=R{defect_digits}", {"defect"}),
        ("q=1002", {"defect"}),
        ("q=%231003", {"shopify"}),
        ("q=ana%40example.com", {"first"}),
        ("q=%40example.com", {"first", "defect", "shopify"}),
        ("q=nobody", set()),
        ("status=IN_REVIEW&platform=shopify", set()),
    ],
)
def test_each_filter_and_search_narrows_the_list(
    client: FlaskClient, two_shops: dict[str, Any], query: str, expected: set[str]
) -> None:
    sign_in(client, two_shops["ana"].email)
    query = query.format(
        shopify_store=two_shops["shopify_store"],
        shopify_digits=f"{two_shops['shopify']:07d}",
        defect_digits=f"{two_shops['defect']:07d}",
    )
    assert listed(client, query) == {two_shops[name] for name in expected}


def test_a_filter_that_cannot_be_read_is_marked_and_left_out(client, two_shops) -> None:
    sign_in(client, two_shops["ana"].email)
    page = client.get("/admin/returns?country=Spain&from=yesterday").get_data(as_text=True)
    assert "Write a two-letter country code" in page
    assert "Write the date as YYYY-MM-DD" in page
    assert len(listed(client, "country=Spain")) == 3


def test_the_list_comes_in_pages(client, runtime, two_shops) -> None:
    for number in range(26):
        _return(
            runtime,
            two_shops["sandbox_store"],
            f"3{number:03d}",
            Reason.COLOR,
            datetime(2025, 5, 1, tzinfo=UTC),
        )
    sign_in(client, two_shops["ana"].email)
    first = client.get("/admin/returns?reason=COLOR").get_data(as_text=True)
    assert "26 returns" in first and "Page 1 of 2" in first
    assert len(listed(client, "reason=COLOR")) == 25
    assert len(listed(client, "reason=COLOR&page=2")) == 1


def test_the_stores_show_their_platform_and_order_import(client, runtime, two_shops) -> None:
    with runtime.db.transaction() as session:
        store = session.get_one(models.Store, two_shops["shopify_store"])
        store.settings = {
            "backfill": {"status": "running", "orders": 120, "since": "2025-01-01T00:00:00+00:00"}
        }
    sign_in(client, two_shops["ana"].email)
    page = client.get("/admin/returns").get_data(as_text=True)
    assert f"{two_shops['ana'].slug}.shopify" in page and f"{two_shops['ana'].slug}.sandbox" in page
    assert "Importing" in page and "120 orders imported" in page and "since Jan 1, 2025" in page
    assert two_shops["bo_shop"].slug not in page


def test_another_merchants_return_is_not_found(client, two_shops) -> None:
    sign_in(client, two_shops["ana"].email)
    bo = two_shops["bo"]
    assert client.get(f"/admin/returns/{bo}").status_code == 404
    assert client.get(f"/admin/receiving/{bo}").status_code == 404
    assert client.get(f"/admin/receiving?rma=R{bo:07d}").status_code == 404
    assert client.get("/admin/returns/1099511627776").status_code == 404  # beyond any id
    csrf = token(client)
    for action in ("review", "cancel", "refund"):
        response = client.post(
            f"/admin/returns/{bo}/{action}",
            data={"csrf_token": csrf, "decision": "approve", "note": "mine now"},
        )
        assert response.status_code == 404


def test_a_form_without_its_csrf_token_is_refused(client, runtime, two_shops) -> None:
    sign_in(client, two_shops["ana"].email)
    defect = two_shops["defect"]
    response = client.post(
        f"/admin/returns/{defect}/review", data={"decision": "approve", "note": "fine"}
    )
    assert response.status_code == 400
    response = client.post("/admin/review", data={"one": f"approve:{defect}", "note": "fine"})
    assert response.status_code == 400
    with runtime.db.session() as session:
        assert session.get_one(models.Return, defect).status == "IN_REVIEW"


def test_canceling_a_return_from_its_detail(client, runtime, two_shops) -> None:
    sign_in(client, two_shops["ana"].email)
    first = two_shops["first"]
    response = client.post(
        f"/admin/returns/{first}/cancel",
        data={"csrf_token": token(client), "reason": "buyer changed their mind"},
        follow_redirects=True,
    )
    assert "The return is canceled." in response.get_data(as_text=True)
    with runtime.db.session() as session:
        assert session.get_one(models.Return, first).status == "CANCELED"


def test_a_tampered_ledger_reads_as_not_verified(client, runtime, two_shops) -> None:
    sign_in(client, two_shops["ana"].email)
    first = two_shops["first"]
    assert "Ledger verified" in client.get(f"/admin/returns/{first}").get_data(as_text=True)
    with runtime.db.transaction() as session:
        session.execute(
            update(models.LedgerEvent)
            .where(models.LedgerEvent.return_id == first)
            .values(actor="someone else")
        )
    page = client.get(f"/admin/returns/{first}").get_data(as_text=True)
    assert "Ledger not verified" in page and "event #1 (id" in page and "was edited" in page


# --- a return on Amazon's own prepaid label -------------------------------------------------


@pytest.mark.parametrize(
    ("accounts", "said"),
    [
        ((), "Tracked by Amazon: scans arrive when the parcel is received."),
        ((("shippo", "shippo-main"),), "Followed through your carrier account shippo-main."),
    ],
)
def test_the_detail_says_who_tracks_a_parcel_on_amazons_label(
    app: Flask, client: FlaskClient, runtime: Runtime, accounts, said: str
) -> None:
    return_id = amazon_return(runtime, accounts)
    ship(app, return_id)
    with runtime.db.transaction() as session:
        merchant = merchants.merchant_by_name(session, "Nordic Knits")
        users.create_user(session, merchant, "ops@nordic.example", PASSWORD)
    sign_in(client, "ops@nordic.example")

    page = client.get(f"/admin/returns/{return_id}").get_data(as_text=True)

    assert said in page
    assert NUMBER in page and "No scans yet." in page


# --- the sandbox merchant, with the pipeline run by draining the queue in this process -------


@pytest.fixture
def sandbox(app: Flask, runtime: Runtime) -> Setup:
    with app.app_context():
        setup = bootstrap(runtime, orders=12)
        import_orders(runtime, setup)
    with runtime.db.transaction() as session:
        merchant = session.get_one(models.Merchant, setup.merchant_id)
        users.create_user(session, merchant, "bench@sandbox.example", PASSWORD)
        policies.save(session, setup.merchant_id, REVIEW_DEFECTS)
        # every parcel comes back: no return is cheap enough for the buyer to keep
        merchant.routing = {"keep_item_max_value": {"amount": "1", "currency": "USD"}}
    return setup


def ask_for_return(app: Flask, setup: Setup, reason: Reason) -> int:
    """A return of one unit of a sandbox order's first line, taken through the pipeline."""
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        taken = select(models.Return.order_id)
        order = session.scalars(
            select(models.Order)
            .where(models.Order.store_id == setup.store_id, models.Order.id.not_in(taken))
            .order_by(models.Order.id)
            .limit(1)
        ).one()
        store = session.get_one(models.Store, setup.store_id)
        request = ReturnRequest(
            order_external_id=order.external_id,
            lines=(ReturnLine(order.lines[0].external_id, 1, reason, Condition.OPENED),),
            requested_at=datetime.now(UTC),
        )
        return_, follow_ups = intake.create_return(session, store, order, request, source="api")
        return_id = return_.id
    enqueue_all(runtime, follow_ups)
    drain(app)
    return return_id


def status_of(runtime: Runtime, return_id: int) -> str:
    with runtime.db.session() as session:
        return session.get_one(models.Return, return_id).status


def test_a_reviewer_approves_from_the_detail_with_a_note(app, client, runtime, sandbox) -> None:
    return_id = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    assert status_of(runtime, return_id) == "IN_REVIEW"
    sign_in(client, "bench@sandbox.example")
    page = client.get(f"/admin/returns/{return_id}").get_data(as_text=True)
    assert "defects-by-hand" in page and "Review note" in page

    response = client.post(
        f"/admin/returns/{return_id}/review",
        data={"csrf_token": token(client), "decision": "approve", "note": "photos show a tear"},
        follow_redirects=True,
    )

    assert "The return is approved." in response.get_data(as_text=True)
    with runtime.db.session() as session:
        decision = session.scalars(
            select(models.Decision)
            .where(models.Decision.return_id == return_id)
            .order_by(models.Decision.id.desc())
        ).first()
    assert decision is not None
    assert (decision.outcome, decision.actor, decision.explanation) == (
        "approve",
        "admin:bench@sandbox.example",
        "photos show a tear",
    )
    drain(app)
    assert status_of(runtime, return_id) == "AWAITING_SHIPMENT"


def test_a_decline_needs_a_note(client, runtime, app, sandbox) -> None:
    return_id = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    sign_in(client, "bench@sandbox.example")
    response = client.post(
        f"/admin/returns/{return_id}/review",
        data={"csrf_token": token(client), "decision": "decline", "note": "  "},
        follow_redirects=True,
    )
    assert "Write a note" in response.get_data(as_text=True)
    assert status_of(runtime, return_id) == "IN_REVIEW"


def test_the_review_queue_groups_returns_by_queue(client, app, sandbox) -> None:
    in_review = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    approved = ask_for_return(app, sandbox, Reason.SIZE_TOO_SMALL)
    sign_in(client, "bench@sandbox.example")
    page = client.get("/admin/review").get_data(as_text=True)
    assert re.search(r"<h2[^>]*>damage <span class=\"badge\">1</span>", page)
    assert f"R{in_review:07d}" in page and f"R{approved:07d}" not in page


def test_bulk_review_settles_each_and_reports_the_one_that_failed(
    client, runtime, app, sandbox
) -> None:
    first = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    second = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    shipped = ask_for_return(app, sandbox, Reason.SIZE_TOO_SMALL)
    assert status_of(runtime, shipped) == "AWAITING_SHIPMENT"
    sign_in(client, "bench@sandbox.example")

    response = client.post(
        "/admin/review",
        data={
            "csrf_token": token(client),
            "return_id": [str(first), str(shipped), str(second)],
            "decision": "decline",
            "note": "outside what we cover",
        },
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert f"Declined: R{first:07d}, R{second:07d}." in page
    assert f"Not settled: R{shipped:07d}: return R{shipped:07d} is AWAITING_SHIPMENT" in page
    assert [status_of(runtime, i) for i in (first, second, shipped)] == [
        "DECLINED",
        "DECLINED",
        "AWAITING_SHIPMENT",
    ]


def test_one_return_is_approved_from_its_row_in_the_queue(client, runtime, app, sandbox) -> None:
    chosen = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    other = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    sign_in(client, "bench@sandbox.example")
    response = client.post(
        "/admin/review",
        data={
            "csrf_token": token(client),
            "return_id": [str(other)],  # ticked, but the row's own button names one return
            "one": f"approve:{chosen}",
            "note": "checked the photos",
        },
        follow_redirects=True,
    )
    assert f"Approved: R{chosen:07d}." in response.get_data(as_text=True)
    assert (status_of(runtime, chosen), status_of(runtime, other)) == ("APPROVED", "IN_REVIEW")


def test_bulk_review_without_a_selection_or_a_note_changes_nothing(client, runtime, app, sandbox):
    return_id = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    sign_in(client, "bench@sandbox.example")
    csrf = token(client)
    nothing = client.post("/admin/review", data={"csrf_token": csrf, "decision": "approve"})
    assert nothing.status_code == 400
    assert "Select at least one return" in nothing.get_data(as_text=True)
    no_note = client.post(
        "/admin/review",
        data={"csrf_token": csrf, "decision": "approve", "return_id": str(return_id)},
    )
    assert no_note.status_code == 400
    assert "Write a note" in no_note.get_data(as_text=True)
    assert status_of(runtime, return_id) == "IN_REVIEW"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("trigger", ["received", "inspected"])
def test_the_bench_receives_by_rma_grades_and_the_refund_follows_the_trigger(
    client, runtime, app, sandbox, trigger: str
) -> None:
    with runtime.db.transaction() as session:
        document = {**REVIEW_DEFECTS, "defaults": {**REVIEW_DEFECTS["defaults"]}}
        document["defaults"]["refund_trigger"] = trigger
        policies.save(session, sandbox.merchant_id, document)
    return_id = ask_for_return(app, sandbox, Reason.SIZE_TOO_SMALL)
    assert status_of(runtime, return_id) == "AWAITING_SHIPMENT"
    with runtime.db.session() as session:
        [line] = session.get_one(models.Return, return_id).lines
    sign_in(client, "bench@sandbox.example")

    typed = f" r {return_id:07d} "  # a person typing: lower case, spaces
    opened = client.get("/admin/receiving", query_string={"rma": typed})
    assert opened.status_code == 302
    assert opened.headers["Location"] == f"/admin/receiving/{return_id}"
    form = client.get(opened.headers["Location"]).get_data(as_text=True)
    assert 'name="weight_g"' in form and f'name="grade-{line.id}"' in form

    response = client.post(
        f"/admin/receiving/{return_id}",
        data={
            "csrf_token": token(client),
            "weight_g": "640",
            f"grade-{line.id}": "needs_repair",
            "note": "bench 3",
            f"photos-{line.id}": (io.BytesIO(_png()), "seam.png"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert f"R{return_id:07d} is received and graded." in page
    assert "Refund requested:" in page
    drain(app)
    with runtime.db.session() as session:
        return_ = session.get_one(models.Return, return_id)
        receipt = session.scalars(
            select(models.Receipt).where(models.Receipt.return_id == return_id)
        ).one()
        refunds = session.scalars(
            select(models.Refund).where(models.Refund.return_id == return_id)
        ).all()
        photo = session.scalars(
            select(models.ReturnPhoto).where(models.ReturnPhoto.return_id == return_id)
        ).one()
        graded = return_.lines[0].grade
    assert (receipt.weight_g, receipt.note, receipt.received_by) == (
        640,
        "bench 3",
        "admin:bench@sandbox.example",
    )
    assert graded == "needs_repair"
    assert [(r.status, r.trigger) for r in refunds] == [("issued", trigger)]
    assert return_.status == "CLOSED"
    assert photo.return_line_id == line.id

    detail = client.get(f"/admin/returns/{return_id}").get_data(as_text=True)
    assert "Ledger verified" in detail and "Issued" in detail and "Needs repair" in detail
    assert "Chosen" in detail  # the route's cost table marks the option taken
    shown = client.get(f"/admin/returns/{return_id}/photos/{photo.id}")
    assert shown.status_code == 200 and shown.mimetype == "image/png"


def test_a_bench_form_missing_a_grade_receives_nothing(client, runtime, app, sandbox) -> None:
    return_id = ask_for_return(app, sandbox, Reason.SIZE_TOO_SMALL)
    sign_in(client, "bench@sandbox.example")
    response = client.post(
        f"/admin/receiving/{return_id}",
        data={"csrf_token": token(client), "weight_g": "-3"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose a grade for this item." in page and "whole grams" in page
    assert status_of(runtime, return_id) == "AWAITING_SHIPMENT"


def test_an_unknown_rma_is_told_at_the_bench(client, sandbox) -> None:
    sign_in(client, "bench@sandbox.example")
    response = client.get("/admin/receiving?rma=R9999999")
    assert response.status_code == 404
    assert "No return R9999999 was found" in response.get_data(as_text=True)


def test_a_return_not_yet_approved_cannot_be_received(client, runtime, app, sandbox) -> None:
    return_id = ask_for_return(app, sandbox, Reason.DEFECTIVE)
    sign_in(client, "bench@sandbox.example")
    page = client.get(f"/admin/receiving/{return_id}").get_data(as_text=True)
    assert "nothing to receive or grade now" in page and 'name="weight_g"' not in page


def test_a_failed_refund_is_asked_for_again(client, runtime, app, sandbox) -> None:
    return_id = ask_for_return(app, sandbox, Reason.SIZE_TOO_SMALL)
    sign_in(client, "bench@sandbox.example")
    with runtime.db.session() as session:
        [line] = session.get_one(models.Return, return_id).lines
    client.post(
        f"/admin/receiving/{return_id}",
        data={"csrf_token": token(client), f"grade-{line.id}": "resellable"},
    )
    with runtime.db.transaction() as session:
        session.execute(
            update(models.Refund)
            .where(models.Refund.return_id == return_id)
            .values(status="failed", error="card expired")
        )
    page = client.get(f"/admin/returns/{return_id}").get_data(as_text=True)
    assert "card expired" in page and "Ask for the refund again" in page

    client.post(f"/admin/returns/{return_id}/refund", data={"csrf_token": token(client)})

    with runtime.db.session() as session:
        refunds = session.scalars(
            select(models.Refund)
            .where(models.Refund.return_id == return_id)
            .order_by(models.Refund.sequence)
        ).all()
    assert [(r.sequence, r.status, r.trigger) for r in refunds] == [
        (1, "failed", "received"),
        (2, "pending", "staff"),
    ]
