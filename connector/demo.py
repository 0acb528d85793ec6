"""The sandbox merchant, and the demo that drives sandbox returns through the whole pipeline.

``bootstrap`` sets up (idempotently) a merchant with the sandbox store, three destinations and
a consolidation hub, their rate-card and drop-off carrier accounts, reference exchange rates and
the default policy. ``run_demo`` then plays every outside party: the buyer asks for returns on
the sandbox store (which sends signed webhooks to the app), a reviewer settles what the policy
sends to review, carriers scan the parcels, and the warehouse grades what arrives. Everything
else — intake, decisions, routing, labels, refunds, closing — is done by real RQ workers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from sqlalchemy import func, select

from .db import models
from .db.types import utcnow
from .domain import TERMINAL, Status
from .jobs import enqueue, enqueue_all
from .runtime import Runtime
from .services import destinations, fx, lifecycle, merchants, policies, receiving, users
from .services.logistics import tracking_events_to_json
from .services.merchants import link_store

MERCHANT = "Sandbox Outfitters"
SHOP = "sandbox-outfitters.sandbox.test"

_EU = ["DE", "FR", "NL", "BE", "AT", "ES", "IT", "IE", "PL", "PT", "DK", "SE", "FI"]
DESTINATIONS: list[dict[str, Any]] = [
    {
        "code": "cn-origin",
        "name": "Origin warehouse, Shenzhen",
        "kind": "origin",
        "address": {
            "name": "Sandbox Outfitters Returns",
            "line1": "88 Bantian Industrial Rd",
            "city": "Shenzhen",
            "region": "GD",
            "postal_code": "518129",
            "country": "CN",
        },
        "countries": [],
        "handling": ("1.20", "USD"),
        "resale_factor": "0.55",
        "duty_rate": "0.13",  # China's import VAT on goods coming back without relief
    },
    {
        "code": "us-3pl",
        "name": "US 3PL, Ontario CA",
        "kind": "warehouse",
        "address": {
            "name": "Sandbox Outfitters c/o West Coast 3PL",
            "line1": "1500 S Milliken Ave",
            "city": "Ontario",
            "region": "CA",
            "postal_code": "91761",
            "country": "US",
        },
        "countries": ["US", "CA"],
        "handling": ("2.50", "USD"),
        "resale_factor": "0.85",
        "duty_rate": "0.05",
    },
    {
        "code": "eu-3pl",
        "name": "EU 3PL, Venlo NL",
        "kind": "warehouse",
        "address": {
            "name": "Sandbox Outfitters c/o Venlo Fulfilment",
            "line1": "Celsiusweg 30",
            "city": "Venlo",
            "postal_code": "5928 PR",
            "country": "NL",
        },
        "countries": [*_EU, "GB"],
        "handling": ("2.20", "EUR"),
        "resale_factor": "0.80",
        "duty_rate": "0.21",
    },
    {
        "code": "eu-hub",
        "name": "EU consolidation hub, Venlo NL",
        "kind": "hub",
        "address": {
            "name": "Sandbox Outfitters Consolidation",
            "line1": "Celsiusweg 32",
            "city": "Venlo",
            "postal_code": "5928 PR",
            "country": "NL",
        },
        "countries": ["DE", "FR", "NL", "BE", "AT", "ES", "IT"],
        "handling": ("1.60", "EUR"),
        "resale_factor": "0.80",
        "duty_rate": "0.21",
    },
]
CARRIER_ACCOUNTS: list[dict[str, Any]] = [
    {
        "carrier": "ratecard",
        "name": "cn-origin-card",
        "destination": "cn-origin",
        "settings": {"card": "cn-origin"},
    },
    {
        "carrier": "ratecard",
        "name": "us-3pl-card",
        "destination": "us-3pl",
        "settings": {"card": "us-3pl"},
    },
    {
        "carrier": "ratecard",
        "name": "eu-3pl-card",
        "destination": "eu-3pl",
        "settings": {"card": "eu-3pl"},
    },
    {
        "carrier": "dropoff",
        "name": "eu-hubs",
        "destination": "eu-hub",
        "settings": {"network": "eu-hubs"},
    },
    {
        "carrier": "dropoff",
        "name": "us-hubs",
        "destination": "us-3pl",
        "settings": {"network": "us-hubs"},
    },
]


@dataclass
class Setup:
    merchant_id: int
    store_id: int
    shop: str
    api_key: str  # only when this call issued the merchant's first key
    marketplace_path: Path
    slug: str = ""  # the buyer portal's address: /r/<slug>
    admin_email: str = ""  # the back office's sandbox account
    admin_password: str = ""  # kept in the instance folder, for this laptop only


ADMIN_EMAIL = "owner@sandbox-outfitters.test"


def bootstrap(runtime: Runtime, orders: int = 40) -> Setup:
    """The sandbox merchant, store, destinations, carriers, rates and policy; idempotent."""
    from platforms.sandbox import SandboxMarketplace

    path = runtime.settings.instance_path / "sandbox.sqlite3"
    api_key = ""
    with runtime.db.transaction() as session:
        merchant = session.scalar(select(models.Merchant).where(models.Merchant.name == MERCHANT))
        if merchant is None:
            merchant = merchants.create_merchant(session, MERCHANT, "USD")
            _, api_key = merchants.create_api_key(session, merchant, name="sandbox")
        store = session.scalar(
            select(models.Store).where(
                models.Store.platform == "sandbox", models.Store.external_id == SHOP
            )
        )
        secret = runtime.vault.open(store.credentials).get("webhook_secret") if store else None
        store = link_store(
            session,
            runtime.vault,
            merchant,
            "sandbox",
            SHOP,
            name="Sandbox Outfitters (sandbox)",
            secrets={"webhook_secret": secret or secrets.token_urlsafe(32)},
            settings={},
        )
        secret = runtime.vault.open(store.credentials)["webhook_secret"]
        codes: dict[str, int] = {}
        for spec in DESTINATIONS:
            amount, currency = spec["handling"]
            row = destinations.upsert_destination(
                session, merchant.id, {**spec, "handling": {"amount": amount, "currency": currency}}
            )
            codes[row.code] = row.id
        for spec in CARRIER_ACCOUNTS:
            destinations.link_carrier(
                session,
                runtime.vault,
                merchant.id,
                set(runtime.registry.carriers),
                {**spec, "destination_id": codes[spec["destination"]]},
            )
        fx.store_reference_rates(session)
        if policies.current(session, merchant.id)[1] is None:
            from .rules.policy import DEFAULT_DOCUMENT

            policies.save(session, merchant.id, DEFAULT_DOCUMENT, "sandbox setup")
        password = _sandbox_password(runtime)
        if session.scalar(select(models.User.id).where(models.User.email == ADMIN_EMAIL)) is None:
            users.create_user(session, merchant, ADMIN_EMAIL, password, "Sandbox owner")
        merchant_id, store_id, slug = merchant.id, store.id, merchant.slug

    marketplace = SandboxMarketplace(path)
    marketplace.create_shop(SHOP, secret, f"{runtime.settings.public_url}/webhooks/sandbox", "USD")
    existing = len(marketplace.orders(SHOP))
    if existing < orders:
        marketplace.load_demo_orders(SHOP, orders, seed=7, today=utcnow().date())
    return Setup(merchant_id, store_id, SHOP, api_key, path, slug, ADMIN_EMAIL, password)


def _sandbox_password(runtime: Runtime) -> str:
    """The sandbox back-office password: made once, kept in the instance folder."""
    path = runtime.settings.instance_path / "sandbox-admin-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


def import_orders(runtime: Runtime, setup: Setup) -> int:
    """Backfill the sandbox store's orders into Helloword through its OrderSource port."""
    from .services.intake import upsert_order

    with runtime.db.session() as session:
        store = session.get(models.Store, setup.store_id)
        assert store is not None
        adapter = runtime.platform(
            store.platform, store.external_id, store.credentials, store.settings
        )
    count = 0
    with runtime.db.transaction() as session:
        store = session.get(models.Store, setup.store_id)
        assert store is not None
        for order in adapter.iter_orders(datetime(2000, 1, 1, tzinfo=UTC)):
            upsert_order(session, store, order)
            count += 1
    return count


