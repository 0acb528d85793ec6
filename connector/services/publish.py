"""Carrying out one outbox row: the push to the platform, then its record.

The remote call happens between two short transactions. The first counts the attempt, the
second stores the result. A crash in between leaves the row pending; the retry sends the same
idempotency key, which the platform (or the adapter, by reading remote state) treats as done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from .. import links
from ..db import models
from ..db.mapping import return_request_from_row
from ..db.types import utcnow
from ..domain import Money, ReturnRequest
from ..domain.events import EventKind
from ..errors import NotFound, NothingToDo, PermanentError
from ..ports import InventoryPublisher, PushResult, ReturnCreator, ReturnPublisher, VariantSource
from . import outbox
from .common import FollowUp, lock_return, record
from .lifecycle import try_resolve
from .refunds import exchange_allowed

SETTLING = {"refund", "exchange"}  # the pushes that settle a return's refund row

NEEDS_PLATFORM_RETURN = {"approve", "decline", "attach_label", "dispose", "close"}


@dataclass(frozen=True)
class Call:
    """The push to make, prepared inside a transaction and made outside it."""

    action_id: int
    action: str
    key: str
    invoke: Callable[[Any], PushResult] | None  # None: nothing to push for this platform


def prepare(
    session: Session, action_id: int, secret_key: str, public_url: str, retrying: bool = False
) -> tuple[Call, models.Store]:
    action = session.get(models.OutboundAction, action_id, with_for_update=True)
    if action is None:
        raise NotFound(f"outbound action {action_id} does not exist")
    if action.status == "done":
        raise NothingToDo(f"{action.idempotency_key} is done already")
    return_ = session.get(models.Return, action.return_id)
    store = session.get(models.Store, action.store_id)
    if return_ is None or store is None:
        raise NotFound(f"outbound action {action_id} lost its return or store")
    earlier = outbox.earlier_pending(session, action)
    if earlier is not None:  # a platform sees a return's changes in the order they happened
        raise NothingToDo(f"{action.idempotency_key} runs after {earlier}")
    outbox.claim(action, retrying)
    external = return_.external_id or ""
    key, payload = action.idempotency_key, action.payload
    invoke: Callable[[Any], PushResult] | None
    if action.action == "approve" and not external:
        # made in Helloword: once approved, the platform gets the return (where it can)
        whole = return_request_from_row(return_)
        # the platform's return carries the exchange from the start (Shopify's exchange line
        # items are set when a return is created), when the return will be settled by one
        exchanging, _ = exchange_allowed(session, return_)
        approved = tuple(
            replace(line, exchange_sku=row.exchange_sku if exchanging else "")
            for line, row in zip(whole.lines, return_.lines, strict=True)
            if row.outcome == "approve"
        )
        request = replace(whole, lines=approved, resolution=return_.resolution)
        invoke = lambda a: _create(a, key, request)  # noqa: E731
    elif action.action in NEEDS_PLATFORM_RETURN and not external:
        invoke = None  # the return was made in Helloword; the platform has no return to update
    elif action.action == "approve":
        invoke = lambda a: a.approve(key, external)  # noqa: E731
    elif action.action == "decline":
        invoke = lambda a: a.decline(key, external, payload["reason"], payload.get("note", ""))  # noqa: E731
    elif action.action == "attach_label":
        # a signed, expiring link: the platform fetches the label without an API key
        url = links.label_url(
            session, secret_key, public_url, return_.id, payload["tracking_number"]
        )
        invoke = lambda a: a.attach_label(  # noqa: E731
            key, external, payload["tracking_number"], payload["carrier"], url
        )
    elif action.action == "dispose":
        dispositions = [tuple(d) for d in payload["dispositions"]]
        invoke = lambda a: a.dispose(key, external, dispositions)  # noqa: E731
    elif action.action == "restock":
        items = [(str(sku), int(quantity)) for sku, quantity in payload["items"]]
        invoke = lambda a: _restock(a, key, items)  # noqa: E731
    elif action.action == "close":
        invoke = lambda a: a.close(key, external)  # noqa: E731
    elif action.action == "refund":
        refund = session.get(models.Refund, payload["refund_id"])
        assert refund is not None
        amount = Money.from_minor(refund.amount_minor, refund.currency)
        order_external = return_.order.external_id
        lines = [(str(line), int(qty)) for line, qty in payload["lines"]]
        if refund.kind == "store_credit":
            invoke = lambda a: a.refund(  # noqa: E731
                key, external, order_external, amount, lines, store_credit=True
            )
        else:
            invoke = lambda a: a.refund(key, external, order_external, amount, lines)  # noqa: E731
    elif action.action == "exchange":
        order_external = return_.order.external_id
        wanted = [(str(line), int(qty), str(sku)) for line, qty, sku in payload["lines"]]
        invoke = lambda a: _exchange(a, key, external, order_external, wanted)  # noqa: E731
    else:
        raise NotFound(f"unknown outbound action {action.action!r}")
    return Call(action.id, action.action, key, invoke), store


def _create(adapter: Any, key: str, request: ReturnRequest) -> PushResult:
    if not isinstance(adapter, ReturnCreator):
        return PushResult(details={"skipped": "this platform takes no returns from outside"})
    return adapter.create_return(key, request, approved=True)


def _exchange(
    adapter: Any, key: str, external: str, order_external: str, lines: list[tuple[str, int, str]]
) -> PushResult:
    if not isinstance(adapter, VariantSource):
        raise PermanentError("this platform sends no exchanges: ask for a refund instead")
    return adapter.exchange(key, external, order_external, lines)


def _restock(adapter: Any, key: str, items: list[tuple[str, int]]) -> PushResult:
    """Each SKU under its own key, so a retry after a partial success adds nothing twice."""
    if not isinstance(adapter, InventoryPublisher):
        return PushResult(details={"skipped": "this platform keeps no stock Helloword updates"})
    if getattr(adapter, "restocks_on_dispose", False):
        return PushResult(details={"skipped": "the platform restocked with the disposal"})
    done = [adapter.restock(f"{key}:{sku}", sku, quantity) for sku, quantity in items]
    return PushResult(
        already_done=all(r.already_done for r in done),
        details={"restocked": [[sku, quantity] for sku, quantity in items]},
    )


def push(adapter: Any, call: Call) -> PushResult:
    if call.invoke is None or not isinstance(adapter, ReturnPublisher):
        return PushResult(details={"skipped": "nothing to push to this platform"})
    return call.invoke(adapter)


def succeeded(session: Session, call: Call, result: PushResult) -> list[FollowUp]:
    action = session.get(models.OutboundAction, call.action_id, with_for_update=True)
    assert action is not None
    if action.status == "done":
        return []
    return_ = lock_return(session, action.return_id or 0)
    outbox.release(action, "done")
    action.result = {
        "external_id": result.external_id,
        "already_done": result.already_done,
        **dict(result.details),
    }
    if call.action == "approve" and result.external_id and not return_.external_id:
        return_.external_id = result.external_id  # the platform's return, made by this push
    follow_ups = outbox.next_after(session, action)
    if call.action not in SETTLING:
        if call.invoke is not None and "skipped" not in result.details:
            record(
                session,
                return_,
                EventKind.PLATFORM_UPDATED,
                {"action": call.action, "key": call.key},
            )
        return follow_ups
    refund = session.get(models.Refund, action.payload["refund_id"])
    assert refund is not None
    refund.status = "issued"
    refund.issued_at = utcnow()
    refund.external_id = result.external_id
    if return_.refunded_at is None and refund.kind != "exchange":  # money paid back
        return_.refunded_at = refund.issued_at
    record(
        session,
        return_,
        EventKind.REFUND_ISSUED,
        {
            "refund": refund.idempotency_key,
            "amount": str(Money.from_minor(refund.amount_minor, refund.currency)),
            "external_id": result.external_id,
        }
        | ({"kind": "exchange"} if refund.kind == "exchange" else {}),
    )
    return follow_ups + try_resolve(session, return_)


def awaiting(session: Session, call: Call, why: str, retry_in: float) -> None:
    """Record a push the platform has taken on and answers later (Amazon's refund feeds): no
    failure, the row held for the job's next ask in ``retry_in`` seconds, the refund pending."""
    action = session.get(models.OutboundAction, call.action_id, with_for_update=True)
    assert action is not None
    outbox.wait(action, why, retry_in)


def uncertain(session: Session, call: Call, why: str) -> list[FollowUp]:
    """Record a push the platform may or may not have carried out: it stops, like a failure,
    so the return's next push goes ahead, but a refund is ``uncertain``, not failed: it counts
    as possibly paid and cannot be asked for again until a person settles it."""
    action = session.get(models.OutboundAction, call.action_id, with_for_update=True)
    assert action is not None
    return _stopped(session, call, action, "uncertain", why, EventKind.REFUND_UNCERTAIN)


def failed(
    session: Session, call: Call, error: str, retry_in: float | None = None
) -> list[FollowUp]:
    """Record a failed push: held for its retry in ``retry_in`` seconds, or failed for good
    (``retry_in`` None), which lets the return's next push go ahead."""
    action = session.get(models.OutboundAction, call.action_id, with_for_update=True)
    assert action is not None
    if retry_in is not None:
        outbox.hold(action, error, retry_in)
        return []
    return _stopped(session, call, action, "failed", error, EventKind.REFUND_FAILED)


def _stopped(
    session: Session,
    call: Call,
    action: models.OutboundAction,
    status: str,
    why: str,
    event: EventKind,
) -> list[FollowUp]:
    """The push ends as ``status`` and the return's next push goes ahead; a refund's row
    says so too, in its ledger."""
    outbox.release(action, status, why)
    follow_ups = outbox.next_after(session, action)
    if call.action in SETTLING:
        refund = session.get(models.Refund, action.payload["refund_id"])
        assert refund is not None
        refund.status = status
        refund.error = why
        return_ = lock_return(session, action.return_id or 0)
        record(session, return_, event, {"refund": refund.idempotency_key, "error": why})
    return follow_ups
