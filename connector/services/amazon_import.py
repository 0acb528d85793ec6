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

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table, select
from sqlalchemy.orm import Session

from platforms.amazon import ReportedReturn, RowError

from .. import ledger
from ..db import Database, models
from ..db.mapping import address_to_dict
from ..db.types import utcnow
from ..domain import OrderLine, Status
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


class _Rows:
    """How the import writes one table's rows: the columns it fills, in that order, then every
    other column with its default (so a column added to the model later is filled as an ORM
    insert would fill it)."""

    def __init__(self, model: type[models.Base], given: tuple[str, ...]) -> None:
        self.table: Table = model.__table__  # type: ignore[assignment]
        self.name = self.table.name
        names = set(self.table.columns.keys())
        unknown = [name for name in given if name not in names]
        if unknown:
            raise RuntimeError(f"{self.name} has no column(s) {unknown}")
        self.rest = [c for c in self.table.columns if c.name not in given and c.name != "id"]
        for column in self.rest:
            if column.default is None and not column.nullable and column.server_default is None:
                raise RuntimeError(f"{self.name}.{column.name} needs a value from the import")
        self.given = given
        self.columns = given + tuple(column.name for column in self.rest)


_ORDERS = _Rows(
    models.Order,
    (
        "id",
        "merchant_id",
        "store_id",
        "customer_id",
        "external_id",
        "number",
        "currency",
        "total_minor",
        "placed_at",
        "delivered_at",
        "shipping_address",
        "shipped_from",
        "export_reference",
        "tags",
        "raw",
        "created_at",
        "updated_at",
    ),
)
_ORDER_LINES = _Rows(
    models.OrderLine,
    (
        "id",
        "order_id",
        "external_id",
        "sku",
        "title",
        "quantity",
        "unit_price_minor",
        "currency",
        "weight_g",
        "dimensions_mm",
        "hs_code",
        "origin_country",
        "tags",
        "delivered_at",
    ),
)
_RETURNS = _Rows(
    models.Return,
    (
        "id",
        "merchant_id",
        "store_id",
        "order_id",
        "external_id",
        "rma",
        "status",
        "source",
        "requested_at",
        "buyer_address",
        "note",
        "resolution",
        "ledger_head",
        "ledger_length",
        "refunded_at",
        "closed_at",
        "created_at",
        "updated_at",
    ),
)
_RETURN_LINES = _Rows(
    models.ReturnLine,
    (
        "return_id",
        "order_line_id",
        "external_id",
        "quantity",
        "reason",
        "condition",
        "note",
        "outcome",
        "decision_reason",
        "grade",
    ),
)
_LEDGER = _Rows(
    models.LedgerEvent,
    ("return_id", "seq", "kind", "payload", "actor", "occurred_at", "prev_hash", "hash"),
)
_REFUNDS = _Rows(
    models.Refund,
    (
        "return_id",
        "sequence",
        "idempotency_key",
        "amount_minor",
        "currency",
        "status",
        "trigger",
        "kind",
        "external_id",
        "error",
        "created_at",
        "issued_at",
    ),
)


