"""Installing Helloword as a Shopify app, and the access tokens that follow.

Two ways in, both ending with an offline access token for one shop:

- the authorization code grant (a non-embedded install): ``authorize_url`` sends the merchant
  to Shopify's consent page, ``verify_callback`` checks the query Shopify sends back (ShopifyAPI's
  ``Session.validate_params``: the HMAC of the query under the app's secret, and a timestamp at
  most a day old), and ``exchange_code`` trades the code for the token;
- token exchange (the embedded admin): ``decode_session_token`` verifies an App Bridge session
  token (ShopifyAPI's ``session_token.decode_from_header``: HS256 under the app's secret,
  ``aud`` the app's API key, issuer and ``dest`` the same shop), and ``exchange_session_token``
  trades it for an offline token.

Both ask for expiring offline tokens (``expiring=1``): an access token that lasts an hour, with
a refresh token that ``refresh`` trades for a new pair (Shopify replaces the refresh token on
every use). ``AccessGrant.secrets()`` is what Helloword keeps of a grant, sealed at rest.
``shop_details`` reads the shop's name and currency with a new token, for the merchant a first
install creates.

The token endpoint's answers become the connector's error kinds: 429, 5xx, timeouts and
unreadable answers are ``RetryableError``; any other refusal (a used code, a revoked refresh
token, a wrong client secret) is ``PermanentError`` with Shopify's own words.

ShopifyAPI keeps its app credentials on ``shopify.Session`` as class attributes; to leave that
process-wide state alone, each ``ShopifyApp`` checks HMACs through a subclass of its own.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

import requests
import shopify
from shopify import session_token

from connector.errors import PermanentError, RetryableError

SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")  # matched on the lowered text
TOKEN_PATH = "/admin/oauth/access_token"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
TIMEOUT = 15.0  # seconds for one call to the token endpoint
SHOP_DETAILS = "query ShopDetails { shop { name currencyCode } }"

log = logging.getLogger(__name__)


class InvalidShop(ValueError):
    """A shop domain that is not ``<name>.myshopify.com``."""


class InvalidSessionToken(ValueError):
    """An App Bridge session token that is forged, expired or meant for another app."""


def sanitize_shop(value: object) -> str:
    """The shop's ``<name>.myshopify.com`` domain, lower-cased; ``InvalidShop`` for anything
    else (a custom domain, a URL, a path, an empty value)."""
    text = str(value or "").strip()
    if not SHOP_DOMAIN.fullmatch(text.lower()):
        raise InvalidShop(
            f"{text!r} is not a Shopify shop domain: expected <name>.myshopify.com, with "
            "letters, digits and hyphens in the name"
        )
    return text.lower()


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """An access token Shopify granted for one shop, with its refresh token if it expires."""

    access_token: str
    scope: str = ""
    expires_at: datetime | None = None  # None: the token does not expire
    refresh_token: str = ""
    refresh_token_expires_at: datetime | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any], now: datetime) -> AccessGrant:
        """The grant in a token endpoint answer; ``ValueError`` if it holds no token."""
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError("the answer holds no access_token")
        return cls(
            access_token=token,
            scope=str(body.get("scope") or ""),
            expires_at=_after(now, body.get("expires_in")),
            refresh_token=str(body.get("refresh_token") or ""),
            refresh_token_expires_at=_after(now, body.get("refresh_token_expires_in")),
        )

    def secrets(self) -> dict[str, str]:
        """The credential keys this grant sets: ``access_token`` and ``scope`` always;
        ``expires_at``, ``refresh_token`` and ``refresh_token_expires_at`` (ISO 8601, UTC)
        for an expiring token, left out for one that does not expire."""
        secrets = {"access_token": self.access_token, "scope": self.scope}
        if self.expires_at is not None:
            secrets["expires_at"] = _iso(self.expires_at)
        if self.refresh_token:
            secrets["refresh_token"] = self.refresh_token
        if self.refresh_token_expires_at is not None:
            secrets["refresh_token_expires_at"] = _iso(self.refresh_token_expires_at)
        return secrets


@dataclass(frozen=True, slots=True)
class SessionToken:
    """A verified App Bridge session token: which shop, which staff member, which session."""

    shop: str
    user: str  # the staff member's id (``sub``)
    session: str  # Shopify's session id (``sid``)
    expires_at: datetime | None
    raw: str  # the token itself, the subject of a token exchange


@dataclass(frozen=True, slots=True)
class ShopDetails:
    """What the install learns of the shop: its name and its currency."""

    name: str
    currency: str


class ShopifyApp:
    """Helloword's app on Shopify: its client credentials, the scopes it asks for, and the
    calls to Shopify's OAuth endpoints."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        scopes: Sequence[str] = (),
        *,
        http: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key or not api_secret:
            raise PermanentError(
                "the Shopify app is not configured: set SHOPIFY_API_KEY and SHOPIFY_API_SECRET"
            )
        self.api_key = api_key
        self.api_secret = api_secret
        self.scopes = tuple(scopes)
        self._http = http or requests.Session()
        self._clock = clock
        # ShopifyAPI reads the secret from class attributes: this app's own subclass keeps it
        # from the class every other user of ShopifyAPI in the process shares.
        self._session_class: Any = type(
            "HellowordSession", (shopify.Session,), {"api_key": api_key, "secret": api_secret}
        )

    # authorization code grant -----------------------------------------------------------

    def authorize_url(self, shop: str, redirect_uri: str, state: str) -> str:
        """Shopify's consent page for ``shop``: it asks the merchant for the app's scopes and
        sends them back to ``redirect_uri`` with a code and ``state``. No ``grant_options[]``:
        the token is an offline one."""
        query = urlencode(
            {
                "client_id": self.api_key,
                "scope": ",".join(self.scopes),
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"https://{sanitize_shop(shop)}/admin/oauth/authorize?{query}"

    def verify_callback(self, params: Mapping[str, Any]) -> bool:
        """Whether a query Shopify sent (the install link, the OAuth callback) is signed with
        the app's secret and at most a day old. A missing or unreadable timestamp fails."""
        try:
            return bool(self._session_class.validate_params(dict(params)))
        except (AttributeError, TypeError, ValueError):
            return False

    def exchange_code(self, shop: str, code: str, *, expiring: bool = True) -> AccessGrant:
        """The offline access token for the authorization ``code`` of ``shop``."""
        if not code:
            raise PermanentError("the callback carries no authorization code")
        body = {
            "client_id": self.api_key,
            "client_secret": self.api_secret,
            "code": code,
            "expiring": "1" if expiring else "0",
        }
        return self._token(shop, body, "the authorization code")

    # embedded admin ----------------------------------------------------------------------

    def decode_session_token(self, authorization: str) -> SessionToken:
        """The session token in an ``Authorization: Bearer …`` header, verified;
        ``InvalidSessionToken`` says why one is refused."""
        try:
            payload = session_token.decode_from_header(
                authorization or "", self.api_key, self.api_secret
            )
        except session_token.SessionTokenError as exc:
            raise InvalidSessionToken(f"session token refused: {exc}") from None
        try:
            shop = sanitize_shop(urlparse(str(payload["dest"])).hostname)
        except InvalidShop as exc:
            raise InvalidSessionToken(f"session token refused: dest: {exc}") from None
        expires = payload.get("exp")
        return SessionToken(
            shop=shop,
            user=str(payload.get("sub") or ""),
            session=str(payload.get("sid") or ""),
            expires_at=(
                datetime.fromtimestamp(expires, UTC) if isinstance(expires, int | float) else None
            ),
            raw=authorization[len(session_token.PREFIX) :],
        )

    def exchange_session_token(self, token: SessionToken, *, expiring: bool = True) -> AccessGrant:
        """An offline access token for the shop of a verified session token."""
        body = {
            "client_id": self.api_key,
            "client_secret": self.api_secret,
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": token.raw,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_TOKEN_TYPE,
            "expiring": "1" if expiring else "0",
        }
        return self._token(token.shop, body, "the session token")

    # expiring offline tokens ------------------------------------------------------------

    def refresh(self, shop: str, refresh_token: str) -> AccessGrant:
        """A new access token and refresh token for an expiring offline token. The refresh
        token given is spent: keep the new one."""
        if not refresh_token:
            raise PermanentError(f"Shopify {shop}: no refresh token to refresh the access token")
        body = {
            "client_id": self.api_key,
            "client_secret": self.api_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        return self._token(shop, body, "the refresh token")

    # the shop ----------------------------------------------------------------------------

    def shop_details(self, shop: str, access_token: str, api_version: str) -> ShopDetails | None:
        """The shop's name and currency, read with a new token; None if Shopify does not say
        (the install goes on without them)."""
        url = f"https://{sanitize_shop(shop)}/admin/api/{api_version}/graphql.json"
        try:
            response = self._http.post(
                url,
                json={"query": SHOP_DETAILS, "operationName": "ShopDetails"},
                headers={"X-Shopify-Access-Token": access_token, "Accept": "application/json"},
                timeout=TIMEOUT,
            )
            found = response.json()["data"]["shop"] if response.ok else None
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning("could not read the details of Shopify %s: %s", shop, exc)
            return None
        if not isinstance(found, Mapping):
            log.warning(
                "could not read the details of Shopify %s: HTTP %s", shop, response.status_code
            )
            return None
        return ShopDetails(str(found.get("name") or ""), str(found.get("currencyCode") or ""))

    # plumbing ----------------------------------------------------------------------------

    def _token(self, shop: str, body: Mapping[str, str], what: str) -> AccessGrant:
        url = f"https://{sanitize_shop(shop)}{TOKEN_PATH}"
        try:
            response = self._http.post(
                url, json=dict(body), headers={"Accept": "application/json"}, timeout=TIMEOUT
            )
        except requests.RequestException as exc:  # a dropped connection, a timeout
            raise RetryableError(f"Shopify {shop} token endpoint unreachable: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise RetryableError(
                f"Shopify {shop} did not take {what}: HTTP {status}: {_error_text(response)}",
                retry_after=_retry_after(response),
            )
        if status >= 400:
            raise PermanentError(
                f"Shopify {shop} refused {what}: HTTP {status}: {_error_text(response)}"
            )
        try:
            document = response.json()
            if not isinstance(document, Mapping):
                raise ValueError("the answer is not a JSON object")
            return AccessGrant.from_response(document, datetime.fromtimestamp(self._clock(), UTC))
        except ValueError as exc:
            raise RetryableError(f"Shopify {shop} answered {what} unreadably: {exc}") from exc


def _after(now: datetime, seconds: object) -> datetime | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | str):
        return None
    try:
        return now + timedelta(seconds=float(seconds))
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _error_text(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return response.text[:200] or response.reason or "no body"
    if isinstance(document, Mapping):
        if document.get("error"):
            described = document.get("error_description")
            return f"{document['error']}: {described}" if described else str(document["error"])
        if document.get("errors"):
            return str(document["errors"])
    return str(document)[:200]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
