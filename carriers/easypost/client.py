"""The only module that talks to EasyPost: the SDK calls, label downloads and error translation.

Every call returns plain dicts shaped as EasyPost documents them, so ``mapper`` stays pure and
the adapter never sees an SDK object. Every SDK or HTTP failure leaves this module as one of
``connector.errors``: a rate limit (with its Retry-After), a 5xx or a timeout is retryable; a
401, 403, 422 or any other 4xx is permanent and carries EasyPost's own message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import easypost
import requests
from easypost.errors import ApiError, EasyPostError, HttpError, JsonError
from easypost.errors import TimeoutError as SdkTimeoutError

from connector.errors import HellowordError, PermanentError, RetryableError

DEFAULT_TIMEOUT = 30  # seconds, for API calls and label downloads alike


class EasyPostApi:
    """A thin wrapper over ``easypost.EasyPostClient`` for the calls a return label needs."""

    def __init__(
        self,
        api_key: str,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        http: requests.Session | None = None,
    ) -> None:
        self._sdk = easypost.EasyPostClient(api_key, timeout=timeout)
        self._timeout = timeout
        self._http = http if http is not None else requests.Session()
        # The SDK's errors drop the response headers; the response hook keeps the last ones
        # so a 429's Retry-After and a non-JSON error page's status still reach the caller.
        self._last_status: int | None = None
        self._last_headers: Mapping[str, str] = {}
        self._sdk.subscribe_to_response_hook(self._remember_response)

    # --- shipments -----------------------------------------------------------------------

    def create_shipment(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        with self._translated("creating a shipment"):
            return self._sdk.shipment.create(**fields).to_dict()

    def retrieve_shipment(self, shipment_id: str) -> dict[str, Any]:
        with self._translated(f"reading shipment {shipment_id}"):
            return self._sdk.shipment.retrieve(shipment_id).to_dict()

    def buy_shipment(self, shipment_id: str, rate_id: str) -> dict[str, Any]:
        with self._translated(f"buying shipment {shipment_id}"):
            return self._sdk.shipment.buy(shipment_id, rate={"id": rate_id}).to_dict()

    def convert_label(self, shipment_id: str, file_format: str) -> dict[str, Any]:
        with self._translated(f"converting the label of {shipment_id} to {file_format}"):
            return self._sdk.shipment.label(shipment_id, file_format=file_format).to_dict()

    def generate_form(self, shipment_id: str, form_type: str) -> dict[str, Any]:
        with self._translated(f"generating the {form_type} form of {shipment_id}"):
            return self._sdk.shipment.generate_form(shipment_id, form_type, {}).to_dict()

    def refund_shipment(self, shipment_id: str) -> dict[str, Any]:
        with self._translated(f"refunding shipment {shipment_id}"):
            return self._sdk.shipment.refund(shipment_id).to_dict()

    # --- trackers ------------------------------------------------------------------------

    def find_trackers(self, tracking_code: str, carrier: str = "") -> list[dict[str, Any]]:
        """``GET /v2/trackers`` for one code, and one carrier when it is named."""
        # ``tracking_code`` rather than ``tracking_codes``: the SDK form-encodes a list as its
        # Python repr in a GET query string.
        filters = {"tracking_code": tracking_code, **({"carrier": carrier} if carrier else {})}
        with self._translated(f"listing trackers of {tracking_code}"):
            page = self._sdk.tracker.all(**filters)
            return [tracker.to_dict() for tracker in page.get("trackers", [])]

    def create_tracker(self, tracking_code: str, carrier: str = "") -> dict[str, Any]:
        """``POST /v2/trackers``; without a carrier EasyPost guesses it from the code."""
        fields = {"tracking_code": tracking_code, **({"carrier": carrier} if carrier else {})}
        with self._translated(f"creating a tracker for {tracking_code}"):
            return self._sdk.tracker.create(**fields).to_dict()

    # --- label files ---------------------------------------------------------------------

    def download(self, url: str) -> bytes:
        """A label file from the URL EasyPost gave (its own file storage, no API key sent)."""
        with self._translated(f"downloading {url}"):
            response = self._http.get(url, timeout=self._timeout)
            if response.status_code >= 400:
                raise _http_error(
                    response.status_code,
                    f"downloading {url}: HTTP {response.status_code}",
                    response.headers,
                )
            return response.content

    # --- errors --------------------------------------------------------------------------

    def _remember_response(self, **event: Any) -> None:
        self._last_status = event.get("http_status")
        self._last_headers = event.get("headers") or {}

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        self._last_status = None
        self._last_headers = {}
        try:
            yield
        except HellowordError:
            raise
        except requests.Timeout as error:
            raise RetryableError(f"EasyPost: {doing} timed out") from error
        except requests.RequestException as error:
            raise RetryableError(f"EasyPost: {doing} failed: {error}") from error
        except EasyPostError as error:
            raise self._translate(error, doing) from error

    def _translate(self, error: EasyPostError, doing: str) -> HellowordError:
        if isinstance(error, SdkTimeoutError | HttpError):
            # Raised for a requests timeout or a connection failure: nothing reached EasyPost.
            return RetryableError(f"EasyPost: {doing} failed: {error.message}")
        status = error.http_status if isinstance(error, ApiError) else None
        if isinstance(error, JsonError) and status is None:
            status = self._last_status
        if status is None:
            return PermanentError(f"EasyPost: {doing} failed: {error.message}")
        return _http_error(
            status, f"EasyPost: {doing} failed ({status}): {error.message}", self._last_headers
        )


def _http_error(status: int, message: str, headers: Mapping[str, str]) -> HellowordError:
    if status == 429:
        return RetryableError(message, retry_after=retry_after(headers))
    if status >= 500 or status == 408:
        return RetryableError(message, retry_after=retry_after(headers))
    return PermanentError(message)


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP date."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
