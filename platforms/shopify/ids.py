"""Shopify's global ids (``gid://shopify/Order/450789469``) and the numeric ids beside them.

The GraphQL Admin API speaks only in global ids, while webhook payloads and people quote the
numeric (REST) id. Helloword keeps the global id as every Shopify ``external_id`` — it names the
kind of object as well as the object — and accepts a numeric id wherever the kind is known.
"""

from __future__ import annotations

PREFIX = "gid://shopify/"


def gid(kind: str, value: object) -> str:
    """The global id of a ``kind`` object (``"Order"``, ``"Return"`` …) from either form.

    Raises ``ValueError`` for anything that is neither a numeric id nor a global id of ``kind``.
    """
    text = str(value).strip()
    if text.isdigit():
        return f"{PREFIX}{kind}/{text}"
    if kind_of(text) == kind and text.rsplit("/", 1)[-1].split("?", 1)[0]:
        return text
    raise ValueError(f"{value!r} is not the id of a Shopify {kind}")


def kind_of(value: str) -> str:
    """The kind a global id names (``"Order"`` for ``gid://shopify/Order/1``), or ""."""
    if not value.startswith(PREFIX):
        return ""
    parts = value[len(PREFIX) :].split("/")
    return parts[0] if len(parts) == 2 else ""


def numeric(value: str) -> str:
    """The numeric id inside a global id (``"1"`` for ``gid://shopify/Order/1?x=y``)."""
    return value.rsplit("/", 1)[-1].split("?", 1)[0]
