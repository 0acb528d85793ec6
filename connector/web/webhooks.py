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
