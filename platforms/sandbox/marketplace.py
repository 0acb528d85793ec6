"""The sandbox store's own back end: shops, orders, return requests and what Helloword pushed.

This is the simulated marketplace, not Helloword: it lives in its own SQLite file, reached
through the standard library's ``sqlite3`` and never through the application's database, so the
adapter talks to it only as it would talk to a real platform. Several processes (web, workers,
a test) may open the same file: the journal is WAL, writers wait on a busy timeout, and every
operation is one short transaction on its own connection.

Orders and returns are stored as the JSON the platform would send (Shopify's shape, plus the
sandbox's ``delivered_at``, ``shipped_from``, ``export_reference`` and per-line ``hs_code``,
``origin_country``, ``dimensions_mm``).
Pushes are stored under a unique idempotency key per shop, and they move the simulated return
along as the real platform would, refusing what it would refuse (an over-refund, approving a
declined return) with a ``MarketplaceError`` whose ``code`` says why.

Push payloads, by kind:

- ``approve`` / ``close``: ``{"return_id"}``
- ``decline``: ``{"return_id", "reason": return_period_ended|final_sale|other, "note"}``
- ``attach_label``: ``{"return_id", "tracking_number", "carrier", "label_url"}``
- ``refund``: ``{"return_id", "order_id", "amount": "12.50", "currency",
  "lines": [{"line_item_id", "quantity"}]}``
- ``dispose``: ``{"return_id", "dispositions": [{"line_item_id", "quantity", "type"}]}``
  (``line_item_id`` is a return line item id, or the order line item id it returns)
- ``restock``: ``{"sku", "quantity"}``
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connector.domain.money import exponent

from .demo import demo_order, derived_id, format_amount, iso, sizes_of

PUSH_KINDS = frozenset(
    {"approve", "decline", "attach_label", "refund", "exchange", "dispose", "close", "restock"}
)
# Shopify's ReturnReason values as its webhooks spell them, plus the two canonical reasons it
# lacks, so a demo can exercise every rule of the policy engine.
RETURN_REASONS = frozenset(
    {
        "color",
        "defective",
        "not_as_described",
        "other",
        "size_too_large",
        "size_too_small",
        "style",
        "unknown",
        "unwanted",
        "wrong_item",
        "damaged_in_transit",
        "arrived_late",
    }
)
CONDITIONS = frozenset({"unused", "opened", "used", "damaged"})
DECLINE_REASONS = frozenset({"return_period_ended", "final_sale", "other"})
DISPOSITION_TYPES = frozenset({"restocked", "not_restocked", "processing_required", "missing"})

# Which status a push needs the return to be in, and where it moves it.
_NEEDS: dict[str, frozenset[str]] = {
    "approve": frozenset({"requested"}),
    "decline": frozenset({"requested"}),
    "attach_label": frozenset({"open"}),
    "dispose": frozenset({"open"}),
    "refund": frozenset({"requested", "open", "closed"}),
    "exchange": frozenset({"requested", "open", "closed"}),
    "close": frozenset({"open"}),
}
_MOVES_TO = {"approve": "open", "decline": "declined", "close": "closed"}
# Returns in these statuses no longer hold any of the order's quantity.
_RELEASED = ("declined", "canceled")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS shops (
        domain TEXT PRIMARY KEY,
        webhook_secret TEXT NOT NULL,
        webhook_url TEXT NOT NULL,
        currency TEXT NOT NULL,
        next_order_number INTEGER NOT NULL DEFAULT 1001,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS orders (
        domain TEXT NOT NULL REFERENCES shops (domain),
        id INTEGER NOT NULL,
        demo_key TEXT,
        total TEXT NOT NULL,
        currency TEXT NOT NULL,
        refunded TEXT NOT NULL DEFAULT '0',
        updated_us INTEGER NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (domain, id),
        UNIQUE (domain, demo_key)
    )""",
    """CREATE TABLE IF NOT EXISTS returns (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL,
        order_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        refunded TEXT NOT NULL DEFAULT '0',
        updated_us INTEGER NOT NULL,
        payload TEXT NOT NULL,
        FOREIGN KEY (domain, order_id) REFERENCES orders (domain, id)
    )""",
    "CREATE INDEX IF NOT EXISTS returns_by_order ON returns (domain, order_id)",
    """CREATE TABLE IF NOT EXISTS pushes (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL,
        kind TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (domain, idempotency_key)
    )""",
    """CREATE TABLE IF NOT EXISTS inventory (
        domain TEXT NOT NULL,
        sku TEXT NOT NULL,
        available INTEGER NOT NULL,
        PRIMARY KEY (domain, sku)
    )""",
    """CREATE TABLE IF NOT EXISTS sequences (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
)


class MarketplaceError(ValueError):
    """The store refused a request; ``code`` says why:

    ``not_found`` (no such shop, order or return), ``invalid`` (a malformed request),
    ``invalid_state`` (the return's status forbids it), ``not_yet`` (the return is still
    requested and the push needs it approved), ``already_in_state`` (the return is already where
    the push would take it), ``return_canceled``, ``over_refund``, ``key_reused``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SandboxMarketplace:
    """The simulated store's back end in the SQLite file at ``path`` (created if missing)."""

    def __init__(self, path: Path, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._open()
        try:
            # WAL lets readers in other processes go on while one writes; the mode is kept in
            # the file, so setting it once here serves every later connection.
            connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    # shops ------------------------------------------------------------------------------

    def create_shop(
        self, domain: str, webhook_secret: str, webhook_url: str, currency: str = "USD"
    ) -> None:
        """Create the shop, or update its webhook URL, secret and currency if it exists."""
        if not domain or not webhook_secret:
            raise MarketplaceError("invalid", "a shop needs a domain and a webhook secret")
        with self._transaction() as db:
            db.execute(
                """INSERT INTO shops (domain, webhook_secret, webhook_url, currency, created_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (domain) DO UPDATE SET webhook_secret = excluded.webhook_secret,
                       webhook_url = excluded.webhook_url, currency = excluded.currency""",
                (domain, webhook_secret, webhook_url, currency, iso(_now())),
            )

    def shop(self, domain: str) -> dict[str, Any]:
        """The shop's settings: domain, webhook_secret, webhook_url, currency."""
        with self._transaction(write=False) as db:
            return _shop_row(db, domain)

    # orders -----------------------------------------------------------------------------

    def load_demo_orders(
        self, domain: str, count: int, seed: int = 0, *, today: date
    ) -> list[dict[str, Any]]:
        """The first ``count`` demo orders of ``seed``, stored if not stored already.

        Loading again with the same seed adds nothing that is there: the stored orders are
        returned as they are, so a second load neither duplicates nor renumbers them.
        """
        if count < 0:
            raise MarketplaceError("invalid", f"count must not be negative, not {count}")
        orders = []
        with self._transaction() as db:
            _shop_row(db, domain)
            for index in range(count):
                key = f"{seed}:{index}"
                row = db.execute(
                    "SELECT payload FROM orders WHERE domain = ? AND demo_key = ?", (domain, key)
                ).fetchone()
                if row is not None:
                    orders.append(json.loads(row["payload"]))
                    continue
                payload = demo_order(domain, seed, index, today)
                number = db.execute(
                    """UPDATE shops SET next_order_number = next_order_number + 1
                       WHERE domain = ? RETURNING next_order_number - 1""",
                    (domain,),
                ).fetchone()[0]
                numbered = {"id": payload["id"], "name": f"#{number}", "order_number": number}
                payload = numbered | payload
                db.execute(
                    """INSERT INTO orders (domain, id, demo_key, total, currency, updated_us,
                           payload)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (
                        domain,
                        payload["id"],
                        key,
                        payload["total_price"],
                        payload["currency"],
                        _micros(datetime.fromisoformat(payload["updated_at"])),
                        _dumps(payload),
                    ),
                )
                orders.append(payload)
        return orders

    def order(self, domain: str, order_id: int | str) -> dict[str, Any]:
        """The order's payload; ``MarketplaceError("not_found")`` if the shop has no such."""
        with self._transaction(write=False) as db:
            return json.loads(_order_row(db, domain, order_id)["payload"])

    def orders(self, domain: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """The shop's orders updated at or after ``since`` (all when None), oldest first."""
        return self._payloads_since("orders", domain, since)

    # returns ----------------------------------------------------------------------------

    def request_return(
        self,
        domain: str,
        order_id: int | str,
        lines: list[dict[str, Any]],
        requested_at: datetime,
    ) -> dict[str, Any]:
        """A buyer asks to return ``lines`` of an order; the new return's payload.

        Each line is ``{line_item_id, quantity, reason, condition, note}``. A line must name a
        line item of the order, and no more of it than was ordered less what other live
        returns already hold; ``MarketplaceError`` (a ``ValueError``) names what is wrong.
        """
        if requested_at.tzinfo is None:
            raise MarketplaceError("invalid", "requested_at must be timezone-aware")
        if not lines:
            raise MarketplaceError("invalid", "a return needs at least one line")
        with self._transaction() as db:
            order = json.loads(_order_row(db, domain, order_id)["payload"])
            ordered = {str(item["id"]): item for item in order["line_items"]}
            held = _quantities_held(db, domain, order["id"])
            asked: dict[str, int] = {}
            items = []
            for position, line in enumerate(lines):
                where = f"lines[{position}]"
                line_item_id = str(line.get("line_item_id", ""))
                item = ordered.get(line_item_id)
                if item is None:
                    raise MarketplaceError(
                        "invalid",
                        f"{where}.line_item_id: order {order['name']} has no line item "
                        f"{line_item_id!r}",
                    )
                quantity = line.get("quantity")
                if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                    raise MarketplaceError(
                        "invalid", f"{where}.quantity: must be a whole number of at least 1"
                    )
                asked[line_item_id] = asked.get(line_item_id, 0) + quantity
                left = item["quantity"] - held.get(line_item_id, 0)
                if asked[line_item_id] > left:
                    raise MarketplaceError(
                        "invalid",
                        f"{where}.quantity: {asked[line_item_id]} of line item {line_item_id} "
                        f"({item['sku']}) asked for, but only {left} of {item['quantity']} "
                        "ordered is left to return",
                    )
                reason = str(line.get("reason") or "unknown")
                if reason not in RETURN_REASONS:
                    raise MarketplaceError(
                        "invalid",
                        f"{where}.reason: {reason!r} is not one of "
                        f"{', '.join(sorted(RETURN_REASONS))}",
                    )
                condition = str(line.get("condition") or "unused")
                if condition not in CONDITIONS:
                    raise MarketplaceError(
                        "invalid",
                        f"{where}.condition: {condition!r} is not one of "
                        f"{', '.join(sorted(CONDITIONS))}",
                    )
                items.append((item, quantity, reason, condition, str(line.get("note") or "")))

            return_id = _next(db, "return", 7_000_000_001)
            count = db.execute(
                "SELECT COUNT(*) FROM returns WHERE domain = ? AND order_id = ?",
                (domain, order["id"]),
            ).fetchone()[0]
            return_line_items = []
            for item, quantity, reason, condition, note in items:
                line_id = _next(db, "return_line_item", 8_000_000_001)
                fulfillment_line_id = derived_id(domain, "fulfillment_line_item", item["id"])
                return_line_items.append(
                    {
                        "id": line_id,
                        "admin_graphql_api_id": f"gid://sandbox/ReturnLineItem/{line_id}",
                        "fulfillment_line_item": {
                            "id": fulfillment_line_id,
                            "admin_graphql_api_id": (
                                f"gid://sandbox/FulfillmentLineItem/{fulfillment_line_id}"
                            ),
                            "line_item": {
                                "id": item["id"],
                                "admin_graphql_api_id": f"gid://sandbox/LineItem/{item['id']}",
                            },
                        },
                        "quantity": quantity,
                        "return_reason": reason,
                        "return_reason_note": "",
                        "condition": condition,
                        "customer_note": note,
                    }
                )
            payload = {
                "id": return_id,
                "admin_graphql_api_id": f"gid://sandbox/Return/{return_id}",
                "name": f"{order['name']}-R{count + 1}",
                "status": "requested",
                "order": {
                    "id": order["id"],
                    "admin_graphql_api_id": f"gid://sandbox/Order/{order['id']}",
                },
                "total_return_line_items": len(return_line_items),
                "return_line_items": return_line_items,
                "exchange_line_items": [],
                "total_exchange_line_items": 0,
                "requested_at": iso(requested_at),
                "updated_at": iso(requested_at),
                "currency": order["currency"],
                "refunded_amount": format_amount(Decimal(0), order["currency"]),
                "decline": None,
                "reverse_deliveries": [],
            }
            db.execute(
                """INSERT INTO returns (id, domain, order_id, status, updated_us, payload)
                   VALUES (?, ?, ?, 'requested', ?, ?)""",
                (return_id, domain, order["id"], _micros(requested_at), _dumps(payload)),
            )
        return payload

    def cancel_return(self, domain: str, return_id: int | str, at: datetime) -> dict[str, Any]:
        """The buyer withdraws a requested or open return; the ``returns/cancel`` payload."""
        with self._transaction() as db:
            row = _return_row(db, domain, return_id)
            payload = json.loads(row["payload"])
            if payload["status"] not in ("requested", "open"):
                raise MarketplaceError(
                    "invalid_state", f"return {payload['name']} is {payload['status']}"
                )
            payload["status"] = "canceled"
            payload["updated_at"] = iso(at)
            _save_return(db, payload, _micros(at))
        return {
            "id": payload["id"],
            "admin_graphql_api_id": payload["admin_graphql_api_id"],
            "order_id": payload["order"]["id"],
            "status": "canceled",
        }

    def return_request(self, domain: str, return_id: int | str) -> dict[str, Any]:
        """The return's payload as it stands; ``MarketplaceError("not_found")`` if none."""
        with self._transaction(write=False) as db:
            return json.loads(_return_row(db, domain, return_id)["payload"])

    def returns(self, domain: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """The shop's returns requested or changed at or after ``since``, oldest change first."""
        return self._payloads_since("returns", domain, since)

    def _payloads_since(
        self, table: str, domain: str, since: datetime | None
    ) -> list[dict[str, Any]]:
        assert table in ("orders", "returns")  # a name from this module, never from input
        with self._transaction(write=False) as db:
            _shop_row(db, domain)
            rows = db.execute(
                f"""SELECT payload FROM {table} WHERE domain = ? AND updated_us >= ?
                    ORDER BY updated_us, id""",
                (domain, _since(since)),
            ).fetchall()
        return [json.loads(row["payload"]) for row in rows]

    # pushes -----------------------------------------------------------------------------

    def record_push(
        self, domain: str, kind: str, idempotency_key: str, payload: dict[str, Any]
    ) -> tuple[str, bool]:
        """Apply a push from Helloword once: ``(push id, repeated)``.

        A key seen before for this shop stores and changes nothing and gives the first push's
        id with ``repeated`` True; the same key for a different kind is refused
        (``key_reused``), as it means two actions were given one key.
        """
        if kind not in PUSH_KINDS:
            raise MarketplaceError("invalid", f"unknown push kind {kind!r}")
        if not idempotency_key:
            raise MarketplaceError("invalid", "a push needs an idempotency key")
        with self._transaction() as db:
            _shop_row(db, domain)
            first = db.execute(
                "SELECT id, kind FROM pushes WHERE domain = ? AND idempotency_key = ?",
                (domain, idempotency_key),
            ).fetchone()
            if first is not None:
                if first["kind"] != kind:
                    raise MarketplaceError(
                        "key_reused",
                        f"idempotency key {idempotency_key!r} was used for a {first['kind']} "
                        f"push, not {kind}",
                    )
                return str(first["id"]), True
            now = _now()
            if kind == "restock":
                _restock(db, domain, payload)
            elif kind == "refund" and not payload.get("return_id"):
                # a refund for a return made outside the platform: on the order alone,
                # as Shopify's refundCreate does
                _refund_order(db, domain, payload)
            elif kind == "exchange" and not payload.get("return_id"):
                _check_exchange(db, domain, payload)  # likewise on the order alone
            else:
                _apply_to_return(db, domain, kind, payload, now)
            push_id = db.execute(
                """INSERT INTO pushes (domain, kind, idempotency_key, payload, created_at)
                   VALUES (?, ?, ?, ?, ?) RETURNING id""",
                (domain, kind, idempotency_key, _dumps(payload), iso(now)),
            ).fetchone()[0]
        return str(push_id), False

    def pushes(self, domain: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The pushes the shop received, oldest first, optionally of one kind."""
        query = "SELECT * FROM pushes WHERE domain = ?"
        params: tuple[str, ...] = (domain,)
        if kind is not None:
            query += " AND kind = ?"
            params += (kind,)
        with self._transaction(write=False) as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        return [
            {
                "id": str(row["id"]),
                "kind": row["kind"],
                "idempotency_key": row["idempotency_key"],
                "payload": json.loads(row["payload"]),
                "created_at": row["created_at"],
            }
            for row in rows
        ]

    def refunded(self, domain: str, order_id: int | str) -> Decimal:
        """The total refunded on the order so far, in the order's currency."""
        with self._transaction(write=False) as db:
            return Decimal(_order_row(db, domain, order_id)["refunded"])

    def inventory(self, domain: str, sku: str) -> int:
        """Units of ``sku`` put back on sale through restock pushes."""
        with self._transaction(write=False) as db:
            row = db.execute(
                "SELECT available FROM inventory WHERE domain = ? AND sku = ?", (domain, sku)
            ).fetchone()
        return int(row["available"]) if row else 0

    # connections ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None hands transactions to us: BEGIN IMMEDIATE takes the write lock
        # up front, so two processes never both read-then-write and deadlock on the upgrade.
        connection = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        connection = self._open()
        try:
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()


# --- inside a transaction --------------------------------------------------------------


def _shop_row(db: sqlite3.Connection, domain: str) -> dict[str, Any]:
    row = db.execute(
        "SELECT domain, webhook_secret, webhook_url, currency FROM shops WHERE domain = ?",
        (domain,),
    ).fetchone()
    if row is None:
        raise MarketplaceError("not_found", f"no sandbox shop {domain!r}")
    return dict(row)


def _order_row(db: sqlite3.Connection, domain: str, order_id: int | str) -> sqlite3.Row:
    _shop_row(db, domain)
    row = db.execute(
        "SELECT * FROM orders WHERE domain = ? AND id = ?", (domain, _numeric(order_id))
    ).fetchone()
    if row is None:
        raise MarketplaceError("not_found", f"shop {domain} has no order {order_id!r}")
    return row


def _return_row(db: sqlite3.Connection, domain: str, return_id: int | str) -> sqlite3.Row:
    _shop_row(db, domain)
    row = db.execute(
        "SELECT * FROM returns WHERE domain = ? AND id = ?", (domain, _numeric(return_id))
    ).fetchone()
    if row is None:
        raise MarketplaceError("not_found", f"shop {domain} has no return {return_id!r}")
    return row


def _save_return(db: sqlite3.Connection, payload: dict[str, Any], updated_us: int) -> None:
    db.execute(
        "UPDATE returns SET status = ?, refunded = ?, updated_us = ?, payload = ? WHERE id = ?",
        (
            payload["status"],
            payload["refunded_amount"],
            updated_us,
            _dumps(payload),
            payload["id"],
        ),
    )


def _quantities_held(db: sqlite3.Connection, domain: str, order_id: int) -> dict[str, int]:
    """Per order line item, the quantity live returns of the order already hold."""
    held: dict[str, int] = {}
    rows = db.execute(
        f"""SELECT payload FROM returns WHERE domain = ? AND order_id = ?
            AND status NOT IN ({", ".join("?" for _ in _RELEASED)})""",
        (domain, order_id, *_RELEASED),
    ).fetchall()
    for row in rows:
        for line in json.loads(row["payload"])["return_line_items"]:
            key = str(line["fulfillment_line_item"]["line_item"]["id"])
            held[key] = held.get(key, 0) + line["quantity"]
    return held


def _next(db: sqlite3.Connection, name: str, start: int) -> int:
    return int(
        db.execute(
            """INSERT INTO sequences (name, value) VALUES (?, ?)
               ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value""",
            (name, start),
        ).fetchone()[0]
    )


def _restock(db: sqlite3.Connection, domain: str, payload: dict[str, Any]) -> None:
    sku = str(payload.get("sku") or "")
    quantity = payload.get("quantity")
    if not sku:
        raise MarketplaceError("invalid", "restock: sku is required")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise MarketplaceError("invalid", "restock: quantity must be a whole number of at least 1")
    db.execute(
        """INSERT INTO inventory (domain, sku, available) VALUES (?, ?, ?)
           ON CONFLICT (domain, sku) DO UPDATE SET available = available + excluded.available""",
        (domain, sku, quantity),
    )


def _apply_to_return(
    db: sqlite3.Connection, domain: str, kind: str, push: dict[str, Any], now: datetime
) -> None:
    """Move the return as the platform would for this push, or refuse as it would."""
    row = _return_row(db, domain, push.get("return_id", ""))
    payload = json.loads(row["payload"])
    status = payload["status"]
    name = payload["name"]
    if status not in _NEEDS[kind]:
        if _MOVES_TO.get(kind) == status:
            raise MarketplaceError("already_in_state", f"return {name} is already {status}")
        if status == "canceled":
            raise MarketplaceError("return_canceled", f"return {name} was canceled by the buyer")
        if status == "requested" and "open" in _NEEDS[kind]:
            raise MarketplaceError(
                "not_yet", f"cannot {kind} return {name}: it is still requested, not approved"
            )
        raise MarketplaceError("invalid_state", f"cannot {kind} return {name}: it is {status}")

    if kind == "decline":
        reason = str(push.get("reason", ""))
        if reason not in DECLINE_REASONS:
            raise MarketplaceError(
                "invalid",
                f"decline reason {reason!r} is not one of {', '.join(sorted(DECLINE_REASONS))}",
            )
        payload["decline"] = {"reason": reason, "note": str(push.get("note", ""))}
    elif kind == "attach_label":
        for field in ("tracking_number", "carrier", "label_url"):
            if not push.get(field):
                raise MarketplaceError("invalid", f"attach_label: {field} is required")
        payload["reverse_deliveries"].append(
            {
                "tracking": {
                    "carrier_name": push["carrier"],
                    "tracking_number": push["tracking_number"],
                },
                "label": {"public_file_url": push["label_url"]},
            }
        )
    elif kind == "dispose":
        _check_dispositions(payload, push.get("dispositions"))
    elif kind == "refund":
        payload["refunded_amount"] = _refund(db, domain, payload, push)
    elif kind == "exchange":
        if str(push.get("order_id", "")) != str(payload["order"]["id"]):
            raise MarketplaceError(
                "invalid", f"exchange: return {payload['name']} belongs to another order"
            )
        _check_exchange(db, domain, push)

    payload["status"] = _MOVES_TO.get(kind, status)
    payload["updated_at"] = iso(now)
    _save_return(db, payload, _micros(now))


def _check_dispositions(payload: dict[str, Any], dispositions: Any) -> None:
    if not isinstance(dispositions, list) or not dispositions:
        raise MarketplaceError("invalid", "dispose: dispositions must be a non-empty list")
    lines = {}
    for line in payload["return_line_items"]:
        lines[str(line["id"])] = line
        lines[str(line["fulfillment_line_item"]["line_item"]["id"])] = line
    for position, disposition in enumerate(dispositions):
        where = f"dispose: dispositions[{position}]"
        line = lines.get(str(disposition.get("line_item_id", "")))
        if line is None:
            raise MarketplaceError(
                "invalid", f"{where}.line_item_id: not a line of return {payload['name']}"
            )
        quantity = disposition.get("quantity")
        if not isinstance(quantity, int) or not 1 <= quantity <= line["quantity"]:
            raise MarketplaceError(
                "invalid", f"{where}.quantity: must be between 1 and {line['quantity']}"
            )
        if disposition.get("type") not in DISPOSITION_TYPES:
            raise MarketplaceError(
                "invalid",
                f"{where}.type: must be one of {', '.join(sorted(DISPOSITION_TYPES))}",
            )


def _refund(
    db: sqlite3.Connection, domain: str, payload: dict[str, Any], push: dict[str, Any]
) -> str:
    """Add the refund to the order and the return; the return's new refunded amount."""
    if str(push.get("order_id", "")) != str(payload["order"]["id"]):
        raise MarketplaceError(
            "invalid",
            f"refund: return {payload['name']} belongs to order {payload['order']['id']}, "
            f"not {push.get('order_id')!r}",
        )
    amount, currency = _refund_order(db, domain, push)
    return format_amount(Decimal(payload["refunded_amount"]) + amount, currency)


def _check_exchange(db: sqlite3.Connection, domain: str, push: dict[str, Any]) -> None:
    """An exchange sends other sizes of the order's lines, as many as were bought at most,
    at no charge: the push itself is the store's record of the parcel to send."""
    order = _order_row(db, domain, push.get("order_id", ""))
    items = {str(item["id"]): item for item in json.loads(order["payload"])["line_items"]}
    lines = push.get("lines")
    if not isinstance(lines, list) or not lines:
        raise MarketplaceError("invalid", "exchange: lines must be a non-empty list")
    for position, line in enumerate(lines):
        where = f"exchange: lines[{position}]"
        item = items.get(str(line.get("line_item_id", "")))
        if item is None:
            raise MarketplaceError("invalid", f"{where}.line_item_id: not a line of the order")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or not 1 <= quantity <= item["quantity"]:
            raise MarketplaceError(
                "invalid", f"{where}.quantity: must be between 1 and {item['quantity']}"
            )
        sku = str(line.get("sku", ""))
        if sku == item["sku"] or sku not in sizes_of(item["sku"]):
            raise MarketplaceError(
                "invalid", f"{where}.sku: {sku!r} is not another size of {item['sku']}"
            )


def _refund_order(db: sqlite3.Connection, domain: str, push: dict[str, Any]) -> tuple[Decimal, str]:
    """Add the refund to the order's refunded total: the amount and the order's currency. A
    refund as store credit (``store_credit``) is checked the same way but pays nothing back,
    so the order's refunded total and its cap do not apply."""
    order = _order_row(db, domain, push.get("order_id", ""))
    if push.get("currency") != order["currency"]:
        raise MarketplaceError(
            "invalid",
            f"refund: currency {push.get('currency')!r} is not the order's {order['currency']}",
        )
    try:
        amount = Decimal(str(push.get("amount")))
    except InvalidOperation:
        raise MarketplaceError(
            "invalid", f"refund: not an amount: {push.get('amount')!r}"
        ) from None
    currency = order["currency"]
    if not amount.is_finite() or amount <= 0:
        raise MarketplaceError("invalid", f"refund: amount must be positive, not {amount}")
    if amount != amount.quantize(Decimal(1).scaleb(-exponent(currency))):
        raise MarketplaceError(
            "invalid", f"refund: {amount} has more decimals than {currency} allows"
        )
    line_ids = {str(item["id"]) for item in json.loads(order["payload"])["line_items"]}
    for line in push.get("lines") or []:
        if str(line.get("line_item_id", "")) not in line_ids:
            raise MarketplaceError(
                "invalid",
                f"refund: order {order['id']} has no line item {line.get('line_item_id')!r}",
            )
    if push.get("store_credit"):  # credit to spend in the store: no payment is refunded
        return amount, currency
    total = Decimal(order["total"])
    refunded = Decimal(order["refunded"]) + amount
    if refunded > total:
        raise MarketplaceError(
            "over_refund",
            f"refund of {amount} {order['currency']} would bring order {order['id']}'s refunds "
            f"to {refunded}, above its total of {total}",
        )
    db.execute(
        "UPDATE orders SET refunded = ? WHERE domain = ? AND id = ?",
        (format_amount(refunded, currency), domain, order["id"]),
    )
    return amount, currency


# --- values ----------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _micros(moment: datetime) -> int:
    # Integer microseconds since the epoch compare exactly, whatever offset a time came with.
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _since(since: datetime | None) -> int:
    if since is None:
        return -(2**62)
    if since.tzinfo is None:
        raise MarketplaceError("invalid", "since must be timezone-aware")
    return _micros(since)


def _numeric(external_id: int | str) -> int:
    try:
        return int(external_id)
    except (TypeError, ValueError):
        return -1  # matches nothing: the store's ids are all positive integers


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
