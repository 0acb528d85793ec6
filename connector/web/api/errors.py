"""Every error of the API answers as JSON in flask-smorest's shape:
``{"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {"json": {...}}}``.

The services' own errors are translated here: a ``ValidationError`` names its field the way
marshmallow would (``lines[0].quantity`` becomes ``errors.json.lines.0.quantity``), so a client
reads one error format whatever layer found the problem; ``NotFound`` is 404 and an
``IllegalTransition`` of the lifecycle is 409.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request
from flask_smorest import Api
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ...domain import IllegalTransition
from ...domain.money import MoneyError
from ...errors import NotFound, PermanentError, RetryableError, ValidationError
from ...rules import PolicyError
from ...rules.engine import NoExchangeRate

API_PREFIX = "/api"

_PATH_PART = re.compile(r"[^.\[\]]+")

ErrorResponse = tuple[dict[str, Any], int]


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> ErrorResponse:
    body: dict[str, Any] = {"code": code, "status": HTTP_STATUS_CODES[code], "message": message}
    if errors is not None:
        body["errors"] = errors
    return body, code


def nested_errors(field: str, message: str) -> dict[str, Any]:
    """``lines[0].quantity`` → ``{"lines": {"0": {"quantity": [message]}}}``."""
    errors: dict[str, Any] = {}
    node = errors
    parts = _PATH_PART.findall(field) or ["_schema"]
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = [message]
    return errors


def invalid(error: ValidationError) -> ErrorResponse:
    return error_body(422, str(error), {"json": nested_errors(error.field, error.message)})


def not_found(error: NotFound) -> ErrorResponse:
    return error_body(404, str(error))


def conflict(error: IllegalTransition) -> ErrorResponse:
    return error_body(409, str(error))


def out_of_range(error: Exception) -> ErrorResponse:
    """A number the database cannot hold (an id or weight beyond its integer range)."""
    return error_body(
        422,
        "a number in the request is out of range",
        {"json": {"_schema": ["a number in the request is larger than this service accepts"]}},
    )


def invalid_policy(error: PolicyError) -> ErrorResponse:
    """Every error of a policy document, each at its path (``rules[3].when.line_value.gt``)."""
    located = {path: [message] for path, message in error.errors}
    return error_body(422, "the policy document is not valid", {"json": located})


def no_rate(error: NoExchangeRate) -> ErrorResponse:
    return error_body(422, str(error), {"json": {"currency": [str(error)]}})


def misconfigured(error: PermanentError) -> ErrorResponse:
    """Work refused for a reason in the merchant's setup (a missing exchange rate, say)."""
    return error_body(422, str(error))


def unavailable(error: RetryableError) -> ErrorResponse:
    """A platform or carrier asked on the caller's behalf did not answer in time."""
    return error_body(503, str(error))


def translate_service_errors(blueprint: Blueprint) -> None:
    blueprint.register_error_handler(PermanentError, misconfigured)
    blueprint.register_error_handler(RetryableError, unavailable)
    blueprint.register_error_handler(PolicyError, invalid_policy)
    blueprint.register_error_handler(NoExchangeRate, no_rate)
    blueprint.register_error_handler(DataError, out_of_range)
    blueprint.register_error_handler(MoneyError, out_of_range)
    blueprint.register_error_handler(OverflowError, out_of_range)
    blueprint.register_error_handler(ValidationError, invalid)
    blueprint.register_error_handler(NotFound, not_found)
    blueprint.register_error_handler(IllegalTransition, conflict)


class JsonErrorsUnderApi(Api):
    """flask-smorest answers every HTTP error of the whole app as JSON; this Api does so only
    under ``/api`` (unknown routes included), and leaves other pages their own error pages."""

    def _register_error_handlers(self) -> None:
        self._app.register_error_handler(HTTPException, self._handle_under_api)

    def _handle_under_api(self, error: HTTPException) -> Any:
        if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
            return self.handle_http_exception(error)
        return error
