"""The back office's returns: the list with its filters, search and pages, the stores and how
far their order import has got, and one return's detail with the actions on it (review,
cancel, ask again for a refund that failed, settle a refund the platform may or may not have
made). Where the store's platform keeps its own record of refunds (Amazon), the detail shows
it beside ours: a refund awaiting the platform is not a failure, and cannot be asked for again.

Views only read through ``services.queries`` and act through the services, one transaction
per action; the jobs an action calls for are queued once it has committed. Every query is
scoped by the signed-in user's merchant, so another merchant's return is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import format_currency, format_date, format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ... import links
from ...db import models
from ...domain import TERMINAL, Money, Reason, Status
from ...domain.events import EventKind
from ...errors import HellowordError, NotFound, NothingToDo, ValidationError
from ...jobs import enqueue_all, refund_tracker
from ...ports import RefundTracker
from ...runtime import current_runtime
from ...services import FollowUp, lifecycle, queries, refunds
from ...services.receiving import GRADES
from . import actor, admin, login_required, merchant_id

PAGE_SIZE = 25
LAST_PAGE = 100_000  # a page number beyond it is read as this one


def N_(text: str) -> str:
    """Mark a label for the message catalogue; it is translated where it is shown."""
    return text


STATUS_LABELS: Mapping[str, str] = {
    Status.REQUESTED: N_("Requested"),
    Status.IN_REVIEW: N_("In review"),
    Status.APPROVED: N_("Approved"),
    Status.DECLINED: N_("Declined"),
    Status.AWAITING_SHIPMENT: N_("Awaiting shipment"),
    Status.IN_TRANSIT: N_("In transit"),
    Status.RECEIVED: N_("Received"),
    Status.INSPECTED: N_("Inspected"),
    Status.RESOLVED: N_("Resolved"),
    Status.CLOSED: N_("Closed"),
    Status.EXPIRED: N_("Expired"),
    Status.CANCELED: N_("Canceled"),
}
_STATUS_TONE: Mapping[str, str] = {
    Status.IN_REVIEW: "warn",
    Status.DECLINED: "bad",
    Status.EXPIRED: "bad",
    Status.CANCELED: "bad",
    Status.INSPECTED: "ok",
    Status.RESOLVED: "ok",
    Status.CLOSED: "ok",
}
REASON_LABELS: Mapping[str, str] = {
    Reason.SIZE_TOO_SMALL: N_("Size too small"),
    Reason.SIZE_TOO_LARGE: N_("Size too large"),
    Reason.UNWANTED: N_("No longer wanted"),
    Reason.NOT_AS_DESCRIBED: N_("Not as described"),
    Reason.WRONG_ITEM: N_("Wrong item sent"),
    Reason.DEFECTIVE: N_("Defective"),
    Reason.DAMAGED_IN_TRANSIT: N_("Damaged in transit"),
    Reason.ARRIVED_LATE: N_("Arrived late"),
    Reason.COLOR: N_("Colour"),
    Reason.STYLE: N_("Style"),
    Reason.OTHER: N_("Other"),
}
CONDITION_LABELS: Mapping[str, str] = {
    "unused": N_("Unused"),
    "opened": N_("Opened"),
    "used": N_("Used"),
    "damaged": N_("Damaged"),
}
GRADE_LABELS: Mapping[str, str] = {
    "resellable": N_("Resellable"),
    "needs_repair": N_("Needs repair"),
    "destroy": N_("Destroy"),
    "donate": N_("Donate"),
}
OUTCOME_LABELS: Mapping[str, str] = {
    "approve": N_("Approve"),
    "decline": N_("Decline"),
    "review": N_("Review"),
}
TRIGGER_LABELS: Mapping[str, str] = {
    "first_scan": N_("at the carrier's first scan"),
    "received": N_("at receipt"),
    "inspected": N_("after inspection"),
    "staff": N_("asked again by staff"),
}
REFUND_STATUS_LABELS: Mapping[str, str] = {
    "pending": N_("Requested"),
    "issued": N_("Issued"),
    "failed": N_("Failed"),
    "uncertain": N_("Uncertain"),
}
REFUND_TONES: Mapping[str, str] = {
    "issued": "ok",
    "failed": "bad",
    "pending": "warn",
    "uncertain": "bad",
}
# a platform's record says its refund may still be made: the refund awaits the platform
AWAITING_PLATFORM = frozenset({"queued", "submitting", "submitted"})
# where a person looks up a platform's own record of a refund, when it has a name of its own
PLATFORM_CONSOLES: Mapping[str, str] = {"amazon": "Seller Central"}
REFUND_KIND_LABELS: Mapping[str, str] = {
    "refund": N_("Refund"),
    "store_credit": N_("Store credit"),
    "exchange": N_("Exchange"),
}
OPTION_KIND_LABELS: Mapping[str, str] = {
    "label": N_("Label"),
    "dropoff": N_("Drop-off code"),
    "own_shipment": N_("Buyer's own shipment"),
    "platform_label": N_("The platform's own label"),
    "keep_item": N_("Buyer keeps the item"),
    "donate": N_("Buyer donates the item"),
}
EVENT_LABELS: Mapping[str, str] = {
    EventKind.RETURN_REQUESTED: N_("Return requested"),
    EventKind.RETURN_DECIDED: N_("Decided by the policy"),
    EventKind.RETURN_REVIEWED: N_("Reviewed"),
    EventKind.RETURN_ROUTED: N_("Route chosen"),
    EventKind.LABEL_ISSUED: N_("Label issued"),
    EventKind.LABEL_VOIDED: N_("Label voided"),
    EventKind.DROPOFF_CODE_ISSUED: N_("Drop-off code issued"),
    EventKind.RETURNLESS_GRANTED: N_("Returnless refund granted"),
    EventKind.OWN_SHIPMENT_REQUESTED: N_("Own shipment asked for"),
    EventKind.OWN_SHIPMENT_SENT: N_("Own shipment sent"),
    EventKind.PARCEL_SCANNED: N_("Parcel scanned"),
    EventKind.RETURN_RECEIVED: N_("Received"),
    EventKind.RETURN_INSPECTED: N_("Inspected"),
    EventKind.REFUND_REQUESTED: N_("Refund requested"),
    EventKind.REFUND_ISSUED: N_("Refund issued"),
    EventKind.REFUND_FAILED: N_("Refund failed"),
    EventKind.REFUND_UNCERTAIN: N_("Refund uncertain"),
    EventKind.RETURN_RESOLVED: N_("Resolved"),
    EventKind.RETURN_CLOSED: N_("Closed"),
    EventKind.RETURN_CANCELED: N_("Canceled"),
    EventKind.RETURN_EXPIRED: N_("Expired"),
    EventKind.PLATFORM_UPDATED: N_("Platform updated"),
}
BACKFILL_LABELS: Mapping[str, str] = {
    "queued": N_("Queued"),
    "running": N_("Importing"),
    "done": N_("Done"),
    "retrying": N_("Retrying"),
    "failed": N_("Failed"),
}


def _words(labels: Mapping[str, str], code: str) -> str:
    """A code in the page's language: its label translated, or the code itself."""
    return _(labels[code]) if code in labels else code


