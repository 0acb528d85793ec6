"""Data protection: what Helloword holds on a customer, given to the merchant on request, and
personal data erased when a platform asks (a customer's, or a whole shop's after uninstall).

Erasure anonymises rather than deletes, so the merchant's aggregates survive: orders, returns,
refunds, amounts, reasons, statuses and dates stay; names, emails, street addresses, notes,
the platforms' raw payloads, the buyer's photos and the label and customs files (which print
the buyer's address) go. A buyer's address keeps only its country, which the reports group
by. The ledger records identifiers, amounts and statuses, never personal data, so its hash
chain stays intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from ..crypto import Vault
from ..db import models
from ..db.types import utcnow
from ..files import FileStore

REDACTED = "redacted"


def export_customer(
    session: Session,
    files: FileStore,
    store: models.Store,
    *,
    customer_external_id: str,
    email: str,
    order_external_ids: Sequence[str],
    reference: str = "",
) -> models.PrivacyRequest:
    """Write what Helloword holds on the customer (their orders, returns, shipments and
    refunds in this store) to a JSON file the merchant can download, and record the request."""
    customers = _customers(session, store, customer_external_id, email)
    orders = _orders(session, store, customers, order_external_ids)
    document = {
        "store": store.external_id,
        "requested": {"customer": customer_external_id, "email": email, "reference": reference},
        "generated_at": utcnow().isoformat(),
        "customers": [
            {"external_id": c.external_id, "email": c.email, "name": c.name, "locale": c.locale}
            for c in customers
        ],
        "orders": [_order_export(session, order) for order in orders],
    }
    request = _request(session, store, "data_request", reference, customer_external_id, email)
    request.export_path = files.write(
        f"privacy/{store.id}/data-request-{request.id}.json",
        json.dumps(document, indent=2, default=str).encode(),
    )
    request.summary = {"customers": len(customers), "orders": len(orders)}
    return request


def redact_customer(
    session: Session,
    files: FileStore,
    store: models.Store,
    *,
    customer_external_id: str,
    email: str,
    order_external_ids: Sequence[str],
    reference: str = "",
) -> models.PrivacyRequest:
    """Erase the customer's personal data from this store's records."""
    customers = _customers(session, store, customer_external_id, email)
    orders = _orders(session, store, customers, order_external_ids)
    summary = _anonymise(session, files, store, customers, orders)
    summary["inbound_events"] = _forget_deliveries(
        session, store, [customer_external_id, email, *order_external_ids]
    )
    request = _request(session, store, "customer_redact", reference, "", "")
    request.summary = summary
    return request


def redact_shop(
    session: Session, files: FileStore, vault: Vault, store: models.Store, reference: str = ""
) -> models.PrivacyRequest:
    """Erase every customer's personal data from the store's records, and its credentials."""
    customers = list(
        session.scalars(select(models.Customer).where(models.Customer.store_id == store.id))
    )
    orders = list(session.scalars(select(models.Order).where(models.Order.store_id == store.id)))
    summary = _anonymise(session, files, store, customers, orders)
    deliveries = session.scalars(
        select(models.InboundEvent).where(models.InboundEvent.store_id == store.id)
    ).all()
    for delivery in deliveries:
        delivery.body, delivery.headers = "{}", {}
    summary["inbound_events"] = len(deliveries)
    exports = session.scalars(
        select(models.PrivacyRequest).where(
            models.PrivacyRequest.store_id == store.id, models.PrivacyRequest.export_path != ""
        )
    ).all()
    for export in exports:  # earlier data exports hold the same personal data
        files.delete(export.export_path)
        export.export_path, export.subject = "", {}
    uninstall(session, vault, store)
    request = _request(session, store, "shop_redact", reference, "", "")
    request.summary = summary
    return request


def uninstall(session: Session, vault: Vault, store: models.Store) -> None:
    """The app was removed from the store: its access tokens are deleted and the store is
    marked uninstalled until it is linked again. The webhook secrets stay, so the platform's
    later data-protection deliveries can still be verified."""
    secrets = vault.open(store.credentials) if store.credentials else {}
    store.credentials = vault.seal(
        {key: value for key, value in secrets.items() if key.endswith("webhook_secret")}
    )
    store.status = "uninstalled"
    session.flush()


# --- the pieces ----------------------------------------------------------------------------


def _customers(
    session: Session, store: models.Store, external_id: str, email: str
) -> list[models.Customer]:
    keys = [k for k in (external_id, f"email:{email}" if email else "") if k]
    clauses: list[ColumnElement[bool]] = [models.Customer.external_id.in_(keys)] if keys else []
    if email:
        clauses.append(models.Customer.email == email)
    if not clauses:
        return []
    return list(
        session.scalars(
            select(models.Customer).where(models.Customer.store_id == store.id, or_(*clauses))
        )
    )


def _orders(
    session: Session,
    store: models.Store,
    customers: Iterable[models.Customer],
    external_ids: Sequence[str],
) -> list[models.Order]:
    ids = [c.id for c in customers]
    clauses: list[ColumnElement[bool]] = []
    if ids:
        clauses.append(models.Order.customer_id.in_(ids))
    if external_ids:
        clauses.append(models.Order.external_id.in_(list(external_ids)))
    if not clauses:
        return []
    return list(
        session.scalars(
            select(models.Order)
            .where(models.Order.store_id == store.id, or_(*clauses))
            .order_by(models.Order.id)
        )
    )


def _returns(session: Session, orders: Iterable[models.Order]) -> list[models.Return]:
    ids = [o.id for o in orders]
    if not ids:
        return []
    return list(session.scalars(select(models.Return).where(models.Return.order_id.in_(ids))))


def _anonymise(
    session: Session,
    files: FileStore,
    store: models.Store,
    customers: Sequence[models.Customer],
    orders: Sequence[models.Order],
) -> dict[str, Any]:
    for customer in customers:
        customer.email, customer.name = "", ""
        customer.external_id = f"{REDACTED}:{customer.id}"
    for order in orders:
        order.shipping_address = _country_only(order.shipping_address)
        order.raw = {}
    returns = _returns(session, orders)
    removed_files = 0
    for return_ in returns:
        return_.buyer_address = _country_only(return_.buyer_address)
        return_.note = ""
        for line in return_.lines:
            line.note = ""
        labels = session.scalars(
            select(models.LabelFile)
            .join(models.Shipment, models.LabelFile.shipment_id == models.Shipment.id)
            .where(models.Shipment.return_id == return_.id)
        ).all()
        for label in labels:  # labels and customs invoices print the buyer's address
            files.delete(label.path)
            session.delete(label)
            removed_files += 1
        for photo in session.scalars(
            select(models.ReturnPhoto).where(models.ReturnPhoto.return_id == return_.id)
        ):
            files.delete(photo.path)
            session.delete(photo)
            removed_files += 1
    session.flush()
    return {
        "customers": len(customers),
        "orders": len(orders),
        "returns": len(returns),
        "files": removed_files,
    }


def _forget_deliveries(session: Session, store: models.Store, needles: Sequence[str]) -> int:
    """Empty the stored platform deliveries that mention the customer or their orders."""
    needles = [n for n in needles if n]
    if not needles:
        return 0
    deliveries = session.scalars(
        select(models.InboundEvent).where(
            models.InboundEvent.store_id == store.id,
            or_(*(models.InboundEvent.body.contains(n) for n in needles)),
        )
    ).all()
    for delivery in deliveries:
        delivery.body, delivery.headers = "{}", {}
    return len(deliveries)


def _country_only(address: dict[str, Any] | None) -> dict[str, Any]:
    country = (address or {}).get("country", "")
    return {"country": country} if country else {}


def _order_export(session: Session, order: models.Order) -> dict[str, Any]:
    returns = _returns(session, [order])
    return {
        "number": order.number,
        "external_id": order.external_id,
        "placed_at": order.placed_at,
        "currency": order.currency,
        "total_minor": order.total_minor,
        "shipping_address": order.shipping_address,
        "lines": [
            {"sku": line.sku, "title": line.title, "quantity": line.quantity}
            for line in order.lines
        ],
        "returns": [
            {
                "rma": r.rma,
                "status": r.status,
                "requested_at": r.requested_at,
                "buyer_address": r.buyer_address,
                "note": r.note,
                "lines": [
                    {"reason": line.reason, "condition": line.condition, "note": line.note}
                    for line in r.lines
                ],
                "shipments": [
                    {"carrier": s.carrier, "tracking_number": s.tracking_number, "status": s.status}
                    for s in session.scalars(
                        select(models.Shipment).where(models.Shipment.return_id == r.id)
                    )
                ],
                "refunds": [
                    {"amount_minor": f.amount_minor, "currency": f.currency, "status": f.status}
                    for f in session.scalars(
                        select(models.Refund).where(models.Refund.return_id == r.id)
                    )
                ],
                "photos": [
                    {
                        "file": p.path,
                        "content_type": p.content_type,
                        "width": p.width,
                        "height": p.height,
                        "uploaded_at": p.created_at,
                    }
                    for p in session.scalars(
                        select(models.ReturnPhoto).where(models.ReturnPhoto.return_id == r.id)
                    )
                ],
            }
            for r in returns
        ],
    }


def _request(
    session: Session, store: models.Store, kind: str, reference: str, customer: str, email: str
) -> models.PrivacyRequest:
    subject = {k: v for k, v in (("customer", customer), ("email", email)) if v}
    request = models.PrivacyRequest(
        merchant_id=store.merchant_id,
        store_id=store.id,
        kind=kind,
        reference=reference,
        subject=subject,
    )
    session.add(request)
    session.flush()
    return request
