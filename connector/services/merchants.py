"""Merchants, their API keys and their stores.

An API key is shown once, when it is made; only its SHA-256 digest is stored (keys carry 256
bits of randomness, so a fast digest is the right tool and lookups stay constant-time by index).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..crypto import Vault
from ..db import models
from ..db.types import utcnow
from ..domain.money import CURRENCIES
from ..errors import NotFound, ValidationError

KEY_PREFIX = "hw_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_merchant(session: Session, name: str, currency: str = "USD") -> models.Merchant:
    name = name.strip()
    if not name:
        raise ValidationError("name", "a merchant needs a name")
    if currency not in CURRENCIES:
        raise ValidationError("currency", f"{currency!r} is not an ISO-4217 currency")
    if session.scalar(select(models.Merchant).where(models.Merchant.name == name)):
        raise ValidationError("name", f"a merchant named {name!r} already exists")
    merchant = models.Merchant(name=name, currency=currency, slug=_free_slug(session, name))
    session.add(merchant)
    session.flush()
    return merchant


def slugify(name: str) -> str:
    """Lower-case letters and digits joined by dashes: "Sandbox Outfitters" → sandbox-outfitters."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "store"


def _free_slug(session: Session, name: str) -> str:
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(models.Merchant.id).where(models.Merchant.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    return slug


def merchant_by_slug(session: Session, slug: str) -> models.Merchant:
    merchant = session.scalar(select(models.Merchant).where(models.Merchant.slug == slug))
    if merchant is None:
        raise NotFound(f"no merchant at {slug!r}")
    return merchant


def merchant_by_name(session: Session, name: str) -> models.Merchant:
    merchant = session.scalar(select(models.Merchant).where(models.Merchant.name == name))
    if merchant is None:
        raise NotFound(f"no merchant named {name!r}")
    return merchant


def create_api_key(
    session: Session, merchant: models.Merchant, name: str = ""
) -> tuple[models.ApiKey, str]:
    """A new key for the merchant: the row, and the key itself (never stored)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = models.ApiKey(merchant_id=merchant.id, name=name, prefix=key[:10], key_hash=_digest(key))
    session.add(row)
    session.flush()
    return row, key


def authenticate(session: Session, key: str) -> tuple[models.Merchant, models.ApiKey] | None:
    """The merchant a live key belongs to, and the key's row; None for any other key.
    Reads only, so checking a key takes no write lock."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.scalar(
        select(models.ApiKey).where(
            models.ApiKey.key_hash == _digest(key), models.ApiKey.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    merchant = session.get(models.Merchant, row.merchant_id)
    return (merchant, row) if merchant is not None else None


TOUCH_EVERY = timedelta(minutes=1)


def touch_api_key(session: Session, key_id: int) -> None:
    """Note that a key was used; at most once a minute, so busy clients do not write on
    every request."""
    now = utcnow()
    session.execute(
        update(models.ApiKey)
        .where(
            models.ApiKey.id == key_id,
            (models.ApiKey.last_used_at.is_(None))
            | (models.ApiKey.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
    )


def revoke_api_key(session: Session, merchant: models.Merchant, key_id: int) -> models.ApiKey:
    row = session.get(models.ApiKey, key_id)
    if row is None or row.merchant_id != merchant.id:
        raise NotFound(f"API key {key_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def link_store(
    session: Session,
    vault: Vault,
    merchant: models.Merchant,
    platform: str,
    external_id: str,
    *,
    name: str = "",
    secrets: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> models.Store:
    """Link (or re-link) a merchant's store on a platform."""
    store = session.scalar(
        select(models.Store).where(
            models.Store.platform == platform, models.Store.external_id == external_id
        )
    )
    if store is not None and store.merchant_id != merchant.id:
        raise ValidationError("external_id", f"{external_id} is linked to another merchant")
    if store is None:
        store = models.Store(merchant_id=merchant.id, platform=platform, external_id=external_id)
        session.add(store)
    store.name = name or external_id
    store.credentials = vault.seal(secrets or {})
    store.settings = dict(settings or {})
    store.status = "active"
    session.flush()
    return store
