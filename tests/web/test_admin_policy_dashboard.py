"""The back office's policy editor and KPI dashboard through the test client: errors shown at
their lines with nothing saved, a simulation of what would change, a save that needs that
simulation, a chart's CSV, and both pages closed to visitors who have not signed in."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.db import models
from connector.demo import bootstrap, import_orders
from connector.domain import Condition, Reason, ReturnLine, ReturnRequest
from connector.services import intake

BAD_DOCUMENT = """\
version: 1
currency: usd
defaults:
  window_days: 30
rules:
  - id: high-value
    when: {line_value: {gt: lots}}
    then: {decision: review, queue: high-value}
  - id: final-sale
    when: {tag: final-sale}
    then:
      decision: decline
"""

# the default policy with one rule in front: only lines returned for their size can change
NO_SIZE_RETURNS = """\
version: 1
currency: USD
defaults: {window_days: 30, refund_trigger: received, resolutions: [refund]}
rules:
  - id: no-size-returns
    when: {reason: {in: [SIZE_TOO_SMALL, SIZE_TOO_LARGE]}}
    then: {decision: decline, reason: FINAL_SALE}
    statutory_exception: true
  - id: high-value
    when: {line_value: {gt: 300}}
    then: {decision: review, queue: high-value}
"""


@pytest.fixture
def shop(app: Flask) -> dict[str, Any]:
    """The sandbox merchant with a dozen demo orders; its owner signs in to the back office.
    (The app context closes before the requests: each request gets its own ``g``.)"""
    runtime = app.extensions["helloword"]
    with app.app_context():
        setup = bootstrap(runtime, orders=12)
        import_orders(runtime, setup)
    return {"runtime": runtime, "setup": setup}


@pytest.fixture
def signed_in(client: FlaskClient, shop: dict[str, Any]) -> FlaskClient:
    setup = shop["setup"]
    response = client.post(
        "/admin/sign-in",
        data={
            "email": setup.admin_email,
            "password": setup.admin_password,
            "csrf_token": _token(client.get("/admin/sign-in").get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    return client


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _ask_returns(shop: dict[str, Any], reasons: list[Reason]) -> list[str]:
    """One return per reason, each on the next demo order, asked for now; their RMAs."""
    runtime, setup = shop["runtime"], shop["setup"]
    rmas = []
    with runtime.db.transaction() as session:
        store = session.get(models.Store, setup.store_id)
        orders = session.scalars(
            select(models.Order).where(models.Order.store_id == setup.store_id).order_by("id")
        ).all()
        for order, reason in zip(orders, reasons, strict=False):
            request = ReturnRequest(
                order_external_id=order.external_id,
                lines=(ReturnLine(order.lines[0].external_id, 1, reason, Condition.UNUSED),),
                requested_at=datetime.now(UTC),
            )
            return_, _ = intake.create_return(session, store, order, request, source="api")
            rmas.append(return_.rma)
    return rmas


def _versions(shop: dict[str, Any]) -> int:
    with shop["runtime"].db.session() as session:
        return session.scalar(
            select(func.count(models.Policy.id)).where(
                models.Policy.merchant_id == shop["setup"].merchant_id
            )
        )


def _post_policy(client: FlaskClient, text: str, action: str, **extra: str) -> Any:
    page = client.get("/admin/policy").get_data(as_text=True)
    return client.post(
        "/admin/policy",
        data={"document": text, "action": action, "csrf_token": _token(page), **extra},
    )


@pytest.mark.parametrize("path", ["/admin/policy", "/admin/dashboard", "/admin/dashboard.csv"])
def test_a_visitor_who_has_not_signed_in_is_sent_to_sign_in(client: FlaskClient, path: str):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/sign-in?next=")


def test_the_editor_opens_on_the_active_document_and_its_versions(
    signed_in: FlaskClient,
) -> None:
    page = signed_in.get("/admin/policy").get_data(as_text=True)
    assert "Active: version 1, saved" in page
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S)
    assert textarea and "id: high-value" in textarea.group(1)
    assert textarea.group(1).index("version: 1") < textarea.group(1).index("rules:")
    assert 'href="/admin/policy?version=1"' in page


def test_a_bad_document_shows_every_error_at_its_line_and_saves_nothing(
    signed_in: FlaskClient, shop: dict[str, Any]
) -> None:
    response = _post_policy(signed_in, BAD_DOCUMENT, "save")

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The document has 3 errors" in page and "Nothing was saved." in page
    listing = {
        int(number): body
        for number, body in re.findall(
            r'<li id="line-(\d+)" class="has-error">(.*?)</li>\s*</ul>', page, re.S
        )
    }
    assert sorted(listing) == [2, 7, 11]
    assert "currency" in listing[2] and "is not an ISO-4217 currency" in listing[2]
    assert "rules[0].when.line_value.gt" in listing[7] and "expected a number" in listing[7]
    assert "rules[1].then.reason" in listing[11] and "a decline needs a reason" in listing[11]
    assert '<a href="#line-7">Line 7</a>' in page
    assert 'aria-invalid="true"' in page
    assert _versions(shop) == 1


def test_text_that_is_not_yaml_is_placed_at_the_line_the_parser_names(
    signed_in: FlaskClient,
) -> None:
    response = _post_policy(signed_in, "version: 1\nrules:\n  - id: [unclosed\n", "check")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<li id="line-\d" class="has-error">', page)
    assert "not valid YAML or JSON" in page


def test_check_says_a_good_document_is_valid(signed_in: FlaskClient) -> None:
    response = _post_policy(signed_in, NO_SIZE_RETURNS, "check")
    assert response.status_code == 200
    assert "The document is valid." in response.get_data(as_text=True)


def test_a_simulation_shows_which_decisions_change_by_rule_with_examples(
    signed_in: FlaskClient, shop: dict[str, Any]
) -> None:
    rmas = _ask_returns(shop, [Reason.SIZE_TOO_SMALL, Reason.UNWANTED, Reason.SIZE_TOO_LARGE])

    response = _post_policy(signed_in, NO_SIZE_RETURNS, "simulate", days="30")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Simulation over the last 30 days" in page
    assert "3 returns replayed:" in page and "2 decisions change" in page
    by_rule = re.search(r"Changed lines by rule</caption>(.*?)</table>", page, re.S)
    assert by_rule and re.search(r"<code>no-size-returns</code></th><td>2</td>", by_rule.group(1))
    examples = re.search(r"Examples</caption>(.*?)</table>", page, re.S)
    assert examples and rmas[0] in examples.group(1) and rmas[2] in examples.group(1)
    assert rmas[1] not in examples.group(1)
    assert _versions(shop) == 1


def test_save_stores_a_new_version_only_after_a_simulation_of_that_text(
    signed_in: FlaskClient, shop: dict[str, Any]
) -> None:
    refused = _post_policy(signed_in, NO_SIZE_RETURNS, "save")
    assert refused.status_code == 409
    assert "Simulate this exact document before saving it" in refused.get_data(as_text=True)
    assert _versions(shop) == 1

    simulated = _post_policy(signed_in, NO_SIZE_RETURNS, "simulate")
    digest = re.search(r'name="simulated" value="([0-9a-f]{64})"', simulated.get_data(as_text=True))
    assert digest

    edited = _post_policy(
        signed_in, NO_SIZE_RETURNS.replace("30", "45"), "save", simulated=digest.group(1)
    )
    assert edited.status_code == 409 and _versions(shop) == 1

    saved = _post_policy(signed_in, NO_SIZE_RETURNS, "save", simulated=digest.group(1))
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/policy"
    assert _versions(shop) == 2
    page = signed_in.get("/admin/policy").get_data(as_text=True)
    assert "Saved as version 2, now the active policy." in page
    assert "Active: version 2, saved" in page and "id: no-size-returns" in page

    earlier = signed_in.get("/admin/policy?version=1").get_data(as_text=True)
    assert "Version 1 is open in the editor" in earlier and "no-size-returns" not in earlier

    again = _post_policy(signed_in, NO_SIZE_RETURNS, "save", simulated=digest.group(1))
    assert again.status_code == 409, "the simulation was against version 1, no longer active"
    assert _versions(shop) == 2


def test_the_dashboard_draws_each_chart_with_its_table_and_csv_link(
    signed_in: FlaskClient, shop: dict[str, Any]
) -> None:
    _ask_returns(shop, [Reason.DEFECTIVE, Reason.DEFECTIVE, Reason.COLOR])

    page = signed_in.get("/admin/dashboard").get_data(as_text=True)

    for chart in ("returns_per_day", "reasons"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in page
        assert f'<title id="{chart}-title">' in page
        assert f"/admin/dashboard.csv?chart={chart}&amp;from=" in page
    assert page.count('<rect class="bar"') >= 2
    assert '<th scope="row">Defective</th>' in page


def test_the_reasons_csv_lists_the_merchants_return_lines_by_reason(
    signed_in: FlaskClient, shop: dict[str, Any]
) -> None:
    _ask_returns(shop, [Reason.DEFECTIVE, Reason.COLOR, Reason.DEFECTIVE, Reason.UNWANTED])
    today = datetime.now(UTC).date().isoformat()

    response = signed_in.get(f"/admin/dashboard.csv?chart=reasons&from={today}&to={today}")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="reasons-{today}-{today}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["reason", "return_lines"],
        ["DEFECTIVE", "2"],
        ["COLOR", "1"],
        ["UNWANTED", "1"],
    ]


def test_a_csv_for_an_unknown_chart_or_bad_dates_is_refused(signed_in: FlaskClient) -> None:
    assert signed_in.get("/admin/dashboard.csv?chart=nothing").status_code == 404
    assert signed_in.get("/admin/dashboard.csv?chart=reasons&from=yesterday").status_code == 400


def test_bad_dates_are_told_in_place_and_the_last_30_days_shown(signed_in: FlaskClient) -> None:
    page = signed_in.get("/admin/dashboard?from=2026-05-02&to=2026-05-01").get_data(as_text=True)
    assert 'id="from-error"' in page and "must start on or before" in page


def test_a_currency_without_a_stored_rate_is_told_instead_of_failing(
    signed_in: FlaskClient, shop: dict[str, Any]
) -> None:
    with shop["runtime"].db.transaction() as session:
        order = session.scalars(
            select(models.Order).where(models.Order.store_id == shop["setup"].store_id)
        ).first()
        order.currency, order.placed_at = "ISK", datetime.now(UTC)

    page = signed_in.get("/admin/dashboard")
    csv_export = signed_in.get("/admin/dashboard.csv?chart=return_cost")

    assert page.status_code == 200
    assert "need an exchange rate that is not stored" in page.get_data(as_text=True)
    assert "ISK" in page.get_data(as_text=True)
    assert csv_export.status_code == 500
