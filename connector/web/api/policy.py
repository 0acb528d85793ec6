"""The merchant's return policy: the active document, its versions, and what a candidate
would change if it replaced the active one.

A document is sent as JSON, or as YAML with ``Content-Type: application/yaml``. A document that
does not validate is refused with every error located by its path
(``rules[3].when.line_value.gt``), and nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from ...db import models
from ...rules import DEFAULT_DOCUMENT, PolicyError
from ...rules.policy import parse_policy_text
from ...runtime import current_runtime
from ...services import policies
from .auth import actor, api_blueprint, merchant_id

blp = api_blueprint("policy", "/api/v1/policy", "The return policy, as data.")

_DOCUMENT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}},
    },
}


class PolicyVersionSchema(Schema):
    version = fields.Integer(allow_none=True)
    document = fields.Dict()
    saved_by = fields.String(metadata={"description": "Who saved it: a user or an API key."})
    created_at = fields.DateTime(allow_none=True)


class SimulateSchema(Schema):
    policy = fields.Dict(required=True)
    days = fields.Integer(load_default=90, validate=validate.Range(1, 3660))
    examples = fields.Integer(load_default=5, validate=validate.Range(0, 50))


@blp.get("")
@blp.response(200, PolicyVersionSchema)
def get_policy() -> dict[str, Any]:
    """The active policy (the built-in default until the merchant saves one)."""
    with current_runtime().db.session() as session:
        row = policies.latest(session, merchant_id())
    if row is None:
        return {"version": None, "document": DEFAULT_DOCUMENT, "created_at": None}
    return {
        "version": row.version,
        "document": row.document,
        "saved_by": row.saved_by,
        "created_at": row.created_at,
    }


@blp.put("")
@blp.doc(requestBody=_DOCUMENT_BODY)
@blp.response(200, PolicyVersionSchema)
def put_policy() -> dict[str, Any]:
    """Validate the document and make it the active policy, as the next version."""
    document = _document_from_request()
    with current_runtime().db.transaction() as session:
        row = policies.save(session, merchant_id(), document, actor())
        return {
            "version": row.version,
            "document": row.document,
            "saved_by": row.saved_by,
            "created_at": row.created_at,
        }


@blp.get("/versions")
@blp.response(200, PolicyVersionSchema(many=True))
def list_versions() -> list[models.Policy]:
    """Every saved version, newest first."""
    with current_runtime().db.session() as session:
        return list(
            session.scalars(
                select(models.Policy)
                .where(models.Policy.merchant_id == merchant_id())
                .order_by(models.Policy.version.desc())
            )
        )


@blp.post("/simulate")
@blp.arguments(SimulateSchema)
@blp.response(200)
def simulate(body: dict[str, Any]) -> dict[str, Any]:
    """Decide the merchant's returns of the last ``days`` days with the candidate policy and
    with the active one, and report how many decisions change, by rule, with examples."""
    with current_runtime().db.session() as session:
        return policies.simulate(
            session, merchant_id(), body["policy"], body["days"], examples=body["examples"]
        )


def _document_from_request() -> dict[str, Any]:
    if request.mimetype in ("application/yaml", "application/x-yaml", "text/yaml"):
        return parse_policy_text(request.get_data(as_text=True)).document
    try:
        document = json.loads(request.get_data(as_text=True) or "null")
    except (ValueError, RecursionError) as error:
        raise PolicyError("$", f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PolicyError("$", "a policy is a JSON object")
    return document
