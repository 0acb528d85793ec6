"""The signed link to a return's status page: what the buyer's email carries, and all the
page asks for. It names the return and cannot be changed without breaking its signature; it
lasts as long as the return does."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "helloword.portal-status"


def status_token(secret_key: str, return_id: int) -> str:
    return URLSafeSerializer(secret_key, salt=SALT).dumps({"return": return_id})


def return_of(secret_key: str, token: str) -> int | None:
    """The return a token names; None for a forged or mangled one."""
    try:
        data = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except BadSignature:
        return None
    value = data.get("return") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None
