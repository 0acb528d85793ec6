"""The receiving bench: scan or type a parcel's RMA, weigh it, grade each approved line, add
photos, and submit; the refund then follows the policy's trigger.

Made for a warehouse bench: the scan field has the focus, a scanner's Enter opens the
return, and everything works from the keyboard without JavaScript. Receiving and grading
happen in one transaction (``receiving.receive`` then ``receiving.grade``, photos stored
between), so a parcel is never left received but half graded by a form that failed.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from ...db import models
from ...domain import Status
from ...errors import NotFound, ValidationError
from ...jobs import enqueue_all
from ...runtime import current_runtime
from ...services import FollowUp, photos, queries
from ...services.receiving import GRADES, grade, receive
from . import actor, admin, login_required, merchant_id
from .returns import Show

# a parcel arrives at the bench from these; a RECEIVED one (a carrier's delivery scan) only
# waits for its grades
_ARRIVING = (Status.AWAITING_SHIPMENT, Status.IN_TRANSIT)
_GRADED = (Status.INSPECTED, Status.RESOLVED, Status.CLOSED)
_WAITING_LIMIT = 20
_HEAVIEST_G = 1_000_000  # a tonne: no parcel weighs more


@admin.get("/receiving")
@login_required
def receiving() -> Response | tuple[str, int] | str:
    typed = request.args.get("rma", "").strip()
    if typed:
        with current_runtime().db.session() as session:
            found = queries.find_by_rma(session, merchant_id(), typed)
            found_id = found.id if found else None
        if found_id is not None:
            return redirect(url_for("admin.receiving_return", return_id=found_id))
        # the field starts empty again, so the next scan is not appended to this one
        error = _("No return %(rma)s was found. Check the label and scan again.", rma=typed)
        return _bench(error), 404
    return _bench()


def _bench(error: str = "") -> str:
    owner = merchant_id()
    with current_runtime().db.session() as session:
        waiting, received = queries.page(
            session,
            queries.matching(owner, queries.ReturnFilter(statuses=(Status.RECEIVED,))),
            0,
            _WAITING_LIMIT,
        )
        on_the_way, arriving = queries.page(
            session,
            queries.matching(owner, queries.ReturnFilter(statuses=(Status.IN_TRANSIT,))),
            0,
            _WAITING_LIMIT,
        )
    return render_template(
        "admin/receiving.html",
        error=error,
        received=received,
        waiting=waiting,
        arriving=arriving,
        on_the_way=on_the_way,
    )


@admin.get("/receiving/<int:return_id>")
@login_required
def receiving_return(return_id: int) -> str:
    return _form(return_id)


def _form(
    return_id: int, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> str:
    with current_runtime().db.snapshot() as session:
        try:
            found = queries.history(session, merchant_id(), return_id)
        except NotFound:
            abort(404)
    return_ = found.return_
    status = Status(return_.status)
    return render_template(
        "admin/receiving_return.html",
        found=found,
        return_=return_,
        approved=[line for line in return_.lines if line.outcome == "approve"],
        arriving=status in _ARRIVING,
        gradable=status in (*_ARRIVING, Status.RECEIVED),
        graded=status in _GRADED,
        errors=errors or {},
        values=values or {},
        max_photos=photos.MAX_PER_RETURN - len(found.photos),
    )


@admin.post("/receiving/<int:return_id>")
@login_required
def receive_and_grade(return_id: int) -> Response | tuple[str, int]:
    runtime = current_runtime()
    with runtime.db.session() as session:
        try:
            return_ = queries.owned_return(session, merchant_id(), return_id)
        except NotFound:
            abort(404)
        status = Status(return_.status)
        approved = [line.id for line in return_.lines if line.outcome == "approve"]
        rma = return_.rma
    form = request.form
    errors: dict[str, str] = {}
    weight_g = _weight(form.get("weight_g", ""), errors) if status in _ARRIVING else None
    note = form.get("note", "").strip()[:2000]
    grades: dict[int, str] = {}
    for line_id in approved:
        value = form.get(f"grade-{line_id}", "")
        if value in GRADES:
            grades[line_id] = value
        else:
            errors[f"grade-{line_id}"] = _("Choose a grade for this item.")
    uploads = _uploads(approved)
    values = {"weight_g": form.get("weight_g", ""), "note": note, "grades": grades}
    if errors:
        return _form(return_id, errors, values), 400
    try:
        with runtime.db.transaction() as session:
            queries.owned_return(session, merchant_id(), return_id)
            follow_ups: list[FollowUp] = []
            if status in _ARRIVING:
                follow_ups += receive(session, return_id, weight_g, note, actor())
            for shown, data in uploads:
                photos.store_photo(session, runtime.files, return_id, shown, data, actor())
            follow_ups += grade(session, return_id, grades, actor(), note)
    except ValidationError as error:
        field = "photos" if error.field.startswith(("photo", "return_line_id")) else "form"
        return _form(return_id, {field: error.message}, values), 400
    enqueue_all(runtime, follow_ups)
    flash(_("%(rma)s is received and graded.", rma=rma), "success")
    refund = _refund_news(return_id)
    if refund:
        flash(refund, "success")
    return redirect(url_for("admin.receiving_return", return_id=return_id))


def _weight(text: str, errors: dict[str, str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= _HEAVIEST_G:
        errors["weight_g"] = _("Write the weight in whole grams, from 1 to 1,000,000.")
        return None
    return int(text)


def _uploads(approved: list[int]) -> list[tuple[int | None, bytes]]:
    """The photos sent with the form: of the parcel (``photos``), or of a line
    (``photos-<line id>``); file inputs left empty send nothing."""
    sent: list[tuple[int | None, FileStorage]] = [
        (None, file) for file in request.files.getlist("photos")
    ]
    for line_id in approved:
        sent += [(line_id, file) for file in request.files.getlist(f"photos-{line_id}")]
    return [(line_id, file.read()) for line_id, file in sent if file.filename]


def _refund_news(return_id: int) -> str:
    """What the refund did, told right after the submit: requested or issued, and how much."""
    with current_runtime().db.session() as session:
        refund = session.scalar(
            select(models.Refund)
            .where(
                models.Refund.return_id == return_id,
                models.Refund.status.in_(["pending", "issued"]),
            )
            .order_by(models.Refund.sequence.desc())
            .limit(1)
        )
    if refund is None:
        return ""
    show = Show()
    amount = show.money(refund.amount_minor, refund.currency)
    if refund.status == "issued":
        return _("Refund issued: %(amount)s.", amount=amount)
    return _(
        "Refund requested: %(amount)s (%(trigger)s).",
        amount=amount,
        trigger=show.trigger(refund.trigger),
    )