class _AppTransport:
    """Delivers the sandbox store's webhooks to this process's app, as HTTP would."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def post(self, url: str, data: bytes, headers: dict[str, str], timeout: float = 5.0) -> Any:
        return self.client.post(urlsplit(url).path, data=data, headers=headers)


@dataclass
class Summary:
    rows: list[dict[str, Any]]
    currency: str
    seconds: float
    unfinished: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        statuses = Counter(row["status"] for row in self.rows)
        shipping = [Decimal(row["shipping"]) for row in self.rows if row["shipping"] is not None]
        to_refund = [
            row["seconds_to_refund"] for row in self.rows if row["seconds_to_refund"] is not None
        ]
        total = sum(shipping, Decimal(0))
        return {
            "returns": len(self.rows),
            "statuses": dict(sorted(statuses.items())),
            "returnless": sum(1 for row in self.rows if row["returnless"]),
            "shipping": {
                "currency": self.currency,
                "total": str(total),
                "average": str((total / len(shipping)).quantize(Decimal("0.01")))
                if shipping
                else "0.00",
                "shipped": len(shipping),
            },
            "average_seconds_to_refund": round(sum(to_refund) / len(to_refund), 3)
            if to_refund
            else None,
            "refunded": len(to_refund),
            "elapsed_seconds": round(self.seconds, 3),
            "unfinished": self.unfinished,
            "details": [
                {key: row[key] for key in ("id", "rma", "status", "route", "returnless")}
                for row in self.rows
            ],
        }

    def render(self) -> str:
        data = self.as_dict()
        lines = [
            "",
            f"{data['returns']} returns in {data['elapsed_seconds']} s",
            "  final status: " + ", ".join(f"{k} {v}" for k, v in data["statuses"].items()),
            f"  returnless (buyer keeps the item): {data['returnless']}",
            f"  shipping: {data['shipping']['total']} {self.currency} for "
            f"{data['shipping']['shipped']} parcels, {data['shipping']['average']} {self.currency} "
            "on average",
        ]
        if data["average_seconds_to_refund"] is not None:
            lines.append(
                f"  time from request to refund: {data['average_seconds_to_refund']} s on average "
                f"({data['refunded']} refunds)"
            )
        if self.unfinished:
            lines.append(f"  NOT FINISHED: {', '.join(self.unfinished)}")
        return "\n".join(lines)


_REASONS = [
    "size_too_small",
    "unwanted",
    "defective",
    "size_too_large",
    "not_as_described",
    "color",
    "wrong_item",
    "style",
    "damaged_in_transit",
    "arrived_late",
]
_CONDITIONS = ["unused", "opened", "unused", "used", "damaged", "unused"]
_GRADE_FOR = {
    "unused": "resellable",
    "opened": "resellable",
    "used": "needs_repair",
    "damaged": "destroy",
}


def _start_workers(runtime: Runtime, count: int) -> list[subprocess.Popen[bytes]]:
    settings = runtime.settings
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": runtime.redis_url,
        "HELLOWORD_INSTANCE": str(settings.instance_path),
        "HELLOWORD_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "SECRET_KEY": settings.secret_key,
        "HELLOWORD_PUBLIC_URL": settings.public_url,
        "HELLOWORD_QUEUE": settings.queue_name,
    }
    return [
        subprocess.Popen([sys.executable, "-m", "connector.cli", "worker"], env=env)
        for _ in range(count)
    ]


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in workers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def request_returns(runtime: Runtime, app: Any, setup: Setup, count: int) -> list[str]:
    """The buyers' side: ask for ``count`` returns on the sandbox store, each one delivered to
    Helloword as a signed webhook. Returns the platform's return ids."""
    from platforms.sandbox import SandboxMarketplace
    from platforms.sandbox.client import SandboxClient

    marketplace = SandboxMarketplace(setup.marketplace_path)
    client = SandboxClient(marketplace, setup.shop, http=_AppTransport(app))
    returned = {str(r["order"]["id"]) for r in marketplace.returns(setup.shop)}
    available = [o for o in marketplace.orders(setup.shop) if str(o["id"]) not in returned]
    if len(available) < count:
        total = len(marketplace.orders(setup.shop)) + count - len(available)
        marketplace.load_demo_orders(setup.shop, total, seed=7, today=utcnow().date())
        available = [o for o in marketplace.orders(setup.shop) if str(o["id"]) not in returned]
    ids = []
    for index, order in enumerate(available[:count]):
        items = order["line_items"][: 1 + index % 2]
        payload = marketplace.request_return(
            setup.shop,
            order["id"],
            [
                {
                    "line_item_id": item["id"],
                    "quantity": 1,
                    "reason": _REASONS[(index + n) % len(_REASONS)],
                    "condition": _CONDITIONS[(index + n) % len(_CONDITIONS)],
                    "note": "",
                }
                for n, item in enumerate(items)
            ],
            requested_at=utcnow(),
        )
        status = client.deliver("returns/request", payload)
        if status != 200:
            raise click.ClickException(f"the app refused the sandbox webhook with HTTP {status}")
        ids.append(str(payload["id"]))
    return ids


