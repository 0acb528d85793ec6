"""Platform webhooks: verify the signature on the raw body, store the delivery once, enqueue,
answer. All work happens in jobs, so the answer comes well inside a platform's time limit.

A delivery whose store is unknown or whose signature does not verify gets 401 and leaves
nothing behind; a duplicate delivery (same platform event id) gets 200 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request
from sqlalchemy.exc import IntegrityError

from ..errors import PermanentError
from ..jobs import enqueue
from ..ports import WebhookReceiver
from ..runtime import current_runtime
from ..services import intake

webhooks = Blueprint("webhooks", __name__)


@webhooks.post("/webhooks/<platform>")
def receive(platform: str) -> tuple[dict[str, Any], int]:
    runtime = current_runtime()
    try:
        adapter_class = runtime.registry.platform_class(platform)
    except PermanentError:
        abort(404, description=f"no platform {platform!r}")
    body = request.get_data(cache=False)
    headers = {key: value for key, value in request.headers.items()}
    shop: str = adapter_class.shop_of(headers)  # type: ignore[attr-defined]
    try:
        with runtime.db.transaction() as session:
            store = intake.find_store(session, platform, shop) if shop else None
            if store is None:
                return {"error": "unknown store or bad signature"}, 401
            adapter = runtime.platform(
                platform, store.external_id, store.credentials, store.settings
            )
            if not isinstance(adapter, WebhookReceiver) or not adapter.verify(headers, body):
                return {"error": "unknown store or bad signature"}, 401
            try:
                event = adapter.parse(headers, body)
            except ValueError as error:
                return {"error": f"unreadable delivery: {error}"}, 400
            stored_headers = {k: v for k, v in headers.items() if k.lower().startswith("x-")}
            row = intake.record_inbound(session, platform, store, event, body, stored_headers)
            inbound_id = row.id if row is not None else None
    except IntegrityError:  # a concurrent duplicate won the race
        inbound_id = None
    if inbound_id is None:
        return {"status": "duplicate", "event_id": event.event_id}, 200
    enqueue(runtime, "process_inbound_event", inbound_id, job_id=f"inbound:{inbound_id}")
    return {"status": "accepted", "event_id": event.event_id}, 200


ACCOUNT_HEADER = "X-Helloword-Carrier-Account"


@webhooks.post("/webhooks/carriers/<int:account_id>")
def receive_tracking(account_id: int) -> tuple[dict[str, Any], int]:
    """A carrier's tracking update for one of the merchant's carrier accounts (the URL each
    account registers with its carrier). Verified as that carrier signs, stored once, queued.
    Carriers that sign nothing (Shippo) are registered with ``?token=SECRET`` in the URL."""
    import hashlib

    from ..db import models
    from ..ports import InboundEvent, TrackingWebhook

    runtime = current_runtime()
    body = request.get_data(cache=False)
    headers = {key: value for key, value in request.headers.items()}
    if "token" in request.args:
        headers["X-Webhook-Token"] = request.args["token"]
    try:
        with runtime.db.transaction() as session:
            account = session.get(models.CarrierAccount, account_id)
            if account is None or not account.active:
                return {"error": "unknown carrier account or bad signature"}, 401
            adapter = runtime.carrier(
                account.carrier, account.name, account.credentials, account.settings
            )
            if not isinstance(adapter, TrackingWebhook) or not adapter.verify(headers, body):
                return {"error": "unknown carrier account or bad signature"}, 401
            event = InboundEvent(
                event_id=hashlib.sha256(body).hexdigest(),  # carriers resend the same body
                topic="carrier_tracking",
                shop="",
                payload={},
            )
            stored = {k: v for k, v in headers.items() if k.lower().startswith("x-")}
            stored.pop("X-Webhook-Token", None)  # a secret: never kept
            stored[ACCOUNT_HEADER] = str(account.id)
            row = intake.record_inbound(session, account.carrier, None, event, body, stored)
            inbound_id = row.id if row is not None else None
    except IntegrityError:
        inbound_id = None
    if inbound_id is None:
        return {"status": "duplicate"}, 200
    enqueue(runtime, "process_inbound_event", inbound_id, job_id=f"inbound:{inbound_id}")
    return {"status": "accepted"}, 200
