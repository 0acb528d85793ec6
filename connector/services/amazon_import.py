"""Amazon returns reports stored: each row of a returns report becomes a return in Helloword
without a single call to Amazon, so an import from a file works offline.

A row's order is stored as the stub the report describes only when the store does not have
that order yet; an order read from the Orders API (or a stub from an earlier import) is never
overwritten, only given the SKU lines it lacks. Returns are upserted by the Amazon RMA id
(``external_id``): a row seen again changes nothing, and a line a stored return lacks is added
to it. A seller-fulfilled return still open on Amazon enters the pipeline like any platform's
(REQUESTED, then ``decide_return``); FBA returns, returns Amazon reports as refunded, and
returns Amazon closed, declined or cancelled are stored as settled history (with the refund
Amazon made recorded as issued) and never reach the refund pipeline.

Rows are stored in batches, one transaction each, with a handful of statements per batch
whatever its size (bulk inserts, the ledger's hash chains computed here), so a report of a
hundred thousand rows streams through in constant memory. Rows that cannot be read are handed
to ``on_error`` with their line numbers and skipped. Each batch's follow-up job
(``dispatch_amazon_batch``, which queues ``decide_return`` for each open return and
``fetch_amazon_order`` for each new order) is given to ``on_batch`` after the batch commits.
``settings["returns_import"]`` on the store keeps how far the scheduled imports got.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from platforms.amazon import ReportedReturn, RowError

from .. import ledger
from ..db import Database, models
from ..db.mapping import address_to_dict
from ..db.types import utcnow
from ..domain import Money, OrderLine, Status
from ..domain.events import EventKind
from ..errors import NothingToDo
from .common import FollowUp

BATCH_ROWS = 500  # returns stored per transaction
SOURCE = "amazon_report"
PLATFORM = "amazon"
IMPORT_KEY = "returns_import"
OPEN_ON_AMAZON = frozenset({Status.REQUESTED, Status.APPROVED, Status.RECEIVED})
_FINAL_EVENT = {
    Status.CLOSED: EventKind.RETURN_CLOSED,
    Status.CANCELED: EventKind.RETURN_CANCELED,
    Status.DECLINED: EventKind.RETURN_DECIDED,
}


@dataclass
class ImportSummary:
    """What an import did, row by row."""

    rows: int = 0  # report rows read, errors included
    returns_new: int = 0  # returns stored for the first time
    returns_open: int = 0  # of them, open on Amazon: sent to the policy's decision
    returns_history: int = 0  # of them, settled already: FBA, refunded, closed on Amazon
    returns_seen: int = 0  # stored before, left as they were
    lines_added: int = 0  # lines a stored return lacked
    orders_new: int = 0  # orders stored as the report's stub, details fetched by jobs
    errors: int = 0

    def add(self, other: ImportSummary) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Batch:
    """One committed batch: its counts and the jobs to queue now that it is stored."""

    summary: ImportSummary
    follow_ups: list[FollowUp] = field(default_factory=list)


def import_rows(
    db: Database,
    store_id: int,
    rows: Iterable[tuple[int, ReportedReturn | RowError]],
    *,
    batch_rows: int = BATCH_ROWS,
    on_error: Callable[[RowError], None] | None = None,
    on_batch: Callable[[Batch], None] | None = None,
) -> ImportSummary:
    """Store the rows of a returns report (``parse_returns_report``'s output) for the Amazon
    store, committing every ``batch_rows`` returns. ``NothingToDo`` if the store is gone."""
    total = ImportSummary()
    pending: list[ReportedReturn] = []
    read = errors = 0

    def flush() -> None:
        nonlocal read, errors
        with db.transaction() as session:
            batch = store_batch(session, store_id, pending)
        batch.summary.rows += read
        batch.summary.errors += errors
        total.add(batch.summary)
        pending.clear()
        read = errors = 0
        if on_batch is not None:
            on_batch(batch)

    for _, parsed in rows:
        if isinstance(parsed, RowError):
            read += 1
            errors += 1
            if on_error is not None:
                on_error(parsed)
            continue
        read += len(parsed.request.lines)  # one report row per SKU of the RMA
        pending.append(parsed)
        if len(pending) >= batch_rows:
            flush()
    if pending or read:
        flush()
    return total


def store_batch(session: Session, store_id: int, reported: list[ReportedReturn]) -> Batch:
    """Store one batch of reported returns in ``session``'s transaction."""
    store = session.get(models.Store, store_id)
    if store is None:
        raise NothingToDo(f"store {store_id} is gone")
    writer = _BatchWriter(session, store)
    return writer.write(reported)


def fetch_order_details(session: Session, store_id: int, order_id: int, order: Any) -> None:
    """Replace a stub order with the Orders API's details (``upsert_order`` keeps its lines
    and adds those it lacked)."""
    from . import intake

    store = session.get(models.Store, store_id)
    row = session.get(models.Order, order_id)
    if store is None or row is None or row.store_id != store_id:
        raise NothingToDo(f"order {order_id} of store {store_id} is gone")
    intake.upsert_order(session, store, order)


def order_to_fetch(session: Session, order_id: int) -> tuple[int, str]:
    """The store and Amazon order id of an order, for ``fetch_amazon_order``."""
    row = session.get(models.Order, order_id)
    if row is None:
        raise NothingToDo(f"order {order_id} is gone")
    return row.store_id, row.external_id


# --- the store's import progress --------------------------------------------------------


def amazon_stores(session: Session) -> list[int]:
    """The active Amazon stores, whose returns the scheduled import reads."""
    return list(
        session.scalars(
            select(models.Store.id)
            .where(models.Store.platform == PLATFORM, models.Store.status == "active")
            .order_by(models.Store.id)
        )
    )


def import_window_start(session: Session, store_id: int, default: datetime) -> datetime:
    """Where the next scheduled import starts: the end of the last successful one."""
    store = session.get(models.Store, store_id)
    if store is None:
        raise NothingToDo(f"store {store_id} is gone")
    through = (store.settings.get(IMPORT_KEY) or {}).get("through")
    if not through:
        return default
    moment = datetime.fromisoformat(str(through))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def import_started(session: Session, store_id: int, since: datetime, until: datetime) -> None:
    _progress(session, store_id, status="running", since=_iso(since), until=_iso(until))


def import_finished(
    session: Session, store_id: int, until: datetime, summary: ImportSummary
) -> None:
    """A successful import: the next one starts at ``until``."""
    _progress(
        session,
        store_id,
        status="done",
        through=_iso(until),
        finished_at=_iso(utcnow()),
        error=None,
        last=summary.as_dict(),
    )


def import_failed(session: Session, store_id: int, error: str) -> None:
    _progress(session, store_id, status="failed", error=error, finished_at=_iso(utcnow()))


def needs_relinking(session: Session, store_id: int, error: str) -> None:
    """The seller's authorisation lapsed: the store shows it, and nothing queued is dropped."""
    store = _locked(session, store_id)
    if store is not None:
        store.status = "needs_relinking"
        current = dict(store.settings.get(IMPORT_KEY) or {})
        current.update(status="needs_relinking", error=error, finished_at=_iso(utcnow()))
        store.settings = {**store.settings, IMPORT_KEY: current}


# --- the batch --------------------------------------------------------------------------


@dataclass
class _NewReturn:
    reported: ReportedReturn
    order_key: str
    lines: dict[str, Any]  # the return line's external id → its ReturnLine


class _BatchWriter:
    """Stores one batch with a fixed number of statements: look-ups by ``IN``, bulk inserts
    with RETURNING, and one bulk update of the new returns' RMA and ledger head."""

    def __init__(self, session: Session, store: models.Store) -> None:
        self.session = session
        self.store = store
        self.summary = ImportSummary()
        self.open_returns: list[int] = []
        self.new_orders: list[int] = []

    def write(self, reported: list[ReportedReturn]) -> Batch:
        if not reported:
            return Batch(self.summary)
        order_ids, lines_of_order = self._order_lines(reported)
        new, additions = self._returns(reported)
        self._insert_returns(new, order_ids, lines_of_order)
        self._add_lines(additions, lines_of_order)
        return Batch(self.summary, self._follow_ups())

    def _follow_ups(self) -> list[FollowUp]:
        """One job per batch, which queues ``decide_return`` for each open return and
        ``fetch_amazon_order`` for each new order: queueing them one by one here would make
        the import wait on Redis for every row."""
        if not self.open_returns and not self.new_orders:
            return []
        first = min(self.open_returns or self.new_orders)
        sizes = f"{len(self.open_returns)}:{len(self.new_orders)}"
        key = f"dispatch_amazon_batch:{self.store.id}:{first}:{sizes}"
        return [FollowUp("dispatch_amazon_batch", (self.open_returns, self.new_orders), key)]

    # orders ------------------------------------------------------------------------------

    def _order_lines(
        self, reported: list[ReportedReturn]
    ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Every order of the batch stored (stubs for the new ones), with the lines the rows
        name: Amazon order id → our id, and Amazon order id → SKU → order line id."""
        session, store = self.session, self.store
        orders: dict[str, ReportedReturn] = {}
        wanted: dict[str, dict[str, OrderLine]] = {}
        for row in reported:
            key = row.order.external_id
            orders.setdefault(key, row)
            skus = wanted.setdefault(key, {})
            for line in row.order.lines:
                known = skus.get(line.external_id)
                if known is None or line.quantity > known.quantity:
                    skus[line.external_id] = line
        order_table = _table(models.Order)
        ids: dict[str, int] = dict(
            session.execute(
                select(models.Order.external_id, models.Order.id).where(
                    models.Order.store_id == store.id, models.Order.external_id.in_(list(orders))
                )
            ).all()
        )
        fresh = [key for key in orders if key not in ids]
        if fresh:
            now = utcnow()
            values = [self._stub(orders[key], wanted[key], now) for key in fresh]
            inserted = session.execute(
                order_table.insert().returning(order_table.c.external_id, order_table.c.id),
                values,
            )
            created: dict[str, int] = {str(key): int(order_id) for key, order_id in inserted}
            ids.update(created)
            self.summary.orders_new += len(created)
            self.new_orders.extend(created.values())
        by_id = {order_id: key for key, order_id in ids.items()}
        found: dict[str, dict[str, int]] = {key: {} for key in orders}
        line_table = _table(models.OrderLine)
        for line_id, order_id, external_id in session.execute(
            select(
                models.OrderLine.id, models.OrderLine.order_id, models.OrderLine.external_id
            ).where(models.OrderLine.order_id.in_(list(by_id)))
        ):
            found[by_id[order_id]][external_id] = line_id
        missing = [
            _line_values(ids[key], line)
            for key, skus in wanted.items()
            for sku, line in skus.items()
            if sku not in found[key]
        ]
        if missing:
            for line_id, order_id, external_id in session.execute(
                line_table.insert().returning(
                    line_table.c.id, line_table.c.order_id, line_table.c.external_id
                ),
                missing,
            ):
                found[by_id[order_id]][external_id] = line_id
        return ids, found

    def _stub(
        self, row: ReportedReturn, lines: Mapping[str, OrderLine], now: datetime
    ) -> dict[str, Any]:
        order = row.order
        total = Money.zero(order.currency)
        for line in lines.values():
            if line.unit_price.currency == order.currency:
                total += line.unit_price * line.quantity
        return {
            "merchant_id": self.store.merchant_id,
            "store_id": self.store.id,
            "customer_id": None,
            "external_id": order.external_id,
            "number": order.number,
            "currency": order.currency,
            "total_minor": total.minor if not total.is_zero() else order.total.minor,
            "placed_at": order.placed_at,
            "delivered_at": order.delivered_at,
            "shipping_address": address_to_dict(order.shipping_address),
            "shipped_from": order.shipped_from,
            "export_reference": order.export_reference,
            "tags": list(order.tags),
            "raw": dict(order.raw),
            "created_at": now,
            "updated_at": now,
        }

    # returns -----------------------------------------------------------------------------

    def _returns(
        self, reported: list[ReportedReturn]
    ) -> tuple[dict[str, _NewReturn], dict[int, list[tuple[str, Any]]]]:
        """The batch's returns split into new ones (rows of one RMA joined) and lines to add
        to returns stored before."""
        session, store = self.session, self.store
        keys = list({row.request.external_id for row in reported})
        stored: dict[str, int] = {
            str(key): return_id
            for key, return_id in session.execute(
                select(models.Return.external_id, models.Return.id).where(
                    models.Return.store_id == store.id, models.Return.external_id.in_(keys)
                )
            )
        }
        stored_lines: dict[int, set[str]] = {return_id: set() for return_id in stored.values()}
        if stored:
            for return_id, external_id in session.execute(
                select(models.ReturnLine.return_id, models.ReturnLine.external_id).where(
                    models.ReturnLine.return_id.in_(list(stored.values()))
                )
            ):
                stored_lines[return_id].add(external_id)
        new: dict[str, _NewReturn] = {}
        additions: dict[int, list[tuple[str, Any]]] = {}
        for row in reported:
            key = row.request.external_id
            if key in stored:
                have = stored_lines[stored[key]]
                lacking = [
                    (row.order.external_id, line)
                    for line in row.request.lines
                    if line.external_id not in have
                ]
                have.update(line.external_id for _, line in lacking)
                if lacking:
                    additions.setdefault(stored[key], []).extend(lacking)
                else:
                    self.summary.returns_seen += 1
                continue
            if key in new:  # the same RMA further down the same batch
                for line in row.request.lines:
                    new[key].lines.setdefault(line.external_id, line)
                continue
            lines = {line.external_id: line for line in row.request.lines}
            new[key] = _NewReturn(row, row.order.external_id, lines)
        return new, additions

    def _insert_returns(
        self,
        new: dict[str, _NewReturn],
        order_ids: dict[str, int],
        lines_of_order: dict[str, dict[str, int]],
    ) -> None:
        if not new:
            return
        session, store = self.session, self.store
        now = utcnow()
        values = []
        for item in new.values():
            row = item.reported
            status = _stored_status(row)
            settled = status is not Status.REQUESTED
            at = row.delivered_at or row.request.requested_at
            values.append(
                {
                    "merchant_id": store.merchant_id,
                    "store_id": store.id,
                    "order_id": order_ids[item.order_key],
                    "external_id": row.request.external_id,
                    "status": status.value,
                    "source": "platform",
                    "requested_at": row.request.requested_at,
                    "buyer_address": {},
                    "note": row.request.note,
                    "resolution": row.request.resolution,
                    "refunded_at": at if row.refunded is not None and settled else None,
                    "closed_at": at if status is Status.CLOSED else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        table = _table(models.Return)
        inserted = session.execute(
            table.insert().returning(table.c.external_id, table.c.id), values
        )
        ids: dict[str, int] = {str(key): int(return_id) for key, return_id in inserted}
        line_values, refunds, events, heads = [], [], [], []
        occurred = now.astimezone(UTC).replace(microsecond=0)
        for key, item in new.items():
            return_id = ids[key]
            row = item.reported
            status = _stored_status(row)
            order_lines = lines_of_order[item.order_key]
            for line in item.lines.values():
                line_values.append(_return_line(return_id, order_lines, line))
            chain = _events(return_id, item, status)
            prev = ledger.GENESIS
            for seq, (kind, payload, actor) in enumerate(chain, start=1):
                digest = ledger.event_hash(prev, return_id, seq, kind, payload, actor, occurred)
                events.append(
                    {
                        "return_id": return_id,
                        "seq": seq,
                        "kind": kind,
                        "payload": payload,
                        "actor": actor,
                        "occurred_at": occurred,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            heads.append(
                {"rid": return_id, "rma": _rma(return_id), "head": prev, "length": len(chain)}
            )
            if row.refunded is not None and status is not Status.REQUESTED:
                refunds.append(
                    {
                        "return_id": return_id,
                        "sequence": 1,
                        "idempotency_key": f"amazon-report:{store.id}:{key}",
                        "amount_minor": row.refunded.minor,
                        "currency": row.refunded.currency,
                        "status": "issued",
                        "trigger": "platform",
                        "kind": "refund",
                        "external_id": "",
                        "error": "",
                        "created_at": now,
                        "issued_at": row.delivered_at or row.request.requested_at,
                    }
                )
            if status is Status.REQUESTED:
                self.summary.returns_open += 1
                self.open_returns.append(return_id)
            else:
                self.summary.returns_history += 1
        self.summary.returns_new += len(new)
        session.execute(_table(models.ReturnLine).insert(), line_values)
        session.execute(_table(models.LedgerEvent).insert(), events)
        if refunds:
            session.execute(_table(models.Refund).insert(), refunds)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(
                rma=bindparam("rma"),
                ledger_head=bindparam("head"),
                ledger_length=bindparam("length"),
            ),
            heads,
        )

    def _add_lines(
        self,
        additions: dict[int, list[tuple[str, Any]]],
        lines_of_order: dict[str, dict[str, int]],
    ) -> None:
        """Lines a stored return lacked (a report that split its rows differently): added
        under the return's lock, with a ledger event naming them. Rare, so one at a time."""
        for return_id, lines in additions.items():
            return_ = self.session.get(models.Return, return_id, with_for_update=True)
            if return_ is None:
                continue
            for order_key, line in lines:
                values = _return_line(return_id, lines_of_order[order_key], line)
                self.session.add(models.ReturnLine(**values))
            ledger.append(
                self.session,
                return_,
                EventKind.PLATFORM_UPDATED,
                {
                    "source": SOURCE,
                    "lines_added": [
                        {"line": line.order_line_external_id, "quantity": line.quantity}
                        for _, line in lines
                    ],
                },
                actor=PLATFORM,
            )
            self.summary.lines_added += len(lines)
        self.session.flush()


def _stored_status(row: ReportedReturn) -> Status:
    """REQUESTED for a seller-fulfilled return still open on Amazon and not refunded (the
    policy decides it); otherwise what Amazon settled: CLOSED, DECLINED or CANCELED."""
    if row.fulfilment != "MFN" or row.refunded is not None:
        return Status.CLOSED
    if row.status in OPEN_ON_AMAZON:
        return Status.REQUESTED
    return row.status if row.status in _FINAL_EVENT else Status.CLOSED


def _events(
    return_id: int, item: _NewReturn, status: Status
) -> list[tuple[str, dict[str, Any], str]]:
    """The new return's ledger: its request, and for a settled one what Amazon did."""
    row = item.reported
    amazon: dict[str, Any] = {
        "status": row.amazon_status,
        "fulfilment": row.fulfilment,
        "marketplace_id": row.order.raw.get("marketplace_id", ""),
        "line_number": row.line_number,
    }
    if row.tracking_number:
        amazon["tracking"] = {"carrier": row.carrier, "number": row.tracking_number}
    if row.label_cost is not None:
        amazon["label_cost"] = str(row.label_cost)
        amazon["label_paid_by"] = row.label_paid_by
    if row.a_to_z_claim:
        amazon["a_to_z_claim"] = True
    if not row.in_policy:
        amazon["in_policy"] = False
    requested = {
        "rma": _rma(return_id),
        "order": row.order.number,
        "source": SOURCE,
        "lines": [
            {"line": line.order_line_external_id, "quantity": line.quantity, "reason": line.reason}
            for line in item.lines.values()
        ],
        "amazon": amazon,
    }
    chain = [(EventKind.RETURN_REQUESTED.value, _canonical(requested), "buyer")]
    if status is Status.REQUESTED:
        return chain
    if row.refunded is not None:
        refund = {"amount": str(row.refunded), "by": PLATFORM, "source": SOURCE}
        chain.append((EventKind.REFUND_ISSUED.value, _canonical(refund), PLATFORM))
    settled = {"by": PLATFORM, "amazon_status": row.amazon_status, "fulfilment": row.fulfilment}
    if status is Status.DECLINED:
        settled["outcome"] = "declined"
    chain.append((_FINAL_EVENT[status].value, _canonical(settled), PLATFORM))
    return chain


def _return_line(return_id: int, order_lines: Mapping[str, int], line: Any) -> dict[str, Any]:
    return {
        "return_id": return_id,
        "order_line_id": order_lines[line.order_line_external_id],
        "external_id": line.external_id,
        "quantity": line.quantity,
        "reason": line.reason.value,
        "condition": line.condition.value,
        "note": line.note,
        "outcome": "",
        "decision_reason": "",
        "grade": "",
    }


def _line_values(order_id: int, line: OrderLine) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "external_id": line.external_id,
        "sku": line.sku,
        "title": line.title[:500],
        "quantity": line.quantity,
        "unit_price_minor": line.unit_price.minor,
        "currency": line.unit_price.currency,
        "weight_g": int(line.weight_kg * 1000),
        "dimensions_mm": [int(d * 10) for d in line.dimensions_cm],
        "hs_code": line.hs_code,
        "origin_country": line.origin_country,
        "tags": list(line.tags),
        "delivered_at": line.delivered_at,
    }


def _canonical(payload: dict[str, Any]) -> dict[str, Any]:
    """What the ledger stores is what was hashed (as ``ledger.append`` does)."""
    loaded: dict[str, Any] = json.loads(ledger.canonical_json(payload))
    return loaded


def _table(model: type[models.Base]) -> Table:
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def _rma(return_id: int) -> str:
    return f"R{return_id:07d}"


def _locked(session: Session, store_id: int) -> models.Store | None:
    return session.scalars(
        select(models.Store)
        .where(models.Store.id == store_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _progress(session: Session, store_id: int, **changes: Any) -> None:
    store = _locked(session, store_id)
    if store is None:
        return
    current = dict(store.settings.get(IMPORT_KEY) or {})
    merged = {k: v for k, v in {**current, **changes}.items() if v is not None}
    store.settings = {**store.settings, IMPORT_KEY: merged}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
