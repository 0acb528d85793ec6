"""The review queues: the returns the policy sent to a person, grouped by queue, settled one
by one or several at once with one note.

Each return is settled through ``lifecycle.review`` in its own transaction, so one that
cannot be (settled by someone else meanwhile, say) fails alone and is reported with its
reason, while the others go through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from ...db import models
from ...errors import NotFound, ValidationError
from ...jobs import enqueue_all
from ...runtime import current_runtime
from ...services import lifecycle, queries
from . import actor, admin, login_required, merchant_id


@dataclass
class Outcome:
    """What a bulk review did: the RMAs settled, and each failure with its reason."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def review_all(return_ids: list[int], approve: bool, note: str, by: str, owner: int) -> Outcome:
    runtime = current_runtime()
    with runtime.db.session() as session:
        rmas = dict(
            session.execute(
                select(models.Return.id, models.Return.rma).where(
                    models.Return.id.in_(return_ids), models.Return.merchant_id == owner
                )
            ).all()
        )
    outcome = Outcome()
    for return_id in return_ids:
        name = rmas.get(return_id) or str(return_id)
        if return_id not in rmas:
            outcome.failed.append((name, _("no such return")))
            continue
        try:
            with runtime.db.transaction() as session:
                queries.owned_return(session, owner, return_id)
                follow_ups = lifecycle.review(session, return_id, approve, note, by)
        except (ValidationError, NotFound) as error:
            outcome.failed.append((name, getattr(error, "message", str(error))))
            continue
        enqueue_all(runtime, follow_ups)
        outcome.done.append(name)
    return outcome


def _page(note: str = "", selected: frozenset[int] = frozenset(), error: str = "") -> str:
    with current_runtime().db.session() as session:
        queues = queries.in_review(session, merchant_id())
    return render_template(
        "admin/review.html", queues=queues, note=note, selected=selected, error=error
    )


@admin.get("/review")
@login_required
def review_queue() -> str:
    return _page()


@admin.post("/review")
@login_required
def review_selected() -> Response | tuple[str, int]:
    note = request.form.get("note", "").strip()[:2000]
    given = [queries.whole_id(value) for value in request.form.getlist("return_id")]
    selected = [return_id for return_id in given if return_id is not None]
    one = request.form.get("one", "")
    decision, _sep, single = one.partition(":")
    if one:
        single_id = queries.whole_id(single)
        if single_id is None:
            return _page(note, frozenset(selected), _("Choose approve or decline.")), 400
        ids = [single_id]
    else:
        decision = request.form.get("decision", "")
        ids = list(dict.fromkeys(selected))
    if decision not in ("approve", "decline"):
        return _page(note, frozenset(selected), _("Choose approve or decline.")), 400
    if not ids:
        return _page(note, frozenset(selected), _("Select at least one return.")), 400
    if not note:
        error = _("Write a note: it is kept in each return's ledger.")
        return _page(note, frozenset(selected), error), 400
    outcome = review_all(ids, decision == "approve", note, actor(), merchant_id())
    if outcome.done:
        done = ", ".join(outcome.done)
        if decision == "approve":
            flash(_("Approved: %(returns)s.", returns=done), "success")
        else:
            flash(_("Declined: %(returns)s.", returns=done), "success")
    for name, reason in outcome.failed:
        flash(_("Not settled: %(rma)s: %(reason)s.", rma=name, reason=reason), "error")
    return redirect(url_for("admin.review_queue"))
