"""Helloword: returns middleware for cross-border sellers.

``create_app(config)`` builds the web application; everything else hangs off the ``Runtime``
it keeps in ``app.extensions["helloword"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import Settings
from .runtime import Runtime


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
    )
    app.extensions["helloword"] = Runtime(settings)

    from .web import register

    register(app, settings)
    return app


__all__ = ["Runtime", "Settings", "create_app"]