class _Driver:
    """The batch's statements given to the database driver itself, in the session's
    transaction: SQLAlchemy's per-parameter processing would cost more than the rows. Primary
    keys are taken before the inserts (PostgreSQL: the sequence's next values; SQLite: past
    the largest id, under the write lock every transaction takes), so nothing is read back.
    On PostgreSQL the rows go in by COPY, on SQLite by ``executemany``. JSON columns are
    given their JSON text, datetimes what the column type makes of them."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        dialect = connection.dialect
        self.postgres = dialect.name == "postgresql"
        self.raw: Any = connection.connection.driver_connection
        column_type = _table(models.Return).c.requested_at.type
        stamp = column_type.dialect_impl(dialect).bind_processor(dialect)
        self._stamp: Callable[[Any], Any] = stamp or (lambda value: value)
        self._stamps: dict[datetime, Any] = {}
        self._texts: dict[int, tuple[Any, str]] = {}
        self._lists: dict[tuple[Any, ...], str] = {}
        self._flat: dict[tuple[Any, ...], str] = {}

    def stamp(self, value: datetime | None) -> Any:
        """A datetime as the column type binds it (aware UTC; SQLite's text)."""
        if value is None:
            return None
        found = self._stamps.get(value)
        if found is None:
            found = self._stamps[value] = self._stamp(value)
        return found

    def json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def json_list(self, values: Iterable[Any]) -> str:
        """The JSON text of a list of strings or numbers, made once per distinct list."""
        key = tuple(values)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = self.json(list(key))
        return found

    def json_flat(self, value: Mapping[str, Any]) -> str:
        """The JSON text of a flat mapping (an order's ``raw``), made once per distinct one."""
        try:
            key = tuple(value.items())
            found = self._flat.get(key)
        except TypeError:  # a value that is a list or a mapping itself
            return self.json(dict(value))
        if found is None:
            found = self._flat[key] = self.json(dict(value))
        return found

    def json_of(self, value: Any, as_json: Callable[[Any], Any]) -> str:
        """The JSON text of ``as_json(value)`` for an object the rows share (the reader's
        address, say), made once."""
        found = self._texts.get(id(value))
        if found is None or found[0] is not value:
            found = self._texts[id(value)] = (value, self.json(as_json(value)))
        return found[1]

    def by_key(self, table: str, store_id: int, keys: list[str]) -> dict[str, int]:
        """The ids of the store's rows of ``table`` (orders, returns) among ``keys``, their
        external ids, one index look-up each (the planner may not know the table's size yet
        in the middle of an import, and would scan the store's rows for every batch)."""
        if self.postgres:
            with self.raw.cursor() as cursor:
                cursor.execute(
                    f"SELECT k.key, (SELECT t.id FROM {table} t "
                    "WHERE t.store_id = %s AND t.external_id = k.key) "
                    "FROM unnest(%s::text[]) AS k(key)",
                    (store_id, keys),
                )
                found = cursor.fetchall()
        else:
            found = self.raw.execute(
                f"SELECT external_id, id FROM {table} "
                "WHERE store_id = ? AND external_id IN (SELECT value FROM json_each(?))",
                (store_id, json.dumps(keys)),
            ).fetchall()
        return {str(key): int(row_id) for key, row_id in found if row_id is not None}

    def fetch(self, sql: str, keys: list[int]) -> list[tuple[Any, ...]]:
        """Rows of ``sql``, whose ``{in}`` is the test that a value is one of ``keys`` (one
        parameter, whatever their number)."""
        if self.postgres:
            with self.raw.cursor() as cursor:
                cursor.execute(sql.format(**{"in": "= ANY(%s)"}), (keys,))
                return list(cursor.fetchall())
        query = sql.format(**{"in": "IN (SELECT value FROM json_each(?))"})
        return list(self.raw.execute(query, (json.dumps(keys),)).fetchall())

    def ids(self, rows: _Rows, count: int) -> list[int]:
        """``count`` new primary keys of the table, in increasing order."""
        if count == 0:
            return []
        if self.postgres:
            with self.raw.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (rows.name,))
                (sequence,) = cursor.fetchone()
                cursor.execute(
                    "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                    (sequence, count),
                )
                return sorted(int(value) for (value,) in cursor.fetchall())
        (last,) = self.raw.execute(f"SELECT coalesce(max(id), 0) FROM {rows.name}").fetchone()
        return list(range(int(last) + 1, int(last) + 1 + count))

    def insert(self, rows: _Rows, values: list[tuple[Any, ...]]) -> None:
        if not values:
            return
        rest = tuple(self._default(column) for column in rows.rest)
        if rest:
            values = [value + rest for value in values]
        columns = ", ".join(rows.columns)
        if self.postgres:
            copying = f"COPY {rows.name} ({columns}) FROM STDIN"
            with self.raw.cursor() as cursor, cursor.copy(copying) as copy:
                write = copy.write_row
                for value in values:
                    write(value)
            return
        marks = ", ".join("?" * len(rows.columns))
        self.raw.executemany(f"INSERT INTO {rows.name} ({columns}) VALUES ({marks})", values)

    def _default(self, column: Any) -> Any:
        default = column.default
        if default is None:
            return None
        value = default.arg(None) if default.is_callable else default.arg
        if value is None:
            return None
        if isinstance(column.type, JSON):
            return self.json(value)
        if isinstance(value, datetime):
            return self.stamp(value)
        return value


