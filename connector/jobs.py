"""RQ job functions and the helpers that enqueue them.

Every job takes ids, loads its own state, and has a deterministic id, so enqueueing the same
work twice runs it once. A job's service function returns the follow-up jobs, which are enqueued
only after its transaction has committed. Failures follow the three kinds of
``connector.errors``: ``RetryableError`` is tried again on a backoff schedule (or after the
remote's Retry-After, when longer), ``PermanentError`` lands in RQ's failed registry for staff,
``NothingToDo`` ends quietly. ``AwaitingPlatform`` is no failure: the platform has the work, so
the job asks again every ``retry_after`` seconds, without spending the backoff, until
``AWAIT_DEADLINE`` from its first wait; then it stops as ``Uncertain`` for a person to settle.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from rq import get_current_job
from rq.exceptions import DuplicateJobError

from .db.conflicts import is_conflict
from .db.types import utcnow
from .errors import (
    AwaitingPlatform,
    HellowordError,
    NothingToDo,
    PermanentError,
    RetryableError,
    Uncertain,
)
from .ports import PushResult, RefundTracker
from .runtime import Runtime, current_runtime
from .services import FollowUp, installs, intake, lifecycle, logistics, publish

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (5, 30, 120, 600, 1800)
AWAIT_RETRY = 600.0  # seconds between two asks of a platform that named no interval
AWAIT_DEADLINE = 48 * 3600.0  # seconds from the first wait after which a person must look
JOB_TIMEOUT = 300
RESULT_TTL = 24 * 3600
FAILURE_TTL = 30 * 24 * 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def rq_job_id(key: str) -> str:
    """RQ ids allow letters, digits, ``_`` and ``-``; our keys use ``:`` as a separator."""
    return _UNSAFE.sub("_", key.replace(":", "-"))


def enqueue(
    runtime: Runtime,
    job: str,
    *args: Any,
    job_id: str,
    delay: float = 0.0,
    meta: dict[str, Any] | None = None,
) -> bool:
    """Queue ``connector.jobs.<job>(*args)`` (or a dotted path) under a deterministic id;
    False when a job with that id is queued already."""
    func = job if "." in job else f"connector.jobs.{job}"
    options: dict[str, Any] = {
        "job_id": rq_job_id(job_id),
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "meta": meta or {},
        "unique": True,
    }
    try:
        if delay > 0:
            runtime.queue.enqueue_in(timedelta(seconds=delay), func, *args, **options)
        else:
            runtime.queue.enqueue(func, *args, **options)
    except DuplicateJobError:
        return False
    return True


def enqueue_all(runtime: Runtime, follow_ups: Iterable[FollowUp]) -> None:
    for follow_up in follow_ups:
        enqueue(
            runtime, follow_up.job, *follow_up.args, job_id=follow_up.job_id, delay=follow_up.delay
        )


def _run(
    job: str, args: tuple[Any, ...], work: Callable[[Runtime], list[FollowUp]]
) -> dict[str, Any]:
    runtime = current_runtime()
    try:
        follow_ups = work(runtime)
    except NothingToDo as reason:
        log.info("%s%r: nothing to do: %s", job, args, reason)
        return {"skipped": str(reason)}
    except RetryableError as error:
        return _retry_later(runtime, job, args, error)
    except Exception as error:
        if not is_conflict(error):
            raise
        # another job wrote the same key first (two webhooks of one customer, say): this
        # job's transaction was rolled back; done again, it finds that row
        lost = RetryableError(f"another transaction wrote the same key first: {error}")
        return _retry_later(runtime, job, args, lost)
    enqueue_all(runtime, follow_ups)
    return {"follow_ups": [f.job_id for f in follow_ups]}


def _meta() -> dict[str, Any]:
    current = get_current_job()
    return dict(current.meta) if current else {}


def _attempt() -> int:
    """Which retry of its work the running job is (0: the first try)."""
    return int(_meta().get("attempt", 0))


def _retrying() -> bool:
    """Whether the running job is a scheduled retry of earlier work, after a failure or a
    wait on the platform, and so takes back what that work held."""
    meta = _meta()
    return bool(meta.get("attempt") or meta.get("waits"))


def retry_delay(error: RetryableError) -> float | None:
    """Seconds until the running job's next try, or None once the backoff is spent (for a
    wait on the platform: once ``AWAIT_DEADLINE`` has passed since the first wait)."""
    if isinstance(error, AwaitingPlatform):
        since = float(_meta().get("awaiting_since") or time.time())
        if time.time() - since >= AWAIT_DEADLINE:
            return None
        return float(error.retry_after or AWAIT_RETRY)
    attempt = _attempt()
    if attempt >= len(BACKOFF_SECONDS):
        return None
    return max(float(BACKOFF_SECONDS[attempt]), error.retry_after or 0.0)


def _retry_later(
    runtime: Runtime, job: str, args: tuple[Any, ...], error: RetryableError
) -> dict[str, Any]:
    current = get_current_job()
    meta = dict(current.meta) if current else {}
    attempt = int(meta.get("attempt", 0))
    base_id = meta.get("base_id") or (current.id if current else rq_job_id(f"{job}:{args}"))
    delay = retry_delay(error)
    if isinstance(error, AwaitingPlatform):
        return _wait_longer(runtime, job, args, error, meta, base_id, delay)
    if delay is None:
        raise PermanentError(f"gave up after {attempt + 1} attempts: {error}") from error
    enqueue(
        runtime,
        job,
        *args,
        job_id=f"{base_id}-retry{attempt + 1}",
        delay=delay,
        meta={**meta, "attempt": attempt + 1, "base_id": base_id},
    )
    log.warning("%s%r failed (%s); retry %d in %.0f s", job, args, error, attempt + 1, delay)
    return {"retry_in": delay, "error": str(error)}


def _waited_too_long(waiting: AwaitingPlatform) -> Uncertain:
    return Uncertain(
        f"the platform had not answered {AWAIT_DEADLINE / 3600:.0f} hours after it took the work "
        f"on ({waiting}); check the platform before asking again"
    )


def _wait_longer(
    runtime: Runtime,
    job: str,
    args: tuple[Any, ...],
    waiting: AwaitingPlatform,
    meta: dict[str, Any],
    base_id: str,
    delay: float | None,
) -> dict[str, Any]:
    """Ask the platform again in ``delay`` seconds, counting waits apart from failures, so a
    slow platform spends none of the backoff; past the deadline, stop as ``Uncertain``."""
    if delay is None:
        raise _waited_too_long(waiting) from waiting
    waits = int(meta.get("waits", 0)) + 1
    enqueue(
        runtime,
        job,
        *args,
        job_id=f"{base_id}-wait{waits}",
        delay=delay,
        meta={
            **meta,
            "waits": waits,
            "awaiting_since": float(meta.get("awaiting_since") or time.time()),
            "base_id": base_id,
        },
    )
    log.info("%s%r awaits the platform (%s); asking again in %.0f s", job, args, waiting, delay)
    return {"retry_in": delay, "awaiting": str(waiting)}


# --- the jobs ---------------------------------------------------------------------------


def process_inbound_event(inbound_id: int) -> dict[str, Any]:
    def work(runtime: Runtime) -> list[FollowUp]:
        from .db import models

        with runtime.db.session() as session:
            inbound = session.get(models.InboundEvent, inbound_id)
            if inbound is None:
                raise NothingToDo(f"inbound event {inbound_id} is gone")
            store = session.get(models.Store, inbound.store_id) if inbound.store_id else None
            topic = inbound.topic
        if topic in ("tracking", "carrier_tracking"):
            return _record_tracking(runtime, inbound_id)
        if store is None:
            raise NothingToDo(f"inbound event {inbound_id} has no store")
        adapter, _ = store_platform(runtime, store.id, active=False)
        try:
            with runtime.db.session() as session:
                reading = intake.read_inbound(session, adapter, inbound_id)
            with runtime.db.transaction() as session:
                return intake.apply_inbound(
                    session, inbound_id, reading, intake.Keepers(runtime.files, runtime.vault)
                )
        except (RetryableError, NothingToDo):
            raise
        except HellowordError as error:  # the delivery itself is wrong: say so on its row
            with runtime.db.transaction() as session:
                intake.inbound_failed(session, inbound_id, str(error))
            raise PermanentError(f"inbound event {inbound_id}: {error}") from error

    return _run("process_inbound_event", (inbound_id,), work)


def _record_tracking(runtime: Runtime, inbound_id: int) -> list[FollowUp]:
    from .db import models

    with runtime.db.transaction() as session:
        inbound = session.get(models.InboundEvent, inbound_id, with_for_update=True)
        if inbound is None or inbound.status == "processed":
            raise NothingToDo(f"tracking event {inbound_id} was recorded already")
        if inbound.topic == "carrier_tracking":  # the carrier's own payload: its adapter reads it
            account = session.get(
                models.CarrierAccount, int(inbound.headers["X-Helloword-Carrier-Account"])
            )
            if account is None:
                raise NothingToDo(f"the carrier account of tracking event {inbound_id} is gone")
            adapter = runtime.carrier(
                account.carrier, account.name, account.credentials, account.settings
            )
            events = adapter.parse_tracking(inbound.body.encode())
        else:  # canonical scans (the rate-card carriers' scan feed, the demo)
            events = logistics.tracking_events_from_json(json.loads(inbound.body)["events"])
        follow_ups = logistics.record_tracking(session, inbound.source, events)
        inbound.status, inbound.processed_at = "processed", utcnow()
        return follow_ups


def decide_return(return_id: int) -> dict[str, Any]:
    def work(runtime: Runtime) -> list[FollowUp]:
        with runtime.db.transaction() as session:
            return lifecycle.decide_return(session, return_id)

    return _run("decide_return", (return_id,), work)


def route_return(return_id: int) -> dict[str, Any]:
    def work(runtime: Runtime) -> list[FollowUp]:
        def carrier_for(account: Any) -> Any:
            return runtime.carrier(
                account.carrier, account.name, account.credentials, account.settings
            )

        with runtime.db.session() as session:
            plan = logistics.plan_route(session, return_id, carrier_for)
        with runtime.db.transaction() as session:
            return logistics.save_route(session, return_id, plan)

    return _run("route_return", (return_id,), work)


def fulfil_return(return_id: int) -> dict[str, Any]:
    def work(runtime: Runtime) -> list[FollowUp]:
        from .db import models

        with runtime.db.session() as session:
            purchase = logistics.plan_fulfilment(session, return_id)
            account = session.get(models.CarrierAccount, purchase.account_id) if purchase else None
        if purchase is None:
            with runtime.db.transaction() as session:
                return logistics.fulfil_without_label(session, return_id)
        if account is None:
            raise PermanentError(f"the carrier account for return {return_id} was removed")
        carrier = runtime.carrier(
            account.carrier, account.name, account.credentials, account.settings
        )
        with runtime.db.transaction() as session:
            logistics.record_purchase(session, return_id, purchase, retrying=_retrying())
        try:
            label = carrier.buy(purchase.shipment, purchase.quote, purchase.key)
        except RetryableError as error:
            with runtime.db.transaction() as session:
                logistics.purchase_failed(session, purchase, str(error), retry_delay(error))
            raise
        except PermanentError as error:
            with runtime.db.transaction() as session:
                logistics.purchase_failed(session, purchase, str(error))
            raise
        with runtime.db.transaction() as session:
            return logistics.store_label(session, runtime.files, return_id, purchase, label)

    return _run("fulfil_return", (return_id,), work)


# the job that sends a platform's batch of pushes, by platform: queued by the push that opened it
BATCH_JOBS = {"amazon": "submit_amazon_refunds"}


def perform_outbound_action(action_id: int) -> dict[str, Any]:
    def work(runtime: Runtime) -> list[FollowUp]:
        with runtime.db.transaction() as session:
            call, store = publish.prepare(
                session,
                action_id,
                runtime.settings.secret_key,
                runtime.settings.public_url,
                retrying=_retrying(),
            )
            store_id, platform = store.id, store.platform
        try:  # a token that cannot be refreshed fails the push like the platform refusing it
            adapter, _ = store_platform(runtime, store_id, active=False)
            result = publish.push(adapter, call)
        except NothingToDo as reason:  # the platform has nothing left to change
            if call.action == "refund":
                with runtime.db.transaction() as session:
                    follow_ups = publish.failed(session, call, str(reason))
                enqueue_all(runtime, follow_ups)
                raise
            result = PushResult(details={"skipped": str(reason)})
        except AwaitingPlatform as waiting:  # the platform has it: no failure, ask again later
            if waiting.batch and platform in BATCH_JOBS:
                batch_job = BATCH_JOBS[platform]
                enqueue(
                    runtime,
                    batch_job,
                    store_id,
                    job_id=f"{batch_job}:{store_id}:{waiting.batch}",
                    delay=waiting.send_in,
                )
            delay = retry_delay(waiting)
            if delay is None:
                stopped = _waited_too_long(waiting)
                _record_uncertain(runtime, call, stopped)
                raise stopped from waiting
            with runtime.db.transaction() as session:
                publish.awaiting(session, call, str(waiting), delay)
            raise  # asked again after ``delay``
        except Uncertain as error:
            _record_uncertain(runtime, call, error)
            raise
        except RetryableError as error:
            delay = retry_delay(error)
            with runtime.db.transaction() as session:
                follow_ups = publish.failed(session, call, str(error), retry_in=delay)
            enqueue_all(runtime, follow_ups)
            raise  # retried after ``delay``, or, with the backoff spent, a permanent failure
        except PermanentError as error:
            with runtime.db.transaction() as session:
                follow_ups = publish.failed(session, call, str(error))
            enqueue_all(runtime, follow_ups)
            raise
        with runtime.db.transaction() as session:
            return publish.succeeded(session, call, result)

    return _run("perform_outbound_action", (action_id,), work)


def _record_uncertain(runtime: Runtime, call: publish.Call, error: Uncertain) -> None:
    """A push the platform may or may not have carried out stops as uncertain (a refund then
    cannot be asked for again until a person settles it), never as failed."""
    with runtime.db.transaction() as session:
        follow_ups = publish.uncertain(session, call, str(error))
    enqueue_all(runtime, follow_ups)


def close_return(return_id: int) -> dict[str, Any]:
    def work(runtime: Runtime) -> list[FollowUp]:
        with runtime.db.transaction() as session:
            return lifecycle.close_return(session, return_id)

    return _run("close_return", (return_id,), work)


def sweep_outbox() -> dict[str, Any]:
    """Re-enqueue work a crash or a Redis outage left behind: outbox rows and inbound events
    still pending, and returns that stopped between two automatic steps."""
    from sqlalchemy import select

    from .db import models
    from .db.types import utcnow
    from .domain import Status

    runtime = current_runtime()
    cutoff = utcnow() - timedelta(minutes=2)
    with runtime.db.session() as session:
        actions = session.execute(
            select(
                models.OutboundAction.id,
                models.OutboundAction.target,
                models.OutboundAction.return_id,
                models.OutboundAction.attempts,
            ).where(
                models.OutboundAction.status == "pending",
                models.OutboundAction.created_at < cutoff,
                (models.OutboundAction.claimed_until.is_(None))
                | (models.OutboundAction.claimed_until < utcnow()),
            )
        ).all()
        inbound = session.scalars(
            select(models.InboundEvent.id).where(
                models.InboundEvent.status == "pending", models.InboundEvent.received_at < cutoff
            )
        ).all()
        stalled = session.execute(
            select(
                models.Return.id,
                models.Return.status,
                models.Return.route,
                models.Return.updated_at,
            ).where(
                models.Return.status.in_([Status.REQUESTED, Status.APPROVED, Status.RESOLVED]),
                models.Return.updated_at < cutoff,
            )
        ).all()
    queued = 0
    for action_id, target, return_id, attempts in actions:
        target_id: int | None = action_id
        job = "perform_outbound_action"
        if target != "platform":  # a carrier call is made again by the step that needs it
            job, target_id = "fulfil_return", return_id
        queued += enqueue(runtime, job, target_id, job_id=f"sweep:{job}:{target_id}:{attempts}")
    for inbound_id in inbound:
        queued += enqueue(
            runtime, "process_inbound_event", inbound_id, job_id=f"sweep:inbound:{inbound_id}"
        )
    next_step = {Status.REQUESTED: "decide_return", Status.RESOLVED: "close_return"}
    for return_id, status, route, updated_at in stalled:
        job = next_step.get(status) or ("fulfil_return" if route else "route_return")
        stamp = int(updated_at.timestamp())
        queued += enqueue(runtime, job, return_id, job_id=f"sweep:{job}:{return_id}:{stamp}")
    return {"queued": queued}


def expire_stale_returns() -> dict[str, Any]:
    """Expire returns whose label or drop-off code went unused past its validity."""

    def work(runtime: Runtime) -> list[FollowUp]:
        with runtime.db.transaction() as session:
            return lifecycle.expire_stale(session)

    return _run("expire_stale_returns", (), work)


def void_label(shipment_id: int) -> dict[str, Any]:
    """Void an unused label with its carrier (a refund of the postage where it was paid)."""

    def work(runtime: Runtime) -> list[FollowUp]:
        with runtime.db.session() as session:
            label, account = logistics.label_to_void(session, shipment_id)
        carrier = runtime.carrier(
            account.carrier, account.name, account.credentials, account.settings
        )
        carrier.void(label)
        with runtime.db.transaction() as session:
            logistics.label_voided(session, shipment_id)
        return []

    return _run("void_label", (shipment_id,), work)


def poll_tracking(batch: int = 200) -> dict[str, Any]:
    """Ask carriers for news of parcels still on their way: the path for carriers without
    webhooks, and a safety net for those with them. A carrier that fails is tried next time."""
    runtime = current_runtime()
    with runtime.db.session() as session:
        due = logistics.shipments_to_poll(session, batch)
    polled = 0
    for shipment_id, tracking_number, carrier_slug, account in due:
        carrier = runtime.carrier(
            account.carrier, account.name, account.credentials, account.settings
        )
        try:
            events = carrier.track(tracking_number)
        except (RetryableError, PermanentError) as error:
            log.warning("tracking %s with %s failed: %s", tracking_number, account.name, error)
            continue
        with runtime.db.transaction() as session:
            follow_ups = logistics.record_tracking(session, carrier_slug, events)
            logistics.polled(session, shipment_id)
        enqueue_all(runtime, follow_ups)
        polled += 1
    return {"polled": polled}


def send_email(to: str, subject: str, body: str, language: str = "en") -> dict[str, Any]:
    """Send one email written by a page (in the reader's language), so no page waits on the
    mail server. A server that is down is tried again on the backoff schedule."""

    def work(runtime: Runtime) -> list[FollowUp]:
        from .mail import Letter, Mailer

        Mailer.from_settings(runtime.settings).send(Letter(to, subject, body, language))
        return []

    return _run("send_email", (to, subject, body, language), work)


def store_platform(runtime: Runtime, store_id: int, *, active: bool = True) -> tuple[Any, str]:
    """The adapter of a store and its platform slug, built from credentials whose expiring
    access token was refreshed first if it was about to expire. A job that acts on a store's
    platform builds its adapter here. ``NothingToDo`` when the store is gone, or (``active``)
    no longer active."""
    from .db import models
    from .ports import Credentials

    with runtime.db.transaction() as session:
        store = session.get(models.Store, store_id)
        if store is None or (active and store.status != "active"):
            raise NothingToDo(f"store {store_id} is gone or not active")
        refresher = installs.token_refresher(runtime.settings, store.platform)
        secrets = installs.fresh_credentials(session, runtime.vault, store, refresher)
        if store.platform == "amazon":  # the app's LWA client: the same for every seller
            secrets = {**secrets, **runtime.settings.amazon.app_secrets()}
        credentials = Credentials(store.external_id, secrets, dict(store.settings))
        platform = store.platform
    return runtime.registry.platform(platform, credentials, runtime.adapter_context()), platform


def refund_tracker(runtime: Runtime, store_id: int) -> RefundTracker | None:
    """The adapter of a store whose platform makes refunds some time after the push
    (``RefundTracker``), for the pages that show where a refund stands and refuse to ask again
    for one the platform may still make; None for the other platforms."""
    from .db import models
    from .registry import capabilities

    with runtime.db.session() as session:
        store = session.get(models.Store, store_id)
        platform = store.platform if store is not None else ""
    kind = runtime.registry.platforms.get(platform)
    if kind is None or RefundTracker.__name__ not in capabilities(kind):
        return None
    adapter, _ = store_platform(runtime, store_id, active=False)
    return adapter if isinstance(adapter, RefundTracker) else None


def register_webhooks(store_id: int) -> dict[str, Any]:
    """Subscribe a newly linked store to the webhooks Helloword hears, delivered to this
    installation's ``/webhooks/<platform>``; the outcome is kept in its settings."""

    def work(runtime: Runtime) -> list[FollowUp]:
        try:
            adapter, platform = store_platform(runtime, store_id)
            if not callable(getattr(adapter, "register_webhooks", None)):
                raise NothingToDo(f"the {platform} adapter subscribes to no webhooks")
            subscriptions = adapter.register_webhooks(
                f"{runtime.settings.public_url}/webhooks/{platform}"
            )
        except NothingToDo:
            raise
        except RetryableError as error:
            with runtime.db.transaction() as session:
                installs.webhooks_failed(session, store_id, str(error), retry_delay(error))
            raise
        except HellowordError as error:
            with runtime.db.transaction() as session:
                installs.webhooks_failed(session, store_id, str(error))
            raise
        with runtime.db.transaction() as session:
            installs.webhooks_registered(session, store_id, subscriptions)
        return []

    return _run("register_webhooks", (store_id,), work)


BACKFILL_BATCH = 50  # orders upserted and counted per transaction


def backfill_orders(store_id: int, days: int = installs.BACKFILL_DAYS) -> dict[str, Any]:
    """Import the orders of a newly linked store from the last ``days`` days, committed in
    batches; the store's ``settings["backfill"]`` shows the progress as it goes (``running``
    with the count so far, then ``done``, ``retrying`` or ``failed`` with the error). Orders are
    upserted, so a retried backfill counts again but stores each order once."""

    def work(runtime: Runtime) -> list[FollowUp]:
        try:
            adapter, platform = store_platform(runtime, store_id)
            if not callable(getattr(adapter, "iter_orders", None)):
                raise NothingToDo(f"the {platform} adapter lists no orders")
            since = utcnow() - timedelta(days=days)
            with runtime.db.transaction() as session:
                installs.backfill_started(session, store_id, since, days)
            batch: list[Any] = []
            for order in adapter.iter_orders(since):
                batch.append(order)
                if len(batch) >= BACKFILL_BATCH:
                    _import_batch(runtime, store_id, batch)
                    batch = []
            _import_batch(runtime, store_id, batch)
        except NothingToDo:
            raise
        except RetryableError as error:
            with runtime.db.transaction() as session:
                installs.backfill_failed(session, store_id, str(error), retry_delay(error))
            raise
        except Exception as error:  # whatever stopped it, the store must not show "running"
            with runtime.db.transaction() as session:
                installs.backfill_failed(session, store_id, str(error) or type(error).__name__)
            raise
        with runtime.db.transaction() as session:
            installs.backfill_finished(session, store_id)
        return []

    return _run("backfill_orders", (store_id, days), work)


def _import_batch(runtime: Runtime, store_id: int, orders: list[Any]) -> None:
    from sqlalchemy.exc import IntegrityError

    if not orders:
        return
    try:
        with runtime.db.transaction() as session:
            installs.import_orders(session, store_id, orders)
    except IntegrityError:  # a webhook stored one of these orders meanwhile: now it updates
        with runtime.db.transaction() as session:
            installs.import_orders(session, store_id, orders)


# --- Amazon: returns reports and refund feeds ---------------------------------------------

AMAZON_FIRST_IMPORT_DAYS = 60  # how far back the first scheduled import of an account reads
AMAZON_RELINK_WAIT = 3600.0  # seconds a job for an account awaiting re-linking waits to retry


def dispatch_amazon_batch(return_ids: list[int], order_ids: list[int]) -> dict[str, Any]:
    """Queue the work a batch of an Amazon import leaves: ``decide_return`` for each open
    return, ``fetch_amazon_order`` for each order stored from the report alone."""
    runtime = current_runtime()
    queued = 0
    for return_id in return_ids:
        queued += enqueue(runtime, "decide_return", return_id, job_id=f"decide_return:{return_id}")
    for order_id in order_ids:
        queued += enqueue(
            runtime, "fetch_amazon_order", order_id, job_id=f"fetch_amazon_order:{order_id}"
        )
    return {"queued": queued}


def schedule_amazon_imports() -> dict[str, Any]:
    """The cron's hourly call: one ``import_amazon_returns`` per active Amazon account, with
    an id per hour, so a slow import is never queued twice."""
    from .services import amazon_import

    runtime = current_runtime()
    hour = int(utcnow().timestamp()) // 3600
    with runtime.db.session() as session:
        store_ids = amazon_import.amazon_stores(session)
    queued = 0
    for store_id in store_ids:
        queued += enqueue(
            runtime,
            "import_amazon_returns",
            store_id,
            job_id=f"import_amazon_returns:{store_id}:{hour}",
        )
    return {"queued": queued}


def import_amazon_returns(store_id: int) -> dict[str, Any]:
    """Import an Amazon account's returns reported since its last successful import (the last
    60 days the first time) up to the last full hour. Order details follow by
    ``fetch_amazon_order``; ``settings["returns_import"]`` shows the progress. A lapsed
    authorisation marks the store ``needs_relinking`` and fails the job, which stays in the
    failed registry with everything else already queued."""
    from platforms.amazon import NeedsRelinking

    from .services import amazon_import

    def work(runtime: Runtime) -> list[FollowUp]:
        adapter, _ = store_platform(runtime, store_id)
        until = utcnow().replace(minute=0, second=0, microsecond=0)
        first = until - timedelta(days=AMAZON_FIRST_IMPORT_DAYS)
        with runtime.db.session() as session:
            since = amazon_import.import_window_start(session, store_id, first)
        if since >= until:
            raise NothingToDo(f"the returns of store {store_id} are imported up to {until}")
        with runtime.db.transaction() as session:
            amazon_import.import_started(session, store_id, since, until)

        def skipped(row: Any) -> None:
            log.warning(
                "Amazon store %s: line %d skipped: %s", store_id, row.line_number, row.message
            )

        try:
            summary = amazon_import.import_rows(
                runtime.db,
                store_id,
                adapter.iter_return_rows(since, until),
                on_error=skipped,
                on_batch=lambda batch: enqueue_all(runtime, batch.follow_ups),
            )
        except NeedsRelinking as error:
            with runtime.db.transaction() as session:
                amazon_import.needs_relinking(session, store_id, str(error))
            raise
        except NothingToDo:
            raise
        except Exception as error:  # the next run reads the same window again
            with runtime.db.transaction() as session:
                amazon_import.import_failed(session, store_id, str(error) or type(error).__name__)
            raise
        with runtime.db.transaction() as session:
            amazon_import.import_finished(session, store_id, until, summary)
        return []

    return _run("import_amazon_returns", (store_id,), work)


def fetch_amazon_order(order_id: int) -> dict[str, Any]:
    """Replace an order stored from a returns report with its details from the Orders API.
    An account awaiting re-linking keeps the job waiting rather than dropping it."""
    from platforms.amazon import NeedsRelinking

    from .db import models
    from .services import amazon_import

    def work(runtime: Runtime) -> list[FollowUp]:
        with runtime.db.session() as session:
            store_id, external_id = amazon_import.order_to_fetch(session, order_id)
            store = session.get(models.Store, store_id)
            status = store.status if store is not None else ""
        if status == "needs_relinking":
            raise RetryableError(
                f"Amazon store {store_id} must be linked again", retry_after=AMAZON_RELINK_WAIT
            )
        adapter, _ = store_platform(runtime, store_id)
        try:
            order = adapter.fetch_order(external_id)
        except NeedsRelinking as error:
            with runtime.db.transaction() as session:
                amazon_import.needs_relinking(session, store_id, str(error))
            raise RetryableError(str(error), retry_after=AMAZON_RELINK_WAIT) from error
        with runtime.db.transaction() as session:
            amazon_import.fetch_order_details(session, store_id, order_id, order)
        return []

    return _run("fetch_amazon_order", (order_id,), work)


def submit_amazon_refunds(store_id: int) -> dict[str, Any]:
    """Send the refunds an Amazon account has gathered in its batch as one payment adjustment
    feed (several only when one would pass Amazon's size limit). The refund that opened the
    batch queued this job a minute ahead, so the refunds asked for meanwhile share the feed;
    each refund's own outbox job then reads the outcome. A submission that stops short puts
    its refunds back in the batch for this job's retry."""
    from platforms.amazon import NeedsRelinking

    from .services import amazon_import

    def work(runtime: Runtime) -> list[FollowUp]:
        adapter, _ = store_platform(runtime, store_id, active=False)
        lines = adapter.take_queued_refunds()
        if not lines:
            raise NothingToDo(f"no refund of Amazon store {store_id} is waiting to be sent")
        try:
            feed_ids = adapter.submit_refunds(lines)
        except NeedsRelinking as error:
            with runtime.db.transaction() as session:
                amazon_import.needs_relinking(session, store_id, str(error))
            raise
        log.info("Amazon store %s: %d refunds sent in feeds %s", store_id, len(lines), feed_ids)
        return []

    return _run("submit_amazon_refunds", (store_id,), work)


def warm_up(runtime: Runtime) -> None:
    """Load, once in the worker, what every job would otherwise load again after each fork:
    the adapters' modules (PDF and barcode libraries among them) and the database engine."""
    for adapter in (*runtime.registry.platforms.values(), *runtime.registry.carriers.values()):
        warm = getattr(adapter, "warm_up", None)
        if callable(warm):
            warm()
    runtime.db.engine.dispose()


def noop(_: int = 0) -> None:
    """Does nothing: the baseline the pipeline benchmark measures job overhead with."""


__all__ = ["enqueue", "enqueue_all", "refund_tracker", "rq_job_id", "store_platform"]
