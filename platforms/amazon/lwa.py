"""Login with Amazon (LWA): a seller's consent, the code exchange, and access tokens.

The website authorization workflow: ``consent_url`` sends the seller to the Seller Central of
their region (or marketplace) with the app's ``application_id`` and a single-use ``state``
(``version=beta`` while the app is still a draft); Amazon sends them back to the redirect URI
with ``state``, ``selling_partner_id`` and ``spapi_oauth_code``; ``exchange_code`` trades the
code at the LWA token endpoint for the refresh token Helloword keeps. The library's own
``authorize_auth_code`` sends no ``redirect_uri``, which the endpoint wants, so this module
makes the call itself.

``refresh`` turns a refresh token into an access token for an hour. An ``invalid_grant`` from
it means the seller revoked the app, or its authorisation lapsed: ``NeedsRelinking``, so the
app can mark the account instead of retrying work that cannot succeed. Other refusals are
``PermanentError`` with Amazon's ``error_description``; 429, 5xx and lost connections are
``RetryableError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from connector.errors import PermanentError, RetryableError

from . import marketplaces

TOKEN_URL = "https://api.amazon.com/auth/o2/token"
CONSENT_PATH = "/apps/authorize/consent"
TIMEOUT = 15.0  # seconds for one call to the token endpoint


class NeedsRelinking(PermanentError):
    """The seller's refresh token no longer works: revoked in Seller Central, lapsed without
    the yearly reauthorisation, or issued to another app. Only a new consent fixes it."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token endpoint granted: the refresh token to keep (empty when refreshing) and
    an access token valid until ``expires_at`` (seconds since the epoch)."""

    refresh_token: str
    access_token: str
    expires_at: float


def consent_url(
    application_id: str,
    state: str,
    *,
    region: str,
    redirect_uri: str = "",
    draft: bool = False,
    marketplace_id: str = "",
) -> str:
    """Seller Central's consent page for the app. ``marketplace_id`` picks that marketplace's
    Seller Central (a seller of amazon.nl signs in at sellercentral.amazon.nl); without one,
    the region's. ``redirect_uri`` must be one the app's registration lists; without it
    Amazon uses the first. ``draft`` adds ``version=beta``, which an app not yet published
    needs."""
    if not application_id:
        raise PermanentError("the Amazon app is not configured: set its application id")
    if not state:
        raise PermanentError("an authorisation needs a state to check on the way back")
    if marketplace_id:
        host = marketplaces.marketplace(marketplace_id).seller_central
    else:
        host = marketplaces.REGION_SELLER_CENTRAL[marketplaces.region_of(region)]
    query = {"application_id": application_id, "state": state}
    if redirect_uri:
        query["redirect_uri"] = redirect_uri
    if draft:
        query["version"] = "beta"
    return f"{host}{CONSENT_PATH}?{urlencode(query)}"


class LwaClient:
    """The app's LWA client credentials, and the calls to the token endpoint."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id or not client_secret:
            raise PermanentError(
                "the Amazon app's LWA credentials are missing: lwa_app_id and lwa_client_secret"
            )
        self.client_id = client_id
        self._secret = client_secret
        self._http = http or httpx.Client(timeout=TIMEOUT)
        self._clock = clock

    def exchange_code(self, code: str, redirect_uri: str) -> Grant:
        """The refresh token for an ``spapi_oauth_code`` (valid a few minutes, used once)."""
        if not code:
            raise PermanentError("Amazon's callback carries no spapi_oauth_code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        body = self._post(form, "the authorization code")
        refresh_token = body.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            raise PermanentError("Amazon granted the authorization code without a refresh token")
        return self._grant(body, refresh_token)

    def refresh(self, refresh_token: str) -> Grant:
        """A fresh access token for a seller; ``NeedsRelinking`` when the token is refused."""
        if not refresh_token:
            raise NeedsRelinking("the Amazon account has no refresh token: link it again")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
            "client_secret": self._secret,
        }
        try:
            body = self._post(form, "the refresh token")
        except _Refused as refused:
            if refused.code == "invalid_grant":
                raise NeedsRelinking(
                    f"Amazon no longer accepts this account's refresh token "
                    f"({refused.description or refused.code}): the seller must authorise "
                    "Helloword again"
                ) from refused
            raise
        return self._grant(body, "")

    # plumbing ----------------------------------------------------------------------------

    def _post(self, form: Mapping[str, str], what: str) -> Mapping[str, Any]:
        try:
            response = self._http.post(
                TOKEN_URL, data=dict(form), headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"the LWA token endpoint is out of reach: {exc}") from exc
        status = response.status_code
        document = _json(response)
        if status == 429 or status >= 500:
            raise RetryableError(
                f"LWA did not take {what}: HTTP {status}: {_describe(document, response)}",
                retry_after=_retry_after(response),
            )
        if status >= 400:
            code = str(document.get("error") or "")
            description = str(document.get("error_description") or "")
            raise _Refused(
                f"LWA refused {what}: {description or code or f'HTTP {status}'}", code, description
            )
        if not document:
            raise RetryableError(f"LWA answered {what} unreadably (HTTP {status})")
        return document

    def _grant(self, body: Mapping[str, Any], refresh_token: str) -> Grant:
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise RetryableError("LWA answered without an access token")
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        return Grant(refresh_token, access_token, self._clock() + lifetime)


class _Refused(PermanentError):
    """A 4xx from the token endpoint, with LWA's OAuth error code and description."""

    def __init__(self, message: str, code: str, description: str) -> None:
        super().__init__(message)
        self.code = code
        self.description = description


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _describe(document: Mapping[str, Any], response: httpx.Response) -> str:
    if document.get("error"):
        return str(document.get("error_description") or document["error"])
    return response.text[:200] or "no body"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
