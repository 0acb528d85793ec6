"""Installing Helloword as a Shopify app: the install link, the OAuth callback, and the session
of the embedded admin.

- ``GET /shopify/install?shop=<name>.myshopify.com`` sends the merchant to Shopify's consent page
  with the app's scopes and a state nonce, kept in Redis for ten minutes and bound to the shop.
- ``GET /shopify/callback`` is where Shopify sends the merchant back. The query must be signed
  by the app's secret and at most a day old, and carry a state this installation issued for
  that shop, which is spent on first use: otherwise 401 and nothing is stored. The code is
  exchanged for an expiring offline token, the store is linked (to its merchant, or to a new
  merchant named after the shop, in the shop's currency), and jobs subscribe it to webhooks
  and import the last 90 days of orders.
- ``POST /shopify/session`` serves the embedded admin: the App Bridge session token in
  ``Authorization: Bearer`` is verified (401 if not), and a shop without a live link gets one
  by token exchange, linked as an install is.

Shopify's refusals answer 400 (a code it will not take) or 502 (Shopify did not answer); the
merchant starts the install again. Nothing is stored unless the store is linked whole.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request

from platforms.shopify.oauth import (
    AccessGrant,
    InvalidSessionToken,
    InvalidShop,
    ShopifyApp,
    sanitize_shop,
)

from ..errors import PermanentError, RetryableError
from ..jobs import enqueue_all
from ..runtime import Runtime, current_runtime
from ..services import installs
from .linking import answer as _answer

shopify = Blueprint("shopify", __name__, url_prefix="/shopify")

PLATFORM = "shopify"
STATE_TTL = 600  # seconds a merchant has on Shopify's consent page
STATE_KEY = "helloword:shopify:oauth-state:"


def _app(runtime: Runtime) -> ShopifyApp:
    config = runtime.settings.shopify
    return ShopifyApp(config.api_key, config.api_secret, config.scopes)


def _redirect_uri(runtime: Runtime) -> str:
    return f"{runtime.settings.public_url}/shopify/callback"


@shopify.get("/install")
def install() -> Any:
    runtime = current_runtime()
    if not runtime.settings.shopify.configured:
        return _not_configured()
    try:
        shop = sanitize_shop(request.args.get("shop", ""))
    except InvalidShop as error:
        return _answer(400, "Not a Shopify shop", f"shop: {error}")
    state = secrets.token_urlsafe(32)
    runtime.redis.set(STATE_KEY + state, shop, ex=STATE_TTL)
    return redirect(_app(runtime).authorize_url(shop, _redirect_uri(runtime), state), code=302)


@shopify.get("/callback")
def callback() -> Any:
    runtime = current_runtime()
    if not runtime.settings.shopify.configured:
        return _not_configured()
    app = _app(runtime)
    params = _query()
    if not app.verify_callback(params):
        return _answer(
            401,
            "Install refused",
            "the request is not signed by Shopify for this app, or is more than a day old",
        )
    try:
        shop = sanitize_shop(params.get("shop", ""))
    except InvalidShop as error:
        return _answer(400, "Not a Shopify shop", f"shop: {error}")
    if not _spend_state(runtime, str(params.get("state", "")), shop):
        return _answer(
            401,
            "Install refused",
            "the install's state is unknown, expired or already used: start the install again",
        )
    try:
        grant = app.exchange_code(shop, str(params.get("code", "")))
    except RetryableError as error:
        return _answer(502, "Shopify did not answer", f"{error}; start the install again")
    except PermanentError as error:
        return _answer(400, "Shopify refused the install", str(error))
    installed = _link(runtime, app, shop, grant)
    message = (
        f"{shop} is linked to Helloword. Its webhooks are being subscribed and the orders of "
        f"the last {installs.BACKFILL_DAYS} days imported."
    )
    return _answer(200, "Store linked", message, _linked(installed, shop))


@shopify.post("/session")
def session_token() -> Any:
    runtime = current_runtime()
    if not runtime.settings.shopify.configured:
        return _not_configured()
    app = _app(runtime)
    try:
        token = app.decode_session_token(request.headers.get("Authorization", ""))
    except InvalidSessionToken as error:
        return jsonify(error=str(error)), 401
    with runtime.db.session() as session:
        store = installs.linked_store(session, runtime.vault, PLATFORM, token.shop)
        if store is not None:
            return jsonify(
                status="linked", shop=token.shop, store_id=store.id, token_exchanged=False
            )
    try:
        grant = app.exchange_session_token(token)
    except RetryableError as error:
        return jsonify(error=str(error)), 502
    except PermanentError as error:
        return jsonify(error=str(error)), 400
    installed = _link(runtime, app, token.shop, grant)
    return jsonify(**_linked(installed, token.shop), token_exchanged=True)


def _link(runtime: Runtime, app: ShopifyApp, shop: str, grant: AccessGrant) -> installs.Installed:
    """Link the shop's store with the new grant, in one transaction, then queue its jobs."""
    config = runtime.settings.shopify
    details = app.shop_details(shop, grant.access_token, config.api_version)
    # The app's client secret signs every webhook Shopify delivers to an installed app.
    credentials = {**grant.secrets(), "api_secret": config.api_secret}
    with runtime.db.transaction() as session:
        installed = installs.install_store(
            session,
            runtime.vault,
            PLATFORM,
            shop,
            credentials,
            settings={"api_version": config.api_version},
            name=details.name if details else "",
            currency=details.currency if details else "",
        )
    enqueue_all(runtime, installed.follow_ups)
    return installed


def _linked(installed: installs.Installed, shop: str) -> dict[str, Any]:
    return {
        "status": "linked",
        "shop": shop,
        "store_id": installed.store_id,
        "merchant": installed.merchant_name,
        "backfill_days": installs.BACKFILL_DAYS,
    }


def _spend_state(runtime: Runtime, state: str, shop: str) -> bool:
    """Whether ``state`` was issued for ``shop`` and not used yet; it is used up either way."""
    if not state:
        return False
    pipeline = runtime.redis.pipeline(transaction=True)
    pipeline.get(STATE_KEY + state)
    pipeline.delete(STATE_KEY + state)
    issued_for, deleted = pipeline.execute()
    return bool(deleted) and issued_for is not None and issued_for.decode() == shop


def _query() -> dict[str, Any]:
    """The query as Shopify signed it: ``name[]`` keys keep all their values."""
    return {
        key: request.args.getlist(key) if key.endswith("[]") else request.args.get(key, "")
        for key in request.args
    }


def _not_configured() -> Response:
    return _answer(
        503,
        "Shopify app not configured",
        "this installation has no Shopify app: set SHOPIFY_API_KEY and SHOPIFY_API_SECRET",
    )
