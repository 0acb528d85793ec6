"""Settings from the environment (12-factor), with embedded defaults that need nothing.

With no variables set, Helloword keeps everything in an instance folder: a SQLite database,
an embedded Redis on a unix socket, label files and the sandbox store. ``DATABASE_URL`` and
``REDIS_URL`` point it at PostgreSQL and Redis in production.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    redis_url: str  # "" means: start or reuse the embedded Redis in the instance folder
    secret_key: str
    encryption_keys: tuple[str, ...]
    public_url: str = "http://localhost:5000"
    queue_name: str = "helloword"
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def files_path(self) -> Path:
        return self.instance_path / "files"

    @property
    def embedded_redis_socket(self) -> Path:
        return self.instance_path / "redis.sock"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, instance_path: Path | None = None
    ) -> Settings:
        env = os.environ if env is None else env
        instance = Path(instance_path or env.get("HELLOWORD_INSTANCE", "instance")).absolute()
        instance.mkdir(parents=True, exist_ok=True)
        database_url = normalise_database_url(
            env.get("DATABASE_URL") or f"sqlite:///{instance / 'helloword.sqlite3'}"
        )
        keys = tuple(k for k in env.get("HELLOWORD_ENCRYPTION_KEYS", "").split(",") if k)
        return cls(
            instance_path=instance,
            database_url=database_url,
            redis_url=env.get("REDIS_URL", ""),
            secret_key=env.get("SECRET_KEY") or _instance_secret(instance, "secret_key"),
            encryption_keys=keys or (_instance_secret(instance, "encryption_key", fernet=True),),
            public_url=env.get("HELLOWORD_PUBLIC_URL", "http://localhost:5000").rstrip("/"),
            queue_name=env.get("HELLOWORD_QUEUE", "helloword"),
        )


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme a host hands us."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _instance_secret(instance: Path, name: str, fernet: bool = False) -> str:
    """A secret generated once and kept in the instance folder, for the embedded default."""
    path = instance / name
    if not path.exists():
        value = Fernet.generate_key().decode() if fernet else secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
    return path.read_text().strip()
