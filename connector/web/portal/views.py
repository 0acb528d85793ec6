"""The portal's pages: find the order, choose what goes back, check the offer, send it, follow
it, and withdraw from the contract.

Every view works on the merchant named in the address (``g.merchant_id``) and, past the
lookup, on the order this browser found (kept in the session by ``lookup.remember``). A
buyer's words reach the core only as canonical values: a ``ReturnRequest`` for
``intake.create_return``, photos through ``services.photos.store_photo``, a parcel through
``logistics.record_own_shipment``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ... import links as file_links
from ...db import models
from ...db.types import utcnow
from ...domain import Condition, Money, Reason, ReturnLine, ReturnRequest, TrackingStatus
from ...domain.events import EventKind
from ...domain.money import MoneyError
from ...errors import HellowordError, NotFound, ValidationError
from ...jobs import enqueue, enqueue_all
from ...ports import Variant
from ...routing import OptionKind
from ...rules.engine import STATUTORY_COUNTRIES, STATUTORY_DAYS
from ...runtime import Runtime, current_runtime
from ...services import FollowUp, intake, logistics, merchants, photos
from ...services.common import record
from ...services.destinations import routing_settings
from ..ui import limiter
from . import drafts, portal, words
from .drafts import Draft, DraftLine, DraftPhoto
from .lookup import find_order, normalise_number, remember, remembered, returnable
from .offer import make_offer
from .status_links import return_of, status_token

WITHDRAWAL_NOTE = "Withdrawal from contract"
NOTE_LIMIT = 2000
PHOTO_TYPES = "image/jpeg,image/png,image/heic,image/heif,image/webp"
# room in one request for every photo a return may hold, and the form around them
UPLOAD_LIMIT = photos.MAX_PER_RETURN * photos.MAX_BYTES + 1024 * 1024


# --- the merchant in the address ----------------------------------------------------------


@portal.url_value_preprocessor
def _take_slug(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.slug = (values or {}).pop("slug", None)


@portal.url_defaults
def _give_slug(endpoint: str, values: dict[str, Any]) -> None:
    if "slug" not in values and g.get("slug"):
        values["slug"] = g.slug


@portal.before_app_request
def _room_for_photos() -> None:
    """The return form carries up to five photos: more than the app's usual request limit.
    (An app-wide hook, so it runs before the blueprint's CSRF check reads the form.)"""
    if request.endpoint == "portal.choose":
        request.max_content_length = UPLOAD_LIMIT


@portal.before_request
def _merchant() -> None:
    with current_runtime().db.session() as session:
        try:
            merchant = merchants.merchant_by_slug(session, str(g.slug or ""))
        except NotFound:
            abort(404)
        g.merchant_id, g.merchant_name = merchant.id, merchant.name


@portal.context_processor
def _words() -> dict[str, Any]:
    return {
        "words": words,
        "format_date": format_date,
        "photo_types": PHOTO_TYPES,
        "max_photos": photos.MAX_PER_RETURN,
    }


@portal.errorhandler(404)
def _not_found(error: HTTPException) -> tuple[str, int]:
    return render_template("portal/problem.html", problem="not_found"), 404


@portal.errorhandler(429)
def _too_many(error: HTTPException) -> tuple[str, int]:
    return render_template("portal/problem.html", problem="too_many"), 429


@portal.errorhandler(413)
def _too_large(error: HTTPException) -> tuple[str, int]:
    return render_template("portal/problem.html", problem="too_large"), 413


@portal.errorhandler(CSRFError)
def _expired_form(error: CSRFError) -> tuple[str, int]:
    return render_template("portal/problem.html", problem="expired"), 400


# --- finding the order --------------------------------------------------------------------


def _order_key() -> str:
    """The per-order rate limit's key: this merchant and the order number asked for."""
    number = normalise_number(request.form.get("order", "")).casefold()
    return f"portal-order:{g.slug}:{number}"


@portal.get("/<slug>")
def start() -> str:
    asked = {
        "order": request.args.get("order", ""),
        "contact": request.args.get("email") or request.args.get("postal_code", ""),
    }
    return render_template("portal/lookup.html", asked=asked, failed=False)


@portal.post("/<slug>")
@limiter.limit("10 per minute; 30 per hour")
@limiter.limit("5 per 15 minutes", key_func=_order_key)
def find() -> Response | tuple[str, int]:
    number = request.form.get("order", "")
    contact = request.form.get("contact", "")
    with current_runtime().db.session() as session:
        order = find_order(session, g.merchant_id, number, contact)
        order_id = order.id if order else None
    if order_id is None:
        asked = {"order": number, "contact": contact}
        return render_template("portal/lookup.html", asked=asked, failed=True), 422
    drafts.discard(current_runtime().redis)
    remember(g.slug, order_id)
    return redirect(url_for("portal.order"))


def _found(session: Session) -> models.Order | None:
    order_id = remembered(g.slug)
    order = session.get(models.Order, order_id) if order_id else None
    return order if order is not None and order.merchant_id == g.merchant_id else None


def _find_first() -> Response:
    flash(_("Please find your order first."), "error")
    return redirect(url_for("portal.start"))


# --- the order: what may go back, and the withdrawal --------------------------------------


@portal.get("/<slug>/order")
def order() -> str | Response:
    with current_runtime().db.session() as session:
        found = _found(session)
        if found is None:
            return _find_first()
        draft = drafts.load(found.id)
        chosen = {line.line_id: line for line in draft.lines} if draft else {}
        form = {
            "lines": [str(i) for i in chosen],
            "note": draft.note if draft else "",
            **{f"quantity-{i}": str(c.quantity) for i, c in chosen.items()},
            **{f"reason-{i}": c.reason for i, c in chosen.items()},
            **{f"condition-{i}": c.condition for i, c in chosen.items()},
        }
        return _order_page(session, found, form, {}, draft)


def _order_page(
    session: Session,
    found: models.Order,
    form: dict[str, Any],
    errors: dict[str, str],
    draft: Draft | None,
) -> str:
    items = returnable(session, found)
    returns = session.scalars(
        select(models.Return)
        .where(models.Return.order_id == found.id)
        .order_by(models.Return.id.desc())
    ).all()
    secret = current_runtime().settings.secret_key
    return render_template(
        "portal/order.html",
        order=found,
        items=items,
        form=form,
        errors=errors,
        draft=draft,
        returns=[(r, url_for("portal.status", token=status_token(secret, r.id))) for r in returns],
        withdrawal=_withdrawal(found, items),
    )


def _withdrawal(found: models.Order, items: list[Any]) -> dict[str, Any] | None:
    """The EU right of withdrawal for this order, or None where it does not apply: the buyer
    lives outside the countries the rules grant it in, or nothing is left to withdraw."""
    country = str(found.shipping_address.get("country", ""))
    if country not in STATUTORY_COUNTRIES or not items:
        return None
    delivered = found.delivered_at
    ends = (delivered + timedelta(days=STATUTORY_DAYS)) if delivered else None
    return {"ends": ends, "ended": bool(ends and ends < utcnow()), "days": STATUTORY_DAYS}


@portal.post("/<slug>/order")
def choose() -> Response | tuple[str, int]:
    runtime = current_runtime()
    with runtime.db.session() as session:
        found = _found(session)
        if found is None:
            return _find_first()
        previous = drafts.load(found.id)
        draft, parked, errors = _read_choice(session, found, previous)
        if errors:
            form = {"lines": request.form.getlist("line"), **request.form.to_dict()}
            return _order_page(session, found, form, errors, previous), 422
    assert draft is not None
    keys = [DraftPhoto(line_id, drafts.keep_photo(runtime.redis, data)) for line_id, data in parked]
    drafts.save(
        runtime.redis, Draft(draft.order_id, draft.lines, draft.note, draft.photos + tuple(keys))
    )
    return redirect(url_for("portal.review"))


def _read_choice(
    session: Session, found: models.Order, previous: Draft | None
) -> tuple[Draft | None, list[tuple[int, bytes]], dict[str, str]]:
    """The draft the form describes and the photos to park, or the errors, by field."""
    form = request.form
    remaining = {item.line.id: item.remaining for item in returnable(session, found)}
    reasons, conditions = {r.value for r in Reason}, {c.value for c in Condition}
    errors: dict[str, str] = {}
    lines: list[DraftLine] = []
    kept: list[DraftPhoto] = []
    parked: list[tuple[int, bytes]] = []
    chosen = [int(v) for v in form.getlist("line") if v.isdigit() and int(v) in remaining]
    if not chosen:
        errors["items"] = _("Choose at least one item to return.")
    for line_id in chosen:
        quantity = form.get(f"quantity-{line_id}", "1")
        if not quantity.isdigit() or not 1 <= int(quantity) <= remaining[line_id]:
            errors[f"quantity-{line_id}"] = _(
                "Choose how many to return, from 1 to %(most)d.", most=remaining[line_id]
            )
        reason = form.get(f"reason-{line_id}", "")
        if reason not in reasons:
            errors[f"reason-{line_id}"] = _("Choose why you are returning it.")
        condition = form.get(f"condition-{line_id}", "")
        if condition not in conditions:
            errors[f"condition-{line_id}"] = _("Choose the condition it is in.")
        if previous is not None and not form.get(f"drop-photos-{line_id}"):
            kept += [p for p in previous.photos if p.line_id == line_id]
        for upload in request.files.getlist(f"photos-{line_id}"):
            if not upload.filename:
                continue
            if len(kept) + len(parked) >= photos.MAX_PER_RETURN:
                errors.setdefault(
                    f"photos-{line_id}",
                    _("A return can have at most %(most)d photos.", most=photos.MAX_PER_RETURN),
                )
                break
            cleaned = _cleaned(upload.filename, upload.read(photos.MAX_BYTES + 1))
            if isinstance(cleaned, str):
                errors.setdefault(f"photos-{line_id}", cleaned)
            else:
                parked.append((line_id, cleaned))
        if f"quantity-{line_id}" not in errors and not set(errors) & {
            f"reason-{line_id}",
            f"condition-{line_id}",
        }:
            lines.append(DraftLine(line_id, int(quantity), reason, condition))
    note = form.get("note", "").strip()
    if len(note) > NOTE_LIMIT:
        errors["note"] = _("Keep the note under %(most)d characters.", most=NOTE_LIMIT)
    if errors:
        for line_id in {line_id for line_id, _data in parked}:  # browsers forget chosen files
            errors.setdefault(
                f"photos-{line_id}", _("Please choose these photos again once the form is right.")
            )
        return None, [], errors
    return Draft(found.id, tuple(lines), note, tuple(kept)), parked, {}


def _cleaned(filename: str, data: bytes) -> bytes | str:
    """The upload stripped of its metadata, or what is wrong with it in the buyer's words."""
    if len(data) > photos.MAX_BYTES:
        return _("%(file)s is larger than 10 MB.", file=filename)
    try:
        return photos.clean_image(data).data
    except ValidationError:
        return _("%(file)s is not a JPEG, PNG, HEIC or WebP photo.", file=filename)


# --- the offer, and sending the request ---------------------------------------------------


def _carrier_for(runtime: Runtime) -> Any:
    def carrier_for(account: models.CarrierAccount) -> Any:
        return runtime.carrier(account.carrier, account.name, account.credentials, account.settings)

    return carrier_for


def _platform(runtime: Runtime, session: Session, found: models.Order) -> Any:
    store = session.get_one(models.Store, found.store_id)
    return runtime.platform(store.platform, store.external_id, store.credentials, store.settings)


def _variants_for(platform: Any) -> Any:
    def variants_for(line: models.OrderLine) -> list[Variant] | None:
        try:
            return intake.variants_on_offer(platform, line)
        except HellowordError:  # the platform cannot say now: no exchange on this page
            return None

    return variants_for


@portal.get("/<slug>/review")
def review() -> str | Response:
    runtime = current_runtime()
    with runtime.db.session() as session:
        found = _found(session)
        if found is None:
            return _find_first()
        draft = drafts.load(found.id)
        if draft is None or not draft.lines:
            return redirect(url_for("portal.order"))
        variants_for = _variants_for(_platform(runtime, session, found))
        offer = make_offer(session, found, draft, _carrier_for(runtime), variants_for)
        return render_template("portal/review.html", order=found, draft=draft, offer=offer)


def _exchange_choice(
    runtime: Runtime, order_id: int, draft: Draft
) -> tuple[dict[int, str], str | None]:
    """The variant the buyer chose for each line, by order line id, or what is wrong with
    the choice in the buyer's words: none chosen, or one the platform no longer offers."""
    chosen = {
        line.line_id: sku
        for line in draft.lines
        if (sku := request.form.get(f"exchange-{line.line_id}", "").strip())
    }
    if not chosen:
        return {}, _("Choose the size or variant you want for each item.")
    with runtime.db.session() as session:
        found = session.get_one(models.Order, order_id)
        by_id = {line.id: line for line in found.lines}
        wanted = ReturnRequest(
            order_external_id=found.external_id,
            lines=tuple(
                ReturnLine(
                    by_id[line_id].external_id, 1, Reason.OTHER, exchange_sku=chosen[line_id]
                )
                for line_id in chosen
                if line_id in by_id
            ),
            requested_at=utcnow(),
            resolution="exchange",
        )
        try:
            intake.check_exchange(_platform(runtime, session, found), found, wanted)
        except (ValidationError, HellowordError):
            return {}, _("That size or variant is no longer on offer. Please choose again.")
    return chosen, None


@portal.post("/<slug>/review")
def submit() -> Response:
    runtime = current_runtime()
    resolution = request.form.get("resolution", "refund")
    if resolution not in ("refund", "store_credit", "exchange"):
        resolution = "refund"
    with runtime.db.session() as session:
        found = _found(session)
        if found is None:
            return _find_first()
        order_id = found.id
    draft = drafts.load(order_id)
    if draft is None or not draft.lines:
        return redirect(url_for("portal.order"))
    exchange_skus: dict[int, str] = {}
    if resolution == "exchange":
        exchange_skus, problem = _exchange_choice(runtime, order_id, draft)
        if problem:
            flash(problem, "error")
            return redirect(url_for("portal.review"))
    waiting = [(p.line_id, drafts.photo(runtime.redis, p.key)) for p in draft.photos]
    if any(data is None for _line, data in waiting):
        drafts.save(runtime.redis, Draft(draft.order_id, draft.lines, draft.note))
        flash(
            _("Your photos were kept for two hours and have expired: attach them again."), "error"
        )
        return redirect(url_for("portal.order"))
    try:
        with runtime.db.transaction() as session:
            found = session.get(models.Order, order_id)
            assert found is not None
            store = session.get(models.Store, found.store_id)
            assert store is not None
            by_id = {line.id: line for line in found.lines}
            request_ = ReturnRequest(
                order_external_id=found.external_id,
                lines=tuple(
                    ReturnLine(
                        by_id[line.line_id].external_id,
                        line.quantity,
                        Reason(line.reason),
                        Condition(line.condition),
                        photo_count=draft.photos_of(line.line_id),
                        exchange_sku=exchange_skus.get(line.line_id, ""),
                    )
                    for line in draft.lines
                ),
                requested_at=utcnow(),
                note=draft.note,
                resolution=resolution,
            )
            return_, follow_ups = intake.create_return(
                session, store, found, request_, source="portal", actor="buyer"
            )
            line_of = {line.order_line_id: line.id for line in return_.lines}
            for line_id, data in waiting:
                assert data is not None
                photos.store_photo(
                    session, runtime.files, return_.id, line_of.get(line_id), data, "buyer"
                )
            return_id, rma = return_.id, return_.rma or ""
            to = _buyer_email(found)
            number = found.number
    except ValidationError as error:
        if not error.field.startswith("lines"):
            raise
        # another request took some of these units meanwhile
        flash(_("Some of these items are already in another return. Please choose again."), "error")
        return redirect(url_for("portal.order"))
    path, link = _stored(runtime, return_id, follow_ups)
    if to:
        _send(
            runtime,
            f"send_email:return-link:{return_id}",
            to,
            _("Your return %(rma)s for order %(order)s", rma=rma, order=number),
            render_template(
                "portal/email/return_link.txt", rma=rma, order_number=number, link=link
            ),
        )
    flash(_("Thank you: we have your return request %(rma)s.", rma=rma), "success")
    return redirect(path)


def _buyer_email(found: models.Order) -> str:
    return (found.customer.email if found.customer else "") or str(
        found.shipping_address.get("email") or ""
    )


def _stored(runtime: Runtime, return_id: int, follow_ups: list[FollowUp]) -> tuple[str, str]:
    """Once a return is committed: queue its jobs and end the draft. Its status page's path,
    and the full link that the email carries."""
    enqueue_all(runtime, follow_ups)
    drafts.discard(runtime.redis)
    path = url_for("portal.status", token=status_token(runtime.settings.secret_key, return_id))
    return path, f"{runtime.settings.public_url}{path}"


def _send(runtime: Runtime, job_id: str, to: str, subject: str, body: str) -> None:
    """Queue an email in the language of the page it comes from."""
    language = str(get_locale() or "en").replace("_", "-")
    enqueue(runtime, "send_email", to, subject, body, language, job_id=job_id)


# --- withdrawal from the contract ---------------------------------------------------------


@portal.post("/<slug>/withdraw")
def withdraw() -> Response:
    """The buyer withdraws from the contract for every item not yet returned, in one step:
    a return of all of it, its ledger records the declaration and when it arrived, and the
    buyer gets an acknowledgement by email."""
    runtime = current_runtime()
    received = utcnow().replace(microsecond=0)
    with runtime.db.transaction() as session:
        found = _found(session)
        if found is None:
            return _find_first()
        items = returnable(session, found)
        if _withdrawal(found, items) is None:
            abort(404)
        store = session.get(models.Store, found.store_id)
        assert store is not None
        request_ = ReturnRequest(
            order_external_id=found.external_id,
            lines=tuple(
                ReturnLine(
                    item.line.external_id, item.remaining, Reason.OTHER, note=WITHDRAWAL_NOTE
                )
                for item in items
            ),
            requested_at=received,
            note=WITHDRAWAL_NOTE,
        )
        return_, follow_ups = intake.create_return(
            session, store, found, request_, source="portal", actor="buyer"
        )
        record(
            session,
            return_,
            EventKind.WITHDRAWAL_DECLARED,
            {
                "received_at": received.isoformat(),
                "order": found.number,
                "lines": [
                    {"line": item.line.external_id, "quantity": item.remaining} for item in items
                ],
            },
            actor="buyer",
        )
        return_id, rma, number, to = (
            return_.id,
            return_.rma or "",
            found.number,
            _buyer_email(found),
        )
        titles = [(item.line.title or item.line.sku, item.remaining) for item in items]
    path, link = _stored(runtime, return_id, follow_ups)
    if to:
        _send(
            runtime,
            f"send_email:withdrawal:{return_id}",
            to,
            _("We received your withdrawal from order %(order)s", order=number),
            render_template(
                "portal/email/withdrawal.txt",
                order_number=number,
                received=received,
                items=titles,
                rma=rma,
                link=link,
            ),
        )
    flash(
        _(
            "We received your withdrawal from the contract on %(moment)s.",
            moment=words.received_at(received),
        ),
        "success",
    )
    return redirect(path)


# --- following a return -------------------------------------------------------------------


def _return_for(session: Session, token: str) -> models.Return:
    return_id = return_of(current_runtime().settings.secret_key, token)
    return_ = session.get(models.Return, return_id) if return_id else None
    if return_ is None or return_.merchant_id != g.merchant_id:
        abort(404)
    return return_


@portal.get("/<slug>/status/<token>")
def status(token: str) -> str:
    with current_runtime().db.session() as session:
        return_ = _return_for(session, token)
        return render_template("portal/status.html", **_status_facts(session, return_, token))


def _status_facts(
    session: Session, return_: models.Return, token: str, form: dict[str, str] | None = None
) -> dict[str, Any]:
    runtime = current_runtime()
    secret = runtime.settings.secret_key
    events = session.scalars(
        select(models.LedgerEvent)
        .where(models.LedgerEvent.return_id == return_.id)
        .order_by(models.LedgerEvent.seq.desc())
    ).all()
    timeline = [
        (event.occurred_at, said)
        for event in events
        if (said := words.timeline_entry(event.kind, event.payload)) is not None
    ]
    issued = {event.kind: event.occurred_at for event in reversed(events)}
    shipments = session.scalars(
        select(models.Shipment)
        .where(
            models.Shipment.return_id == return_.id,
            models.Shipment.status != TrackingStatus.CANCELLED.value,
        )
        .order_by(models.Shipment.id.desc())
    ).all()
    validity = timedelta(days=routing_settings(session, return_.merchant_id).label_validity_days)
    parcels = []
    for shipment in shipments:
        files = {
            row.format: file_links.file_url(secret, request.script_root, row.id)
            for row in session.scalars(
                select(models.LabelFile).where(models.LabelFile.shipment_id == shipment.id)
            )
        }
        kind_event = (
            EventKind.DROPOFF_CODE_ISSUED if shipment.kind == "dropoff" else EventKind.LABEL_ISSUED
        )
        made = issued.get(kind_event, shipment.created_at)
        parcels.append(
            {
                "shipment": shipment,
                "files": files,
                "use_by": made + validity,
                "unused": shipment.status == TrackingStatus.LABEL_CREATED.value,
            }
        )
    option = logistics.chosen_option(return_) if return_.route and return_.route_option else None
    own = None
    if option and option["kind"] == OptionKind.OWN_SHIPMENT.value:
        destination = session.scalar(
            select(models.Destination).where(
                models.Destination.merchant_id == return_.merchant_id,
                models.Destination.code == option["destination"],
            )
        )
        own = {
            "address": destination.address if destination else {},
            "cap": logistics.reimbursement_cap(session, return_),
            "waiting": return_.status == "AWAITING_SHIPMENT",
        }
    withdrawal = issued.get(EventKind.WITHDRAWAL_DECLARED)
    return {
        "return_": return_,
        "order": return_.order,
        "token": token,
        "timeline": timeline,
        "parcels": parcels,
        "own": own,
        "withdrawn_at": withdrawal,
        "form": form or {},
        "errors": {},
        "photos": sum(photos.photo_counts(session, return_.id).values()),
    }


@portal.post("/<slug>/status/<token>/shipment")
def report_shipment(token: str) -> Response | tuple[str, int]:
    """The buyer sent the parcel themselves and tells us the carrier, tracking number and
    the postage they paid."""
    runtime = current_runtime()
    form = {k: request.form.get(k, "").strip() for k in ("carrier", "tracking_number", "postage")}
    errors: dict[str, str] = {}
    if not form["carrier"]:
        errors["carrier"] = _("Enter the carrier you sent the parcel with.")
    if not form["tracking_number"]:
        errors["tracking_number"] = _("Enter the parcel's tracking number.")
    with runtime.db.session() as session:
        return_ = _return_for(session, token)
        return_id, currency = return_.id, return_.order.currency
        try:
            postage = Money.of(form["postage"].replace(",", ".") or "0", currency)
            if postage.amount < 0:
                raise MoneyError("negative")
        except MoneyError:
            errors["postage"] = _("Enter the postage as an amount, such as 6.50.")
        if errors:
            return _status_error(session, return_, token, form, errors)
    try:
        with runtime.db.transaction() as session:
            follow_ups = logistics.record_own_shipment(
                session,
                return_id,
                form["carrier"],
                form["tracking_number"],
                postage,
                actor="buyer",
            )
    except ValidationError as error:
        if error.field != "tracking_number":  # sent twice, or no longer waiting for a parcel
            flash(_("This return is not waiting for a parcel from you."), "error")
            return redirect(url_for("portal.status", token=token))
        said = {"tracking_number": _("This tracking number is already registered.")}
        with runtime.db.session() as session:
            return _status_error(session, _return_for(session, token), token, form, said)
    enqueue_all(runtime, follow_ups)
    flash(_("Thank you: your parcel is on its way back."), "success")
    return redirect(url_for("portal.status", token=token))


def _status_error(
    session: Session,
    return_: models.Return,
    token: str,
    form: dict[str, str],
    errors: dict[str, str],
) -> tuple[str, int]:
    facts = _status_facts(session, return_, token, form)
    facts["errors"] = errors
    return render_template("portal/status.html", **facts), 422