def play_outside_parties(runtime: Runtime, return_ids: list[int], simulated: set[int]) -> None:
    """One round of what people and carriers do: review, scan, grade."""
    from carriers.simulation import simulate_scans

    with runtime.db.session() as session:
        rows = session.scalars(select(models.Return).where(models.Return.id.in_(return_ids))).all()
        waiting = {r.id: r.status for r in rows}
        shipments = {
            s.return_id: s
            for s in session.scalars(
                select(models.Shipment).where(models.Shipment.return_id.in_(return_ids))
            )
        }
    for return_id, status in waiting.items():
        if status == Status.IN_REVIEW:
            with runtime.db.transaction() as session:
                follow_ups = lifecycle.review(
                    session, return_id, True, "checked by the demo reviewer", "demo:reviewer"
                )
            enqueue_all(runtime, follow_ups)
        elif (
            status == Status.AWAITING_SHIPMENT
            and return_id not in simulated
            and return_id in shipments
        ):
            shipment = shipments[return_id]
            days = 3 if shipment.kind == "dropoff" else 6
            events = simulate_scans(shipment.tracking_number, utcnow(), days, kind=shipment.kind)
            _ingest_scans(runtime, shipment.carrier, shipment.tracking_number, events)
            simulated.add(return_id)
        elif status == Status.RECEIVED:
            with runtime.db.transaction() as session:
                return_ = session.get(models.Return, return_id)
                assert return_ is not None
                grades = {
                    line.id: _GRADE_FOR[line.condition]
                    for line in return_.lines
                    if line.outcome == "approve"
                }
            with runtime.db.transaction() as session:
                follow_ups = receiving.grade(session, return_id, grades, "demo:warehouse")
            enqueue_all(runtime, follow_ups)


