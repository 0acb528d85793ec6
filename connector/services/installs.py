"""Installs: a store linked once its platform has granted Helloword access, its credentials
kept fresh, and the first import of its orders.

An install (Shopify's OAuth callback, a token exchange in the embedded admin, or a custom app's
token given to the CLI) links the store to a merchant — the store's own if it was linked before,
the one named, or a new merchant named after the shop — with its credentials sealed by the
vault, and asks for two jobs: subscribing the store to webhooks and importing its recent orders.

Expiring access tokens (``expires_at`` with a ``refresh_token`` in the credentials) are
refreshed by ``fresh_credentials`` shortly before they expire, under the store's row lock, so
two workers never spend the same refresh token. What the jobs achieve is kept in the store's
settings for the API and the admin: ``settings["backfill"]`` and ``settings["webhooks"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..crypto import Vault
from ..db import models
from ..db.types import utcnow
from ..domain import Order
from ..domain.money import CURRENCIES
from ..errors import NotFound, NothingToDo, PermanentError, ValidationError
from . import intake, merchants
from .common import FollowUp

BACKFILL_DAYS = 90
REFRESH_MARGIN = timedelta(minutes=5)  # refresh an expiring token this long before it expires
# The credential keys a token grant sets; a new grant replaces all of them.
GRANT_KEYS = ("access_token", "scope", "expires_at", "refresh_token", "refresh_token_expires_at")


class Grant(Protocol):
    def secrets(self) -> dict[str, str]: ...


class TokenRefresher(Protocol):
    """A platform's client that trades a refresh token for new credentials."""

    def refresh(self, shop: str, refresh_token: str) -> Grant: ...


@dataclass(frozen=True)
class Installed:
    """A store linked by an install, and the jobs that must follow once it is committed."""

    store_id: int
    merchant_id: int
    merchant_name: str
    follow_ups: list[FollowUp] = field(default_factory=list)


def check_link(session: Session, platform: str, external_id: str, merchant_name: str) -> None:
    """Raise what linking the store to the named merchant would raise, before anything is asked
    of the platform: the merchant must exist, and the store must not belong to another one."""
    store = _store(session, platform, external_id)
    merchant = merchants.merchant_by_name(session, merchant_name)
    if store is not None and store.merchant_id != merchant.id:
        raise ValidationError("shop", f"{external_id} is linked to another merchant")


def install_store(
    session: Session,
    vault: Vault,
    platform: str,
    external_id: str,
    secrets: Mapping[str, str],
    *,
    settings: Mapping[str, Any] | None = None,
    name: str = "",
    currency: str = "",
    merchant_name: str | None = None,
    register_webhooks: bool = True,
    backfill_days: int = BACKFILL_DAYS,
) -> Installed:
    """Link (or re-link) a store with new credentials, and queue what an install does next.

    The merchant is the store's own when it was linked before, else ``merchant_name`` (which
    must exist), else the merchant named after the shop, made in ``currency`` (USD when the
    shop's is unknown) if there is none. Settings the store had (a restock location, say) are
    kept under the ones given; credentials are replaced.
    """
    if backfill_days < 1:
        raise ValidationError("days", "the backfill covers at least one day")
    store = _store(session, platform, external_id)
    if merchant_name is not None:
        merchant = merchants.merchant_by_name(session, merchant_name)
    elif store is not None:
        merchant = session.get_one(models.Merchant, store.merchant_id)
    else:
        merchant = _merchant_for_shop(session, external_id, currency)
    now = utcnow()
    merged = {**(store.settings if store is not None else {}), **dict(settings or {})}
    merged["backfill"] = {"status": "queued", "orders": 0, "days": backfill_days}
    if register_webhooks:
        merged["webhooks"] = {"status": "queued"}
    linked = merchants.link_store(
        session,
        vault,
        merchant,
        platform,
        external_id,
        name=name or (store.name if store is not None else ""),
        secrets=dict(secrets),
        settings=merged,
    )
    stamp = int(now.timestamp())
    follow_ups = []
    if register_webhooks:
        follow_ups.append(
            FollowUp("register_webhooks", (linked.id,), f"register_webhooks:{linked.id}:{stamp}")
        )
    follow_ups.append(
        FollowUp(
            "backfill_orders", (linked.id, backfill_days), f"backfill_orders:{linked.id}:{stamp}"
        )
    )
    return Installed(linked.id, merchant.id, merchant.name, follow_ups)


def linked_store(
    session: Session, vault: Vault, platform: str, external_id: str
) -> models.Store | None:
    """The active store with an access token for this shop, or None: a store that must be
    (re)installed before Helloword can act for it."""
    store = _store(session, platform, external_id)
    if store is None or store.status != "active":
        return None
    return store if vault.open(store.credentials).get("access_token") else None


def token_refresher(settings: Settings, platform: str) -> TokenRefresher | None:
    """The client that refreshes a platform's expiring tokens, when this installation has one
    (for Shopify: the app's client id and secret are configured)."""
    if platform == "shopify" and settings.shopify.configured:
        from platforms.shopify.oauth import ShopifyApp

        return ShopifyApp(settings.shopify.api_key, settings.shopify.api_secret)
    return None


# --- credentials ------------------------------------------------------------------------


