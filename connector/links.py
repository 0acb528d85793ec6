"""Signed, expiring links to label files, for those who hold no API key: the buyer's
download, the URL a platform fetches a label from. The file a link names cannot be changed
without breaking its signature."""

from __future__ import annotations

from typing import Any

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import models

SALT = "helloword.label-file"
VALID_FOR = 30 * 24 * 3600  # as long as a label may go unused before the return expires


def signer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def file_url(secret_key: str, public_url: str, label_file_id: int) -> str:
    return f"{public_url}/files/{signer(secret_key).dumps({'file': label_file_id})}"


def read(secret_key: str, token: str) -> dict[str, Any]:
    """The link's contents; ``itsdangerous`` raises when it is forged or expired."""
    data: dict[str, Any] = signer(secret_key).loads(token, max_age=VALID_FOR)
    return data


def label_url(
    session: Session, secret_key: str, public_url: str, return_id: int, tracking_number: str
) -> str:
    """A signed link to the PDF label of the return's shipment with this tracking number."""
    label_id = session.scalar(
        select(models.LabelFile.id)
        .join(models.Shipment, models.LabelFile.shipment_id == models.Shipment.id)
        .where(
            models.Shipment.return_id == return_id,
            models.Shipment.tracking_number == tracking_number,
            models.LabelFile.format == "pdf",
        )
    )
    if label_id is None:
        return ""
    return file_url(secret_key, public_url, label_id)