def _ingest_scans(runtime: Runtime, carrier: str, tracking_number: str, events: list[Any]) -> None:
    import json

    from .ports import InboundEvent
    from .services.intake import record_inbound

    body = json.dumps({"events": tracking_events_to_json(events)}).encode()
    dto = InboundEvent(
        event_id=f"scan-feed:{tracking_number}", topic="tracking", shop="", payload={}
    )
    with runtime.db.transaction() as session:
        row = record_inbound(session, carrier, None, dto, body, {})
        inbound_id = row.id if row else None
    if inbound_id is not None:
        enqueue(runtime, "process_inbound_event", inbound_id, job_id=f"inbound:{inbound_id}")


def collect(runtime: Runtime, setup: Setup, external_ids: list[str]) -> list[dict[str, Any]]:
    rows = []
    with runtime.db.session() as session:
        returns = session.scalars(
            select(models.Return)
            .where(
                models.Return.store_id == setup.store_id,
                models.Return.external_id.in_(external_ids),
            )
            .order_by(models.Return.id)
        ).all()
        for return_ in returns:
            route = return_.route
            chosen = None
            if route:
                chosen = next((o for o in route["options"] if o["id"] == route["chosen"]), None)
            seconds = (
                (return_.refunded_at - return_.created_at).total_seconds()
                if return_.refunded_at
                else None
            )
            rows.append(
                {
                    "id": return_.id,
                    "rma": return_.rma,
                    "status": return_.status,
                    "returnless": return_.returnless,
                    "route": {**route, "chosen_option": chosen} if route else None,
                    "shipping": chosen["shipping"]
                    if chosen and chosen["kind"] != "keep_item"
                    else None,
                    "seconds_to_refund": seconds,
                }
            )
    return rows


