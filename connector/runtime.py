"""Everything a process needs to do Helloword's work, built once from ``Settings``.

The web app keeps one in ``app.extensions["helloword"]``; a worker builds the app and runs jobs
inside its context, so jobs reach the same runtime through ``current_runtime()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue

from . import embedded
from .config import Settings
from .crypto import Vault
from .db import Database
from .files import FileStore
from .ports import AdapterContext, Credentials
from .registry import Registry


@dataclass
class Runtime:
    settings: Settings
    registry: Registry = field(default_factory=Registry.discover)
    _embedded: Any = None

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url)

    @cached_property
    def redis_url(self) -> str:
        if self.settings.redis_url:
            return self.settings.redis_url
        socket = self.settings.embedded_redis_socket
        if not embedded.running(socket):
            self._embedded = embedded.start(self.settings.instance_path)
        return embedded.socket_url(socket)

    @cached_property
    def redis(self) -> Redis:
        return Redis.from_url(self.redis_url)

    @cached_property
    def queue(self) -> Queue:
        return Queue(self.settings.queue_name, connection=self.redis)

    @cached_property
    def vault(self) -> Vault:
        return Vault(self.settings.encryption_keys)

    @cached_property
    def files(self) -> FileStore:
        return FileStore(self.settings.files_path)

    def close(self) -> None:
        """Release connections, and stop the embedded Redis if this process started it."""
        if "db" in self.__dict__:
            self.db.dispose()
        if self._embedded is not None:
            embedded.stop(self._embedded)
            self._embedded = None

    def adapter_context(self) -> AdapterContext:
        return AdapterContext(
            data_dir=self.settings.instance_path,
            public_url=self.settings.public_url,
            redis=self.redis,
        )

    def platform(self, slug: str, external_id: str, sealed: str, settings: dict[str, Any]) -> Any:
        credentials = Credentials(external_id, self.vault.open(sealed), settings)
        return self.registry.platform(slug, credentials, self.adapter_context())

    def carrier(self, slug: str, external_id: str, sealed: str, settings: dict[str, Any]) -> Any:
        credentials = Credentials(external_id, self.vault.open(sealed), settings)
        return self.registry.carrier(slug, credentials, self.adapter_context())


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["helloword"]
    return runtime