class _BatchWriter:
    """Stores one batch with a fixed number of statements: look-ups by key list, primary keys
    taken beforehand, and one bulk insert per table (the ledger's hash chains computed here,
    so each new return is written once, with its RMA and ledger head)."""

    def __init__(self, session: Session, store: models.Store) -> None:
        self.session = session
        self.store = store
        self.db = _Driver(session)
        self.now = utcnow()
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
        db, store = self.db, self.store
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
        ids = db.by_key("orders", store.id, list(orders))
        found: dict[str, dict[str, int]] = {key: {} for key in orders}
        if ids:  # only orders stored before have lines already
            by_id = {order_id: key for key, order_id in ids.items()}
            for line_id, order_id, external_id in db.fetch(
                "SELECT id, order_id, external_id FROM order_lines WHERE order_id {in}",
                list(by_id),
            ):
                found[by_id[order_id]][external_id] = int(line_id)
        fresh = [key for key in orders if key not in ids]
        if fresh:
            stubs = []
            for key, order_id in zip(fresh, db.ids(_ORDERS, len(fresh)), strict=True):
                ids[key] = order_id
                stubs.append(self._stub(order_id, orders[key], wanted[key]))
                self.new_orders.append(order_id)
            db.insert(_ORDERS, stubs)
            self.summary.orders_new += len(fresh)
        missing = [
            (key, line)
            for key, skus in wanted.items()
            for sku, line in skus.items()
            if sku not in found[key]
        ]
        if missing:
            values = []
            for (key, line), line_id in zip(
                missing, db.ids(_ORDER_LINES, len(missing)), strict=True
            ):
                found[key][line.external_id] = line_id
                values.append(self._line(line_id, ids[key], line))
            db.insert(_ORDER_LINES, values)
        return ids, found

    def _stub(
        self, order_id: int, row: ReportedReturn, lines: Mapping[str, OrderLine]
    ) -> tuple[Any, ...]:
        db, order, now = self.db, row.order, self.now
        total = 0
        for line in lines.values():
            if line.unit_price.currency == order.currency:
                total += line.unit_price.minor * line.quantity
        return (
            order_id,
            self.store.merchant_id,
            self.store.id,
            None,
            order.external_id,
            order.number,
            order.currency,
            total or order.total.minor,
            db.stamp(order.placed_at),
            db.stamp(order.delivered_at),
            db.json_of(order.shipping_address, address_to_dict),
            order.shipped_from,
            order.export_reference,
            db.json_list(order.tags),
            db.json_flat(order.raw),
            db.stamp(now),
            db.stamp(now),
        )

    def _line(self, line_id: int, order_id: int, line: OrderLine) -> tuple[Any, ...]:
        db = self.db
        return (
            line_id,
            order_id,
            line.external_id,
            line.sku,
            line.title[:500],
            line.quantity,
            line.unit_price.minor,
            line.unit_price.currency,
            int(line.weight_kg * 1000),
            db.json_list(int(d * 10) for d in line.dimensions_cm),
            line.hs_code,
            line.origin_country,
            db.json_list(line.tags),
            db.stamp(line.delivered_at),
        )

    # returns -----------------------------------------------------------------------------

    def _returns(
        self, reported: list[ReportedReturn]
    ) -> tuple[dict[str, _NewReturn], dict[int, list[tuple[str, Any]]]]:
        """The batch's returns split into new ones (rows of one RMA joined) and lines to add
        to returns stored before."""
        db, store = self.db, self.store
        keys = list({row.request.external_id: None for row in reported})
        stored = db.by_key("returns", store.id, keys)
        stored_lines: dict[int, set[str]] = {return_id: set() for return_id in stored.values()}
        if stored:
            for return_id, external_id in db.fetch(
                "SELECT return_id, external_id FROM return_lines WHERE return_id {in}",
                list(stored.values()),
            ):
                stored_lines[int(return_id)].add(external_id)
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
        db, store = self.db, self.store
        merchant_id, store_id = store.merchant_id, store.id
        now = db.stamp(self.now)
        occurred = self.now.astimezone(UTC).replace(microsecond=0)
        occurred_at = db.stamp(occurred)
        no_address = db.json({})
        returns, line_values, refunds, events = [], [], [], []
        canonical, genesis = ledger.canonical_json, ledger.GENESIS
        moment = canonical(occurred.isoformat())
        return_ids = db.ids(_RETURNS, len(new))
        for (key, item), return_id in zip(new.items(), return_ids, strict=True):
            row = item.reported
            request = row.request
            status = _stored_status(row)
            settled = status is not Status.REQUESTED
            at = row.delivered_at or request.requested_at
            order_lines = lines_of_order[item.order_key]
            for line in item.lines.values():
                line_values.append(_return_line(return_id, order_lines, line))
            prev = genesis
            chain = _events(return_id, item, status)
            for seq, (kind, payload, actor) in enumerate(chain, start=1):
                text = canonical(payload)
                digest = _event_hash(prev, return_id, seq, kind, text, actor, moment)
                events.append((return_id, seq, kind, text, actor, occurred_at, prev, digest))
                prev = digest
            refunded = row.refunded is not None and settled
            returns.append(
                (
                    return_id,
                    merchant_id,
                    store_id,
                    order_ids[item.order_key],
                    request.external_id,
                    _rma(return_id),
                    status.value,
                    "platform",
                    db.stamp(request.requested_at),
                    no_address,
                    request.note,
                    request.resolution,
                    prev,
                    len(chain),
                    db.stamp(at) if refunded else None,
                    db.stamp(at) if status is Status.CLOSED else None,
                    now,
                    now,
                )
            )
            if refunded and row.refunded is not None:
                refunds.append(
                    (
                        return_id,
                        1,
                        f"amazon-report:{store_id}:{key}",
                        row.refunded.minor,
                        row.refunded.currency,
                        "issued",
                        "platform",
                        "refund",
                        "",
                        "",
                        now,
                        db.stamp(at),
                    )
                )
            if settled:
                self.summary.returns_history += 1
            else:
                self.summary.returns_open += 1
                self.open_returns.append(return_id)
        self.summary.returns_new += len(new)
        db.insert(_RETURNS, returns)
        db.insert(_RETURN_LINES, line_values)
        db.insert(_LEDGER, events)
        db.insert(_REFUNDS, refunds)

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
                named = dict(zip(_RETURN_LINES.given, values, strict=True))
                self.session.add(models.ReturnLine(**named))
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


