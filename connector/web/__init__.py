"""Blueprints: the REST API, platform webhooks, the Shopify app's install, the buyer portal and
the back office, and health checks."""

from __future__ import annotations

from flask import Flask

from ..config import Settings
from .admin import admin, session_lifetime
from .amazon import amazon
from .api import register_api
from .files import files
from .health import health
from .portal import portal
from .shopify import shopify
from .ui import register_ui
from .webhooks import webhooks


def register(app: Flask, settings: Settings) -> None:
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", session_lifetime())
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    register_ui(app, settings)
    app.register_blueprint(admin)
    app.register_blueprint(portal)
    app.register_blueprint(health)
    app.register_blueprint(files)
    app.register_blueprint(webhooks)
    app.register_blueprint(shopify)
    app.register_blueprint(amazon)
    register_api(app)
