"""Blueprints: the REST API, platform webhooks, the Shopify app's install, and health checks."""

from __future__ import annotations

from flask import Flask

from .api import register_api
from .files import files
from .health import health
from .shopify import shopify
from .webhooks import webhooks


def register(app: Flask) -> None:
    app.register_blueprint(health)
    app.register_blueprint(files)
    app.register_blueprint(webhooks)
    app.register_blueprint(shopify)
    register_api(app)