def expiring_soon(
    secrets: Mapping[str, Any], now: datetime, margin: timedelta = REFRESH_MARGIN
) -> bool:
    """Whether credentials hold an expiring token to refresh before use: one with a refresh
    token, expired or expiring within ``margin``."""
    if not secrets.get("refresh_token") or not secrets.get("expires_at"):
        return False
    try:
        expires_at = datetime.fromisoformat(str(secrets["expires_at"]))
    except ValueError:
        return True  # an expiry nobody can read: refreshing is the safe reading
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return expires_at - now <= margin


def fresh_credentials(
    session: Session,
    vault: Vault,
    store: models.Store,
    refresher: TokenRefresher | None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The store's credentials, with an expiring access token refreshed first when it expires
    within five minutes; the new pair is stored in ``session``'s transaction.

    The refresh happens under the store's row lock, after reading the credentials again: a
    worker that waited for the lock finds the pair another worker just stored and uses it.
    ``PermanentError`` when the token needs refreshing and nothing can (no app credentials,
    a refresh token Shopify no longer accepts: the merchant must open or install the app
    again); ``RetryableError`` when the platform does not answer.
    """
    moment = now or utcnow()
    secrets = vault.open(store.credentials)
    if not expiring_soon(secrets, moment):
        return secrets
    locked = session.scalars(
        select(models.Store)
        .where(models.Store.id == store.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    secrets = vault.open(locked.credentials)
    if not expiring_soon(secrets, moment):
        return secrets
    if refresher is None:
        raise PermanentError(
            f"the access token of {locked.platform} store {locked.external_id} expires at "
            f"{secrets.get('expires_at')} and this installation cannot refresh it "
            "(set the app's client id and secret)"
        )
    grant = refresher.refresh(locked.external_id, str(secrets["refresh_token"]))
    fresh = {k: v for k, v in secrets.items() if k not in GRANT_KEYS} | grant.secrets()
    locked.credentials = vault.seal(fresh)
    session.flush()
    return fresh


# --- what the install's jobs achieve --------------------------------------------------------


def backfill_started(session: Session, store_id: int, since: datetime, days: int) -> None:
    _set(
        session,
        store_id,
        "backfill",
        {
            "status": "running",
            "orders": 0,
            "days": days,
            "since": _iso(since),
            "started_at": _iso(utcnow()),
        },
    )


def import_orders(session: Session, store_id: int, orders: Iterable[Order]) -> int:
    """Upsert a batch of the backfill's orders and count them in its progress, together."""
    store = _locked(session, store_id)
    if store is None:
        raise NothingToDo(f"store {store_id} was removed during its backfill")
    imported = 0
    for order in orders:
        intake.upsert_order(session, store, order)
        imported += 1
    progress = dict(store.settings.get("backfill") or {})
    progress["orders"] = int(progress.get("orders", 0)) + imported
    store.settings = {**store.settings, "backfill": progress}
    return imported


def backfill_finished(session: Session, store_id: int) -> None:
    _update(
        session,
        store_id,
        "backfill",
        status="done",
        finished_at=_iso(utcnow()),
        error=None,
        retry_in=None,
    )


def backfill_failed(
    session: Session, store_id: int, error: str, retry_in: float | None = None
) -> None:
    """The backfill stopped: ``retrying`` after ``retry_in`` seconds, or ``failed`` for good."""
    if retry_in is None:
        _update(
            session, store_id, "backfill", status="failed", error=error, finished_at=_iso(utcnow())
        )
    else:
        _update(session, store_id, "backfill", status="retrying", error=error, retry_in=retry_in)


def webhooks_registered(session: Session, store_id: int, subscriptions: Mapping[str, str]) -> None:
    _set(
        session,
        store_id,
        "webhooks",
        {"status": "registered", "topics": sorted(subscriptions), "at": _iso(utcnow())},
    )


def webhooks_failed(
    session: Session, store_id: int, error: str, retry_in: float | None = None
) -> None:
    status = "failed" if retry_in is None else "retrying"
    _set(session, store_id, "webhooks", {"status": status, "error": error, "at": _iso(utcnow())})


# --- plumbing -----------------------------------------------------------------------------


def _store(session: Session, platform: str, external_id: str) -> models.Store | None:
    return session.scalar(
        select(models.Store).where(
            models.Store.platform == platform, models.Store.external_id == external_id
        )
    )


def _merchant_for_shop(session: Session, shop: str, currency: str) -> models.Merchant:
    try:
        return merchants.merchant_by_name(session, shop)
    except NotFound:
        return merchants.create_merchant(
            session, shop, currency if currency in CURRENCIES else "USD"
        )


def _locked(session: Session, store_id: int) -> models.Store | None:
    return session.scalars(
        select(models.Store)
        .where(models.Store.id == store_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _set(session: Session, store_id: int, key: str, value: dict[str, Any]) -> None:
    """Record what a job achieved in the store's settings (nothing, if the store is gone)."""
    store = _locked(session, store_id)
    if store is not None:
        store.settings = {**store.settings, key: value}


def _update(session: Session, store_id: int, key: str, **changes: Any) -> None:
    store = _locked(session, store_id)
    if store is None:
        return
    current = dict(store.settings.get(key) or {})
    merged = {k: v for k, v in {**current, **changes}.items() if v is not None}
    store.settings = {**store.settings, key: merged}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
