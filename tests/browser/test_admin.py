"""A seller's day in the back office, in a real browser: a return the policy sent to review is
approved with a note, its parcel is scanned at the receiving bench, weighed and graded, and
the refund shows as issued beside a verified ledger."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect
from rq import SimpleWorker
from sqlalchemy import select

from connector.db import models
from connector.demo import bootstrap, import_orders
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.jobs import enqueue_all
from connector.services import intake, policies, users

PASSWORD = "a long enough password"
POLICY = {
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


def _photo() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (320, 240), (236, 230, 220))
    ImageDraw.Draw(image).line((40, 200, 280, 40), fill=(150, 30, 30), width=6)
    image.save(out, "PNG")
    return out.getvalue()


def drain(app: Flask) -> None:
    """Run every queued job, and the jobs they queue, in this process."""
    runtime = app.extensions["helloword"]
    SimpleWorker([runtime.queue], connection=runtime.redis).work(burst=True, logging_level="ERROR")


def _defective_return(app: Flask) -> tuple[int, str]:
    """The sandbox merchant, its demo orders, and a return of a defective item waiting for
    review; every parcel comes back (nothing is cheap enough to keep)."""
    runtime = app.extensions["helloword"]
    setup = bootstrap(runtime, orders=6)
    import_orders(runtime, setup)
    with runtime.db.transaction() as session:
        merchant = session.get_one(models.Merchant, setup.merchant_id)
        users.create_user(session, merchant, "seller@sandbox.example", PASSWORD, "Sam")
        policies.save(session, merchant.id, POLICY)
        merchant.routing = {"keep_item_max_value": {"amount": "1", "currency": "USD"}}
        store = session.get_one(models.Store, setup.store_id)
        order = session.scalars(
            select(models.Order).where(models.Order.store_id == store.id).order_by(models.Order.id)
        ).first()
        assert order is not None
        request = ReturnRequest(
            order_external_id=order.external_id,
            lines=(ReturnLine(order.lines[0].external_id, 1, Reason.DEFECTIVE, Condition.USED),),
            requested_at=datetime.now(UTC),
        )
        return_, follow_ups = intake.create_return(session, store, order, request, source="api")
        return_id, rma = return_.id, str(return_.rma)
    enqueue_all(runtime, follow_ups)
    drain(app)
    return return_id, rma


def test_a_seller_reviews_receives_and_sees_the_refund_issued(
    app: Flask, live_url: str, new_page: Callable[..., Page], shoot: Callable[[Page, str], object]
) -> None:
    with app.app_context():
        return_id, rma = _defective_return(app)
    page = new_page()

    page.goto(f"{live_url}/admin/review")
    shoot(page, "sign-in")
    page.get_by_label("Email").fill("seller@sandbox.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Review queues")).to_be_visible()
    expect(page.get_by_role("heading", name="damage")).to_be_visible()
    shoot(page, "review-queue")
    page.get_by_role("link", name=rma).click()
    expect(page.get_by_role("heading", name="Actions")).to_be_visible()
    expect(page.locator(".explain").first).to_contain_text("goes to the damage queue")
    shoot(page, "return-in-review")
    page.go_back()
    page.get_by_label("Note", exact=True).fill("Photos show the seam came apart.")
    page.get_by_role("button", name=f"Approve {rma}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Approved: {rma}.")
    shoot(page, "review-approved")

    with app.app_context():
        drain(app)  # the route is chosen and the label bought

    page.get_by_role("link", name="Receiving").click()
    scan = page.get_by_label("Scan or type the RMA")
    expect(scan).to_be_focused()
    shoot(page, "receiving-bench")
    scan.fill(f"{rma.lower()[:4]} {rma.lower()[4:]}")
    scan.press("Enter")

    weight = page.get_by_label("Parcel weight (grams)")
    expect(weight).to_be_focused()
    shoot(page, "receiving-form")
    weight.fill("640")
    page.get_by_role("radio", name="Needs repair").check()
    page.get_by_label("Photos of this item").set_input_files(
        {"name": "seam.png", "mimeType": "image/png", "buffer": _photo()}
    )
    page.get_by_label("Note").fill("Seam open at the left sleeve.")
    page.get_by_role("button", name="Receive and grade").click()

    expect(page.get_by_role("status").first).to_contain_text(f"{rma} is received and graded.")
    expect(page.get_by_text("Refund requested:")).to_be_visible()
    shoot(page, "receiving-done")

    with app.app_context():
        drain(app)  # the refund goes out through the platform, and the return closes

    page.get_by_role("link", name="Full details").click()
    expect(page.get_by_role("heading", name=f"Return {rma}")).to_be_visible()
    refunds = page.locator("section", has=page.get_by_role("heading", name="Refunds"))
    expect(refunds.locator(".badge", has_text="Issued")).to_be_visible()
    expect(page.get_by_text("Ledger verified")).to_be_visible()
    expect(page.locator("tr.chosen")).to_have_count(1)
    expect(page.get_by_role("img", name="Photo of")).to_be_visible()
    shoot(page, "return-detail")

    page.get_by_role("link", name="Returns", exact=True).click()
    expect(page.get_by_role("link", name=rma)).to_have_attribute(
        "href", f"/admin/returns/{return_id}"
    )
    shoot(page, "returns-list")
