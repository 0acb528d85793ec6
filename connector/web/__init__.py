"""Blueprints: the REST API, platform webhooks and health checks."""

from __future__ import annotations

from flask import Flask

from .api import register_api
from .files import files
from .health import health
from .webhooks import webhooks


def register(app: Flask) -> None:
    app.register_blueprint(health)
    app.register_blueprint(files)
    app.register_blueprint(webhooks)
    register_api(app)
