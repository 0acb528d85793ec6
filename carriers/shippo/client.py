"""The Shippo REST client: the only module of the carrier that talks to the network.

It sends JSON to https://api.goshippo.com with ``Authorization: ShippoToken <token>`` and turns
every HTTP or transport failure into the connector's error kinds: rate limits, 5xx, timeouts
and dropped connections are retryable; refused credentials, rejected requests and bodies that
are not JSON are permanent. The session is borrowed (``AdapterContext.http``) when the app lends
one, so the token travels per request and never sticks to a session other code also uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from connector.errors import PermanentError, RetryableError

BASE_URL = "https://api.goshippo.com"
API_VERSION = "2018-02-08"
TIMEOUT = (5.0, 30.0)  # connect, read: synchronous label purchases can take a while
DOWNLOAD_TIMEOUT = (5.0, 60.0)


class ShippoClient:
    def __init__(
        self, token: str, session: requests.Session | None = None, base_url: str = BASE_URL
    ) -> None:
        if not token:
            raise PermanentError('a Shippo account needs secrets["api_token"]')
        self._token = token
        self._session = session if session is not None else requests.Session()
        self._base_url = base_url.rstrip("/")

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", self._url(path), params=params)

    def get_url(self, url: str) -> dict[str, Any]:
        """GET an absolute Shippo URL, such as a list's ``next`` page."""
        if not url.startswith(self._base_url + "/"):
            raise PermanentError(f"refusing to send the Shippo token to {url!r}")
        return self._request("GET", url)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("POST", self._url(path), json=body)

    def download(self, url: str) -> bytes:
        """Fetch a file Shippo links to (a label on S3): no token, since it is another host."""
        response = self._send("GET", url, headers={}, timeout=DOWNLOAD_TIMEOUT)
        _raise_for_status(response, f"download {url.split('?', 1)[0]}")
        return response.content

    def _url(self, path: str) -> str:
        return f"{self._base_url}/{path.lstrip('/')}"

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        headers = {
            "Authorization": f"ShippoToken {self._token}",
            "Accept": "application/json",
            "SHIPPO-API-VERSION": API_VERSION,
        }
        response = self._send(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
        what = f"Shippo {method} {url.removeprefix(self._base_url).split('?', 1)[0]}"
        _raise_for_status(response, what)
        try:
            payload = response.json()
        except ValueError:
            raise PermanentError(f"{what} answered {response.status_code} with no JSON") from None
        if not isinstance(payload, dict):
            raise PermanentError(f"{what} answered with JSON that is not an object")
        return payload

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            raise RetryableError(f"Shippo timed out: {exc}") from exc
        except requests.ConnectionError as exc:
            raise RetryableError(f"could not reach Shippo: {exc}") from exc
        except requests.RequestException as exc:
            raise PermanentError(f"Shippo request failed: {exc}") from exc


def _raise_for_status(response: requests.Response, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    message = f"{what} answered {status}: {error_message(response)}"
    if status == 429:
        raise RetryableError(message, retry_after=retry_after(response.headers.get("Retry-After")))
    if status >= 500 or status == 408:
        raise RetryableError(message)
    raise PermanentError(message)


def error_message(response: requests.Response) -> str:
    """Shippo's words for a refusal: ``detail``, ``messages[].text`` or per-field errors."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason or "no details"
    return _flatten(payload) or "no details"


def _flatten(payload: object) -> str:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):
        return "; ".join(part for part in (_flatten(item) for item in payload) if part)
    if isinstance(payload, dict):
        if "detail" in payload:
            return _flatten(payload["detail"])
        if "text" in payload:
            return _flatten(payload["text"])
        if "messages" in payload:
            return _flatten(payload["messages"])
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in payload.items())
    return "" if payload is None else str(payload)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header, given as seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
