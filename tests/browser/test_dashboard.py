"""The seller's dashboard and policy editor in a real browser: demo returns driven through the
pipeline in this process, then the charts drawn with their data, and a bad policy edit shown
with its error at its line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from connector import jobs
from connector.db import models
from connector.demo import Setup, bootstrap, import_orders
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake, receiving
from tests.services.test_refunds import drain

REASONS = [
    Reason.SIZE_TOO_SMALL,
    Reason.DEFECTIVE,
    Reason.UNWANTED,
    Reason.SIZE_TOO_SMALL,
    Reason.COLOR,
    Reason.NOT_AS_DESCRIBED,
    Reason.SIZE_TOO_LARGE,
    Reason.UNWANTED,
    Reason.SIZE_TOO_SMALL,
    Reason.WRONG_ITEM,
]
# four of the returns above are for their size: this rule, put first, changes their decisions
SIZE_RULE = """\
- id: no-size
  when: {reason: {in: [SIZE_TOO_SMALL, SIZE_TOO_LARGE]}}
  then: {decision: decline, reason: FINAL_SALE}
  statutory_exception: true
"""
CONDITIONS = [Condition.UNUSED, Condition.OPENED, Condition.UNUSED, Condition.USED]


def drive_returns(app: Flask, setup: Setup) -> None:
    """Ask for a return on each of the most recent demo orders, run the jobs (decisions,
    routes, labels, returnless refunds), then receive what ships, so its refund is issued."""
    runtime = app.extensions["helloword"]
    with runtime.db.transaction() as session:
        store = session.get(models.Store, setup.store_id)
        orders = session.scalars(
            select(models.Order)
            .where(models.Order.store_id == setup.store_id)
            .order_by(models.Order.placed_at.desc())
        ).all()
        follow_ups = []
        for index, (order, reason) in enumerate(zip(orders, REASONS, strict=False)):
            line = order.lines[0]
            request = ReturnRequest(
                order_external_id=order.external_id,
                lines=(
                    ReturnLine(line.external_id, 1, reason, CONDITIONS[index % len(CONDITIONS)]),
                ),
                requested_at=datetime.now(UTC),
            )
            _, queued = intake.create_return(session, store, order, request, source="api")
            follow_ups += queued
    jobs.enqueue_all(runtime, follow_ups)
    drain(app)
    with runtime.db.session() as session:
        shipping = session.scalars(
            select(models.Return.id).where(models.Return.status == "AWAITING_SHIPMENT")
        ).all()
    for return_id in shipping:
        with runtime.db.transaction() as session:
            jobs.enqueue_all(
                runtime, receiving.receive(session, return_id, 800, "", "test:warehouse")
            )
    drain(app)


@pytest.fixture
def seller(app: Flask) -> dict[str, Any]:
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=24)
        import_orders(runtime, setup)
        drive_returns(app, setup)
    return {"email": setup.admin_email, "password": setup.admin_password}


def sign_in(page: Page, live_url: str, seller: dict[str, Any], target: str) -> None:
    page.goto(f"{live_url}/admin/sign-in?next={target}")
    page.get_by_label("Email").fill(seller["email"])
    page.get_by_label("Password").fill(seller["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_url}{target}")


def test_the_dashboard_draws_its_charts_from_demo_returns(
    seller: dict[str, Any],
    live_url: str,
    new_page: Callable[..., Page],
    shoot: Callable[[Page, str], object],
) -> None:
    page = new_page()
    sign_in(page, live_url, seller, "/admin/dashboard")

    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    per_day = page.locator('svg[data-chart="returns_per_day"]')
    expect(per_day).to_be_visible()
    expect(per_day.locator("polyline.line")).to_have_count(1)
    expect(per_day.locator("circle.point")).to_have_count(30)
    expect(page.get_by_role("img", name="Reasons for returns")).to_be_visible()
    for chart in ("reasons", "return_rate", "refund_time", "returnless", "routing_savings"):
        bars = page.locator(f'svg[data-chart="{chart}"] rect.bar')
        assert bars.count() >= 1, f"{chart} has bars"
        assert float(bars.first.get_attribute("width") or 0) > 0
    reasons = page.locator('svg[data-chart="reasons"] text.category')
    assert "Too small" in reasons.all_text_contents()
    shoot(page, "dashboard")

    page.get_by_text("Data table: Reasons for returns").click()
    table = page.locator("#reasons table")
    expect(table).to_be_visible()
    expect(table.get_by_role("rowheader", name="Too small")).to_be_visible()
    shoot(page, "dashboard-reasons-table")


def test_the_policy_editor_shows_a_bad_edit_at_its_line(
    seller: dict[str, Any],
    live_url: str,
    new_page: Callable[..., Page],
    shoot: Callable[[Page, str], object],
) -> None:
    page = new_page()
    sign_in(page, live_url, seller, "/admin/policy")
    document = page.get_by_label("Policy document (YAML or JSON)")
    expect(document).to_contain_text("id: high-value")
    shoot(page, "policy-editor")

    text = document.input_value().replace("gt: 300", "gt: plenty")
    document.fill(text)
    page.get_by_role("button", name="Check").click()

    expect(page.get_by_role("alert")).to_contain_text("The document has 1 error")
    line = text.split("\n").index("      gt: plenty") + 1
    flagged = page.locator(f"#line-{line}.has-error")
    expect(flagged).to_contain_text("rules[0].when.line_value.gt")
    expect(flagged).to_contain_text("expected a number")
    expect(page.get_by_label("Policy document (YAML or JSON)")).to_have_value(text)
    shoot(page, "policy-error-in-place")

    fixed = text.replace("gt: plenty", "gt: 300").replace("rules:\n", "rules:\n" + SIZE_RULE)
    page.get_by_label("Policy document (YAML or JSON)").fill(fixed)
    page.get_by_role("button", name="Simulate").click()
    expect(page.get_by_role("heading", name="Simulation over the last 90 days")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("4 decisions change")
    expect(page.locator("table", has_text="Changed lines by rule")).to_contain_text("no-size")
    shoot(page, "policy-simulation")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2")
    expect(page.get_by_text("Active: version 2")).to_be_visible()
    shoot(page, "policy-saved")
