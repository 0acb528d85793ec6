"""The versioned REST API under ``/api/v1``, built with flask-smorest.

Its OpenAPI 3 document is at ``/api/openapi.json`` and an interactive page at ``/api/docs``
(Swagger UI, whose scripts the reader's browser loads from a CDN). Every endpoint needs
``Authorization: Bearer <key>``; keys are made with ``POST /api/v1/api-keys`` or the CLI.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import destinations, keys, orders, policy, preview, privacy, returns, routing, stores
from .auth import SECURITY_SCHEME
from .errors import JsonErrorsUnderApi

SWAGGER_UI_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"


def register_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Helloword",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        API_SPEC_OPTIONS={
            "info": {"description": "Returns middleware for cross-border sellers."},
            "security": [{SECURITY_SCHEME: []}],
        },
    )
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", SWAGGER_UI_URL)
    api = JsonErrorsUnderApi(app)
    api.spec.components.security_scheme(
        SECURITY_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "An API key of the merchant."},
    )
    for resource in (
        stores,
        orders,
        preview,
        returns,
        keys,
        policy,
        routing,
        destinations,
        privacy,
    ):
        api.register_blueprint(resource.blp)
    api.register_blueprint(destinations.carriers_blp)
    return api


__all__ = ["register_api"]