def _platform_label(row: ReportedReturn) -> dict[str, Any]:
    """The return label Amazon gave the buyer of a seller-fulfilled return, when the report
    names its tracking: routing then buys no label of its own (``services/logistics``)."""
    if row.fulfilment != "MFN" or not row.tracking_number:
        return {}
    label: dict[str, Any] = {
        "carrier": row.carrier or "amazon",
        "tracking_number": row.tracking_number,
    }
    if row.label_cost is not None and row.label_paid_by.lower() == "seller":
        label["cost"] = {"amount": str(row.label_cost.amount), "currency": row.label_cost.currency}
    return {"platform_label": label}


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
    """The new return's ledger: its request, and for a settled one what Amazon did. The
    payloads hold JSON values only, so their canonical JSON is both what is hashed and what
    is stored (as ``ledger.append`` does)."""
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
    requested: dict[str, Any] = {
        "rma": _rma(return_id),
        "order": row.order.number,
        "source": SOURCE,
        **_platform_label(row),
        "lines": [
            {
                "line": line.order_line_external_id,
                "quantity": line.quantity,
                "reason": line.reason.value,
            }
            for line in item.lines.values()
        ],
        "amazon": amazon,
    }
    chain: list[tuple[str, dict[str, Any], str]] = [
        (EventKind.RETURN_REQUESTED.value, requested, "buyer")
    ]
    if status is Status.REQUESTED:
        return chain
    if row.refunded is not None:
        refund = {"amount": str(row.refunded), "by": PLATFORM, "source": SOURCE}
        chain.append((EventKind.REFUND_ISSUED.value, refund, PLATFORM))
    settled = {"by": PLATFORM, "amazon_status": row.amazon_status, "fulfilment": row.fulfilment}
    if status is Status.DECLINED:
        settled["outcome"] = "declined"
    chain.append((_FINAL_EVENT[status].value, settled, PLATFORM))
    return chain


def _event_hash(
    prev: str, return_id: int, seq: int, kind: str, payload: str, actor: str, moment: str
) -> str:
    """``ledger.event_hash`` of an event whose payload's canonical JSON is made already
    (``moment``: the canonical JSON of ``occurred_at.isoformat()``): the same canonical body,
    keys in order, without encoding the payload a second time."""
    body = (
        f'{{"actor":{ledger.canonical_json(actor)},"kind":{ledger.canonical_json(kind)},'
        f'"occurred_at":{moment},"payload":{payload},"return_id":{return_id},"seq":{seq}}}'
    )
    return hashlib.sha256((prev + body).encode()).hexdigest()


def _return_line(return_id: int, order_lines: Mapping[str, int], line: Any) -> tuple[Any, ...]:
    """A return line's values, in ``_RETURN_LINES``' column order."""
    return (
        return_id,
        order_lines[line.order_line_external_id],
        line.external_id,
        line.quantity,
        line.reason.value,
        line.condition.value,
        line.note,
        "",
        "",
        "",
    )


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
