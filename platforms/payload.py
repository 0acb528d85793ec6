"""Reading a platform's JSON payloads, shared by the platforms' mappers: each helper names the
path of the field at fault in its ``ValueError`` (``line_items[1].created_at: missing``), which
the app reports back as the delivery's problem."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def where(path: str, key: str) -> str:
    """The dotted path of ``key`` under ``path``."""
    return f"{path}.{key}" if path else key


def mapping(value: object, path: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def required_time(data: Mapping[str, Any], key: str, path: str = "") -> datetime:
    """An ISO 8601 time with its UTC offset, in UTC."""
    moment = optional_time(data, key, path)
    if moment is None:
        raise ValueError(f"{where(path, key)}: missing")
    return moment


def optional_time(data: Mapping[str, Any], key: str, path: str = "") -> datetime | None:
    """An ISO 8601 time with its UTC offset, in UTC; None when absent or empty."""
    value = data.get(key)
    if value is None or value == "":
        return None
    at = where(path, key)
    if not isinstance(value, str):
        raise ValueError(f"{at}: expected an ISO 8601 time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{at}: not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{at}: time has no UTC offset: {value!r}")
    return moment.astimezone(UTC)
