"""Linking an Amazon seller account: Amazon's website authorization workflow.

- ``GET /amazon/authorize?region=na|eu|fe`` sends the seller to the region's Seller Central
  consent page for the app, with a state nonce kept in Redis for ten minutes and bound to the
  region (``version=beta`` while ``SP_API_DRAFT`` is set).
- ``GET /amazon/callback`` is where Amazon sends the seller back. The state must be one this
  installation issued and not yet used (it is spent on first use): otherwise 401 and nothing
  is stored. The ``spapi_oauth_code`` is exchanged for the seller's refresh token, the
  marketplaces the seller takes part in are read, and the account is linked as a store per
  ``selling_partner_id`` (to its merchant, or to a new merchant named after the seller id),
  with the refresh token sealed. Jobs then import its recent orders and its returns.

Amazon's refusals answer 400 (a code it will not take) or 502 (Amazon did not answer); the
seller starts again from the authorize link. Nothing is stored unless the account is linked.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from flask import Blueprint, Response, redirect, request

from ..db.types import utcnow
from ..errors import PermanentError, RetryableError
from ..jobs import enqueue_all
from ..ports import Credentials
from ..runtime import Runtime, current_runtime
from ..services import installs
from ..services.common import FollowUp
from .linking import answer as _answer

amazon = Blueprint("amazon", __name__, url_prefix="/amazon")

PLATFORM = "amazon"
REGIONS = ("na", "eu", "fe")
STATE_TTL = 600  # seconds a seller has on Seller Central's consent page
STATE_KEY = "helloword:amazon:oauth-state:"


def _redirect_uri(runtime: Runtime) -> str:
    return f"{runtime.settings.public_url}/amazon/callback"


def _adapter(runtime: Runtime, region: str, seller_id: str = "", refresh_token: str = "") -> Any:
    """The Amazon adapter for a region, with the app's LWA client and consent settings."""
    config = runtime.settings.amazon
    secrets_ = {**config.app_secrets(), "refresh_token": refresh_token}
    settings = {"region": region, "application_id": config.app_id, "draft": config.draft}
    return runtime.registry.platform(
        PLATFORM, Credentials(seller_id, secrets_, settings), runtime.adapter_context()
    )


@amazon.get("/authorize")
def authorize() -> Any:
    runtime = current_runtime()
    if not runtime.settings.amazon.configured:
        return _not_configured()
    region = request.args.get("region", "").strip().lower()
    if region not in REGIONS:
        return _answer(400, "Not an Amazon region", "region: one of na, eu or fe")
    state = secrets.token_urlsafe(32)
    runtime.redis.set(STATE_KEY + state, json.dumps({"region": region}), ex=STATE_TTL)
    url = _adapter(runtime, region).authorize_url(state, _redirect_uri(runtime))
    return redirect(url, code=302)


@amazon.get("/callback")
def callback() -> Any:
    runtime = current_runtime()
    if not runtime.settings.amazon.configured:
        return _not_configured()
    params = {key: request.args.get(key, "") for key in request.args}
    flow = _spend_state(runtime, params.get("state", ""))
    if flow is None:
        return _answer(
            401,
            "Authorisation refused",
            "the authorisation's state is unknown, expired or already used: start again from "
            "the authorize link",
        )
    region = flow["region"]
    try:
        linked = _adapter(runtime, region).complete(params, _redirect_uri(runtime))
        seller_id = linked.external_id
        refresh_token = str(linked.secrets["refresh_token"])
        participations = _adapter(
            runtime, region, seller_id, refresh_token
        ).marketplace_participations()
    except RetryableError as error:
        return _answer(502, "Amazon did not answer", f"{error}; start the authorisation again")
    except PermanentError as error:
        return _answer(400, "Amazon refused the authorisation", str(error))
    markets = [p for p in participations if p["participating"]]
    settings = {"region": region, "marketplace_ids": [p["marketplace_id"] for p in markets]}
    with runtime.db.transaction() as session:
        installed = installs.install_store(
            session,
            runtime.vault,
            PLATFORM,
            seller_id,
            {"refresh_token": refresh_token},
            settings=settings,
            currency=markets[0]["currency"] if markets else "",
            register_webhooks=False,
        )
    enqueue_all(runtime, [*installed.follow_ups, first_import(installed.store_id)])
    countries = ", ".join(p["country"] for p in markets) or "none yet"
    message = (
        f"Amazon seller {seller_id} is linked to Helloword (marketplaces: {countries}). Its "
        f"orders of the last {installs.BACKFILL_DAYS} days and its returns are being imported."
    )
    data = {
        "status": "linked",
        "selling_partner_id": seller_id,
        "region": region,
        "marketplace_ids": settings["marketplace_ids"],
        "store_id": installed.store_id,
        "merchant": installed.merchant_name,
    }
    return _answer(200, "Amazon account linked", message, data)


def first_import(store_id: int) -> FollowUp:
    """The import of a newly linked account's returns, not waiting for the hourly one."""
    stamp = int(utcnow().timestamp())
    return FollowUp(
        "import_amazon_returns", (store_id,), f"import_amazon_returns:{store_id}:linked:{stamp}"
    )


def _spend_state(runtime: Runtime, state: str) -> dict[str, str] | None:
    """The flow ``state`` was issued for, if it was and was not used yet; used up either
    way."""
    if not state:
        return None
    pipeline = runtime.redis.pipeline(transaction=True)
    pipeline.get(STATE_KEY + state)
    pipeline.delete(STATE_KEY + state)
    issued, deleted = pipeline.execute()
    if not deleted or issued is None:
        return None
    flow = json.loads(issued)
    return flow if isinstance(flow, dict) and flow.get("region") in REGIONS else None


def _not_configured() -> Response:
    return _answer(
        503,
        "Amazon app not configured",
        "this installation has no Amazon app: set SP_API_LWA_APP_ID, SP_API_LWA_CLIENT_SECRET "
        "and SP_API_APP_ID",
    )
