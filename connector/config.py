"""Settings from the environment (12-factor), with embedded defaults that need nothing.

With no variables set, Helloword keeps everything in an instance folder: a SQLite database,
an embedded Redis on a unix socket, label files and the sandbox store. ``DATABASE_URL`` and
``REDIS_URL`` point it at PostgreSQL and Redis in production. ``SHOPIFY_*`` configure the
Shopify app merchants install (``ShopifySettings``); ``SP_API_*`` the Amazon app sellers
authorise (``AmazonSettings``); ``SMTP_URL`` and ``HELLOWORD_MAIL_FROM``
how email leaves (``MailSettings``). ``Settings.from_env`` is the one place the environment is
read.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

# What the Shopify app asks a store for: orders and their customers, products, locations and
# inventory (customs facts of each line, restocking), returns (read, approve, decline, labels,
# dispositions, refunds through returnProcess) and store credit (refunds as store credit).
SHOPIFY_SCOPES: tuple[str, ...] = (
    "read_orders",
    "read_customers",
    "read_products",
    "read_locations",
    "read_inventory",
    "write_inventory",
    "read_returns",
    "write_returns",
    "read_store_credit_accounts",
    "write_store_credit_account_transactions",
)
SHOPIFY_API_VERSION = "2025-10"
_SCOPE = re.compile(r"^(unauthenticated_)?(read|write)_[a-z_]+$")
_API_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
MAIL_FROM = "Helloword <returns@localhost>"


@dataclass(frozen=True)
class ShopifySettings:
    """The Shopify app: its client credentials (the Partner or Dev Dashboard's client id and
    secret), the scopes installs ask for, and the Admin API version new stores are linked at."""

    api_key: str = ""
    api_secret: str = ""
    scopes: tuple[str, ...] = SHOPIFY_SCOPES
    api_version: str = SHOPIFY_API_VERSION

    @property
    def configured(self) -> bool:
        return bool(self.api_key and self.api_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ShopifySettings:
        """``SHOPIFY_API_KEY``, ``SHOPIFY_API_SECRET``, ``SHOPIFY_SCOPES`` (comma-separated)
        and ``SHOPIFY_API_VERSION``; ``ValueError`` names a variable that is malformed."""
        scopes = tuple(s.strip() for s in env.get("SHOPIFY_SCOPES", "").split(",") if s.strip())
        for scope in scopes:
            if not _SCOPE.match(scope):
                raise ValueError(
                    f"SHOPIFY_SCOPES: {scope!r} is not a Shopify access scope "
                    "(read_… or write_…, comma-separated)"
                )
        version = env.get("SHOPIFY_API_VERSION", "").strip() or SHOPIFY_API_VERSION
        if not _API_VERSION.match(version):
            raise ValueError(
                f"SHOPIFY_API_VERSION: {version!r} is not a Shopify API version "
                "(YYYY-01, -04, -07 or -10, or unstable)"
            )
        return cls(
            api_key=env.get("SHOPIFY_API_KEY", "").strip(),
            api_secret=env.get("SHOPIFY_API_SECRET", "").strip(),
            scopes=scopes or SHOPIFY_SCOPES,
            api_version=version,
        )


@dataclass(frozen=True)
class AmazonSettings:
    """The Amazon Selling Partner API app: its LWA client (``SP_API_LWA_APP_ID``,
    ``SP_API_LWA_CLIENT_SECRET``), the same for every seller and rotated every 180 days, so
    never stored per account; its application id (``SP_API_APP_ID``), which the consent page
    names; and ``SP_API_DRAFT``, true while the app is unpublished (``version=beta``)."""

    lwa_app_id: str = ""
    lwa_client_secret: str = ""
    app_id: str = ""
    draft: bool = False

    @property
    def configured(self) -> bool:
        """Whether sellers can authorise the app from the web (the LWA client and the app id)."""
        return bool(self.lwa_app_id and self.lwa_client_secret and self.app_id)

    def app_secrets(self) -> dict[str, str]:
        """The LWA client as an Amazon adapter's secrets take it."""
        return {"lwa_app_id": self.lwa_app_id, "lwa_client_secret": self.lwa_client_secret}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AmazonSettings:
        """``SP_API_LWA_APP_ID``, ``SP_API_LWA_CLIENT_SECRET``, ``SP_API_APP_ID`` and
        ``SP_API_DRAFT`` (true/false, 1/0, yes/no); ``ValueError`` names a malformed one."""
        lwa_app_id = env.get("SP_API_LWA_APP_ID", "").strip()
        if lwa_app_id and not lwa_app_id.startswith("amzn1.application-oa2-client."):
            raise ValueError(
                f"SP_API_LWA_APP_ID: {lwa_app_id!r} is not an LWA client id "
                "(amzn1.application-oa2-client.…)"
            )
        app_id = env.get("SP_API_APP_ID", "").strip()
        if app_id and not app_id.startswith("amzn1.sp.solution."):
            raise ValueError(
                f"SP_API_APP_ID: {app_id!r} is not an SP-API application id (amzn1.sp.solution.…)"
            )
        draft = env.get("SP_API_DRAFT", "").strip().lower()
        if draft not in ("", "true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"SP_API_DRAFT: {draft!r} is not true or false")
        return cls(
            lwa_app_id=lwa_app_id,
            lwa_client_secret=env.get("SP_API_LWA_CLIENT_SECRET", "").strip(),
            app_id=app_id,
            draft=draft in ("true", "1", "yes"),
        )


@dataclass(frozen=True)
class MailSettings:
    """Where email goes: an SMTP server (``smtp://user:pass@host:port``, or ``smtps://`` for
    TLS from the first byte), or with none, ``.eml`` files in the instance's ``mail`` folder."""

    smtp_url: str = ""
    sender: str = MAIL_FROM

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailSettings:
        """``SMTP_URL`` and ``HELLOWORD_MAIL_FROM``; ``ValueError`` names a malformed one."""
        url = env.get("SMTP_URL", "").strip()
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError(
                    "SMTP_URL: expected smtp://user:password@host:port or smtps://… "
                    f"(got a {parts.scheme or 'schemeless'} URL)"
                )
            try:
                parts.port  # noqa: B018 (raises on a port that is not a number)
            except ValueError:
                raise ValueError("SMTP_URL: the port is not a number") from None
        sender = env.get("HELLOWORD_MAIL_FROM", "").strip() or MAIL_FROM
        if "@" not in sender:
            raise ValueError(f"HELLOWORD_MAIL_FROM: {sender!r} is not an email address")
        return cls(smtp_url=url, sender=sender)


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
    shopify: ShopifySettings = field(default_factory=ShopifySettings)
    amazon: AmazonSettings = field(default_factory=AmazonSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def files_path(self) -> Path:
        return self.instance_path / "files"

    @property
    def mail_path(self) -> Path:
        """Where email is written as ``.eml`` files when no SMTP server is set."""
        return self.instance_path / "mail"

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
            shopify=ShopifySettings.from_env(env),
            amazon=AmazonSettings.from_env(env),
            mail=MailSettings.from_env(env),
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
