"""The people who sign in to a merchant's back office.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106); a hash
made with older parameters is replaced at the next sign-in. A sign-in for an unknown email
still spends the time of one verification, so response times do not tell which emails exist.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import models
from ..db.types import utcnow
from ..errors import ValidationError

_HASHER = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12
# verified against when the email is unknown, so that path costs the same
_DUMMY = _HASHER.hash("not a password anyone has")


def create_user(
    session: Session, merchant: models.Merchant, email: str, password: str, name: str = ""
) -> models.User:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValidationError("email", "expected an email address")
    if len(password) < MIN_PASSWORD:
        raise ValidationError("password", f"must be at least {MIN_PASSWORD} characters")
    if session.scalar(select(models.User.id).where(models.User.email == email)):
        raise ValidationError("email", f"{email} already has an account")
    user = models.User(
        merchant_id=merchant.id,
        email=email,
        name=name.strip(),
        password_hash=_HASHER.hash(password),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> models.User | None:
    """The user with this email and password, or None; the hash is upgraded when due."""
    user = session.scalar(
        select(models.User).where(models.User.email == email.strip().lower()).with_for_update()
    )
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_sign_in_at = utcnow()
    return user
