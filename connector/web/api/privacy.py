"""The platforms' data-protection requests for the merchant's stores: customer data exports
to hand to the customer, and the erasures done on the platform's behalf."""

from __future__ import annotations

from flask import Response, send_file
from marshmallow import Schema, fields
from sqlalchemy import select

from ...db import models
from ...errors import NotFound
from ...runtime import current_runtime
from .auth import api_blueprint, merchant_id, owned

blp = api_blueprint(
    "privacy", "/api/v1/privacy-requests", "Customer data exports and erasures, as platforms ask."
)


class PrivacyRequestSchema(Schema):
    id = fields.Integer()
    store_id = fields.Integer()
    kind = fields.String(metadata={"enum": ["data_request", "customer_redact", "shop_redact"]})
    reference = fields.String(metadata={"description": "The platform's id for the request."})
    subject = fields.Dict(metadata={"description": "The customer a data request names."})
    summary = fields.Dict(metadata={"description": "How many records were exported or erased."})
    export_ready = fields.Function(lambda row: bool(row.export_path), metadata={"type": "boolean"})
    created_at = fields.DateTime()


@blp.get("")
@blp.response(200, PrivacyRequestSchema(many=True))
def list_requests() -> list[models.PrivacyRequest]:
    """Every data-protection request the merchant's stores received, newest first."""
    with current_runtime().db.session() as session:
        return list(
            session.scalars(
                select(models.PrivacyRequest)
                .where(models.PrivacyRequest.merchant_id == merchant_id())
                .order_by(models.PrivacyRequest.id.desc())
            )
        )


@blp.get("/<int:request_id>/export.json")
@blp.doc(responses={"200": {"description": "What Helloword holds on the customer, as JSON."}})
def download_export(request_id: int) -> Response:
    """The export a customer data request produced, to hand to the customer."""
    runtime = current_runtime()
    with runtime.db.session() as session:
        row = owned(session, models.PrivacyRequest, request_id, "privacy request")
        path = row.export_path
    if not path:
        raise NotFound(f"privacy request {request_id} has no export")
    return send_file(
        runtime.files.path(path),
        mimetype="application/json",
        download_name=f"data-request-{request_id}.json",
    )