def copy_labels(runtime: Runtime, return_ids: list[int], folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    copied = 0
    with runtime.db.session() as session:
        for label, return_ in session.execute(
            select(models.LabelFile, models.Return)
            .join(models.Shipment, models.LabelFile.shipment_id == models.Shipment.id)
            .join(models.Return, models.Shipment.return_id == models.Return.id)
            .where(models.Return.id.in_(return_ids), models.LabelFile.format == "pdf")
        ):
            shutil.copyfile(runtime.files.path(label.path), folder / f"{return_.rma}.pdf")
            copied += 1
    return copied


def run_demo(
    runtime: Runtime,
    count: int,
    *,
    workers: int = 1,
    labels_dir: str | Path = "labels",
    timeout: float = 600,
    progress: bool = True,
    app: Any = None,
) -> Summary:
    from flask import current_app

    from migrations import upgrade

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade(runtime.settings.database_url)
    setup = bootstrap(runtime)
    processes = _start_workers(runtime, workers)
    started = time.monotonic()
    try:
        external_ids = request_returns(runtime, app, setup, count)
        ids: list[int] = []
        deadline = started + timeout
        while len(ids) < len(external_ids) and time.monotonic() < deadline:
            with runtime.db.session() as session:
                ids = list(
                    session.scalars(
                        select(models.Return.id).where(
                            models.Return.store_id == setup.store_id,
                            models.Return.external_id.in_(external_ids),
                        )
                    )
                )
            time.sleep(0.05)
        simulated: set[int] = set()
        terminal = {s.value for s in TERMINAL}
        bar = (
            click.progressbar(length=count, label="returns", file=sys.stderr) if progress else None
        )
        done = 0
        while time.monotonic() < deadline:
            play_outside_parties(runtime, ids, simulated)
            with runtime.db.session() as session:
                statuses = session.scalars(
                    select(models.Return.status).where(models.Return.id.in_(ids))
                ).all()
                pushing = session.scalar(
                    select(func.count())
                    .select_from(models.OutboundAction)
                    .where(
                        models.OutboundAction.return_id.in_(ids),
                        models.OutboundAction.status == "pending",
                    )
                )
            finished = sum(1 for status in statuses if status in terminal)
            if bar is not None and finished > done:
                bar.update(finished - done)
            done = finished
            if done >= len(ids) == len(external_ids) and not pushing:
                break
            time.sleep(0.1)
        if bar is not None:
            bar.render_finish()
        elapsed = time.monotonic() - started
    finally:
        _stop_workers(processes)
    rows = collect(runtime, setup, external_ids)
    copy_labels(runtime, [row["id"] for row in rows], Path(labels_dir))
    with runtime.db.session() as session:
        merchant = session.get(models.Merchant, setup.merchant_id)
        currency = merchant.currency if merchant else "USD"
    unfinished = [
        f"{row['rma']} ({row['status']})" for row in rows if row["status"] not in terminal
    ]
    missing = len(external_ids) - len(rows)
    if missing:
        unfinished.append(f"{missing} requests never became returns")
    return Summary(rows, currency, elapsed, unfinished)