def platform_console(slug: str) -> str:
    """Where a person checks the platform's own records (Amazon's Seller Central)."""
    return PLATFORM_CONSOLES.get(slug, slug.capitalize())


class Show:
    """How the back office's templates write values: money and dates for the page's
    locale, and the business's codes in words."""

    def money(self, minor: int | None, currency: str) -> str:
        if minor is None:
            return ""
        return format_currency(Money.from_minor(minor, currency).amount, currency)

    def amount(self, text: str | None, currency: str) -> str:
        """A decimal string as stored in a route (``"12.50"``)."""
        try:
            return format_currency(Decimal(text or "0"), currency)
        except InvalidOperation:
            return text or ""

    def when(self, moment: datetime | None) -> str:
        return format_datetime(moment, "medium") if moment else ""

    def day(self, moment: datetime | str | None) -> str:
        """A date, from a datetime or an ISO 8601 text as kept in a store's settings."""
        if isinstance(moment, str):
            try:
                return format_date(datetime.fromisoformat(moment), "medium")
            except ValueError:
                return moment
        return format_date(moment, "medium") if moment else ""

    def status(self, status: str) -> str:
        return _words(STATUS_LABELS, status)

    def tone(self, status: str) -> str:
        return _STATUS_TONE.get(status, "")

    def reason(self, reason: str) -> str:
        return _words(REASON_LABELS, reason)

    def condition(self, condition: str) -> str:
        return _words(CONDITION_LABELS, condition)

    def grade(self, grade: str) -> str:
        return _words(GRADE_LABELS, grade)

    def outcome(self, outcome: str) -> str:
        return _words(OUTCOME_LABELS, outcome)

    def trigger(self, trigger: str) -> str:
        return _words(TRIGGER_LABELS, trigger)

    def refund_status(self, status: str) -> str:
        return _words(REFUND_STATUS_LABELS, status)

    def refund_standing(self, status: str, platform_state: str, platform: str) -> str:
        """A refund's status, told with the platform's own record when it has one: a refund
        the platform may still make awaits it, an uncertain one sends a person to look."""
        if status == "uncertain" or platform_state == "uncertain":
            return _("Uncertain — check %(where)s", where=platform_console(platform))
        if platform_state in AWAITING_PLATFORM:
            return _("Awaiting %(platform)s", platform=platform.capitalize())
        return self.refund_status(status)

    def refund_tone(self, status: str, platform_state: str) -> str:
        if status == "uncertain" or platform_state == "uncertain":
            return REFUND_TONES["uncertain"]
        if platform_state in AWAITING_PLATFORM:
            return "warn"
        return REFUND_TONES.get(status, "")

    def refund_kind(self, kind: str) -> str:
        return _words(REFUND_KIND_LABELS, kind)

    def option_kind(self, kind: str) -> str:
        return _words(OPTION_KIND_LABELS, kind)

    def event(self, kind: str) -> str:
        return _words(EVENT_LABELS, kind)

    def backfill(self, status: str) -> str:
        return _words(BACKFILL_LABELS, status)

    def fields(self, payload: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
        """A ledger payload's fields, the status move first (from, then to); each with
        whether it is structured data long enough to fold away."""
        first = [key for key in ("from", "to") if key in payload]
        rest = [key for key in payload if key not in first]
        return [
            (key, text, not isinstance(payload[key], str) and len(text) > 120)
            for key in first + rest
            for text in (self.value(payload[key]),)
        ]

    def value(self, value: Any) -> str:
        """A ledger payload's value, short."""
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


@admin.context_processor
def _show() -> dict[str, Any]:
    return {"show": Show(), "grades": GRADES}


# --- the list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListForm:
    """The list's query string, read: the filter it makes, the values to show back in the
    form, and what could not be read (each by its field)."""

    wanted: queries.ReturnFilter
    values: dict[str, str]
    errors: dict[str, str]
    page: int


FILTER_FIELDS = ("q", "status", "platform", "store", "reason", "country", "queue", "from", "to")


def read_list_form(args: Mapping[str, str]) -> ListForm:
    values = {name: (args.get(name) or "").strip() for name in FILTER_FIELDS}
    errors: dict[str, str] = {}
    status = values["status"] if values["status"] in STATUS_LABELS else ""
    if values["status"] and not status:
        errors["status"] = _("Choose a status from the list.")
    reason = values["reason"] if values["reason"] in REASON_LABELS else ""
    if values["reason"] and not reason:
        errors["reason"] = _("Choose a reason from the list.")
    store_id = queries.whole_id(values["store"]) if values["store"] else None
    if values["store"] and store_id is None:
        errors["store"] = _("Choose a store from the list.")
    country = values["country"].upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["country"] = _("Write a two-letter country code, such as DE.")
        country = ""
    else:
        values["country"] = country
    requested_after = _day(values["from"], "from", errors)
    requested_before = _day(values["to"], "to", errors)
    page_text = args.get("page", "")
    page = min(int(page_text), LAST_PAGE) if page_text.isascii() and page_text.isdigit() else 1
    page = max(page, 1)
    wanted = queries.ReturnFilter(
        statuses=(status,) if status else (),
        store_id=store_id,
        platform=values["platform"] or None,
        review_queue=values["queue"] or None,
        reason=reason or None,
        country=country or None,
        requested_after=requested_after,
        requested_before=requested_before + timedelta(days=1) if requested_before else None,
        search=values["q"],
    )
    return ListForm(wanted, values, errors, page)


def _day(text: str, name: str, errors: dict[str, str]) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    except ValueError:
        errors[name] = _("Write the date as YYYY-MM-DD.")
        return None


@admin.get("/returns")
@login_required
def returns_list() -> str:
    form = read_list_form(request.args)
    with current_runtime().db.session() as session:
        total, rows = queries.page(
            session,
            queries.matching(merchant_id(), form.wanted),
            (form.page - 1) * PAGE_SIZE,
            PAGE_SIZE,
        )
        stores = queries.stores(session, merchant_id())
        queues = queries.review_queues(session, merchant_id())
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    kept = {name: value for name, value in form.values.items() if value}
    return render_template(
        "admin/returns.html",
        rows=rows,
        total=total,
        page=form.page,
        pages=pages,
        page_url=lambda number: (
            url_for("admin.returns_list") + "?" + urlencode({**kept, "page": number})
        ),
        values=form.values,
        errors=form.errors,
        stores=stores,
        platforms=sorted({store.platform for store in stores}),
        queues=queues,
        statuses=list(STATUS_LABELS),
        reasons=list(REASON_LABELS),
        filtered=bool(kept),
    )


# --- one return ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    line: models.ReturnLine
    policy: dict[str, Any] | None  # the policy's decision on this line, as stored


@admin.get("/returns/<int:return_id>")
@login_required
def return_detail(return_id: int) -> str:
    runtime = current_runtime()
    with runtime.db.snapshot() as session:
        try:
            found = queries.history(session, merchant_id(), return_id)
        except NotFound:
            abort(404)
        destinations = dict(
            session.execute(
                select(models.Destination.code, models.Destination.name).where(
                    models.Destination.merchant_id == merchant_id()
                )
            ).all()
        )
    return_ = found.return_
    policy = next((d for d in reversed(found.decisions) if d.actor == "policy"), None)
    by_line = {record["line"]: record for record in (policy.lines if policy else [])}
    settings = runtime.settings
    label_urls = {
        shipment.id: [
            (label.format, links.file_url(settings.secret_key, settings.public_url, label.id))
            for label in found.labels.get(shipment.id, [])
        ]
        for shipment in found.shipments
    }
    statuses = {refund.status for refund in found.refunds}
    platform_states = _platform_states(return_.store_id, found.refunds)
    held = bool(statuses & {"pending", "issued", "uncertain"}) or any(
        state and state != "failed" for state in platform_states.values()
    )
    return render_template(
        "admin/return_detail.html",
        found=found,
        return_=return_,
        order=return_.order,
        customer=return_.order.customer,
        country=(return_.buyer_address or return_.order.shipping_address).get("country", ""),
        lines=[LineView(line, by_line.get(line.order_line.external_id)) for line in return_.lines],
        policy=policy,
        reviews=[d for d in found.decisions if d.actor != "policy"],
        route=return_.route,
        destinations=destinations,
        label_urls=label_urls,
        photo_lines={line.id: line for line in return_.lines},
        can_review=return_.status == Status.IN_REVIEW,
        can_cancel=Status(return_.status) not in TERMINAL
        and not statuses & {"pending", "issued", "uncertain"},
        can_retry_refund="failed" in statuses and not held,
        can_settle_refund="uncertain" in statuses,
        platform_states=platform_states,
        platform=return_.store.platform,
        console=platform_console(return_.store.platform),
    )


def _platform_states(store_id: int, refunds: list[models.Refund]) -> dict[int, str]:
    """Where the platform's own record has each refund not issued, by refund id; empty when
    the platform keeps none, or it cannot be read now (the page shows ours alone)."""
    try:
        tracker = refund_tracker(current_runtime(), store_id)
        if tracker is None:
            return {}
        states = {}
        for refund in refunds:
            if refund.status != "issued":
                standing = tracker.refund_status(refund.idempotency_key)
                states[refund.id] = str(standing.state) if standing is not None else ""
        return states
    except HellowordError:
        return {}


@admin.get("/returns/<int:return_id>/photos/<int:photo_id>")
@login_required
def return_photo(return_id: int, photo_id: int) -> Response:
    """A photo of one of the merchant's returns, from the buyer or the bench."""
    runtime = current_runtime()
    if max(return_id, photo_id) > queries.LARGEST_ID:
        abort(404)
    with runtime.db.session() as session:
        photo = session.scalar(
            select(models.ReturnPhoto)
            .join(models.Return, models.ReturnPhoto.return_id == models.Return.id)
            .where(
                models.ReturnPhoto.id == photo_id,
                models.ReturnPhoto.return_id == return_id,
                models.Return.merchant_id == merchant_id(),
            )
        )
    if photo is None or not runtime.files.path(photo.path).is_file():
        abort(404)
    response = send_file(runtime.files.path(photo.path), mimetype=photo.content_type)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def act(return_id: int, work: Callable[[Session], list[FollowUp]]) -> str | None:
    """Run one action on the merchant's return in its own transaction and queue the jobs it
    calls for once committed. The service's objection, if it refused; 404 for a return that
    is not the merchant's."""
    runtime = current_runtime()
    try:
        with runtime.db.transaction() as session:
            queries.owned_return(session, merchant_id(), return_id)
            follow_ups = work(session)
    except NotFound:
        abort(404)
    except ValidationError as error:
        return error.message
    enqueue_all(runtime, follow_ups)
    return None


def _back(return_id: int) -> Response:
    return redirect(url_for("admin.return_detail", return_id=return_id))


@admin.post("/returns/<int:return_id>/review")
@login_required
def review_return(return_id: int) -> Response:
    decision = request.form.get("decision", "")
    note = request.form.get("note", "").strip()
    if decision not in ("approve", "decline"):
        flash(_("Choose approve or decline."), "error")
        return _back(return_id)
    if not note:
        flash(_("Write a note: it is kept in the return's ledger."), "error")
        return _back(return_id)
    problem = act(
        return_id,
        lambda session: lifecycle.review(
            session, return_id, decision == "approve", note[:2000], actor()
        ),
    )
    if problem:
        flash(problem, "error")
    elif decision == "approve":
        flash(_("The return is approved."), "success")
    else:
        flash(_("The return is declined."), "success")
    return _back(return_id)


@admin.post("/returns/<int:return_id>/cancel")
@login_required
def cancel_return(return_id: int) -> Response:
    reason = request.form.get("reason", "").strip()[:500]
    problem = act(return_id, lambda session: lifecycle.cancel(session, return_id, reason, actor()))
    if problem:
        flash(problem, "error")
    else:
        flash(_("The return is canceled."), "success")
    return _back(return_id)


@admin.post("/returns/<int:return_id>/refund")
@login_required
def retry_refund(return_id: int) -> Response:
    problem = act_on_refunds(
        return_id,
        lambda session, tracker: refunds.retry_refund(session, return_id, actor(), tracker),
    )
    if problem:
        flash(problem, "error")
    else:
        flash(_("A new refund is requested."), "success")
    return _back(return_id)


@admin.post("/returns/<int:return_id>/refund/settle")
@login_required
def settle_refund(return_id: int) -> Response:
    made = request.form.get("made", "")
    note = request.form.get("note", "").strip()[:500]
    if made not in ("yes", "no"):
        flash(_("Say whether the refund was made."), "error")
        return _back(return_id)
    problem = act_on_refunds(
        return_id,
        lambda session, tracker: refunds.settle_refund(
            session, return_id, made == "yes", note, actor(), tracker
        ),
    )
    if problem:
        flash(problem, "error")
    elif made == "yes":
        flash(_("The refund is recorded as made."), "success")
    else:
        flash(_("The refund is recorded as not made: it can be asked for again."), "success")
    return _back(return_id)


def act_on_refunds(
    return_id: int, work: Callable[[Session, RefundTracker | None], list[FollowUp]]
) -> str | None:
    """``act`` for the refund actions, which also need the platform's own record of refunds
    when it keeps one: read before the transaction, and without it nothing is done."""
    runtime = current_runtime()
    with runtime.db.session() as session:
        try:
            store_id = queries.owned_return(session, merchant_id(), return_id).store_id
        except NotFound:
            abort(404)
    try:
        tracker = refund_tracker(runtime, store_id)
    except NothingToDo:
        tracker = None
    except HellowordError as error:
        return _("The platform's record of refunds cannot be read now: %(error)s", error=error)
    return act(return_id, lambda session: work(session, tracker))
