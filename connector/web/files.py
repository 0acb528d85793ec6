"""Label files for people and platforms without an API key: the buyer's download link, the
URL a platform fetches a label from. Each URL is signed and expires; the file it names cannot
be changed without breaking the signature."""

from __future__ import annotations

from flask import Blueprint, abort, send_file
from itsdangerous import BadSignature, SignatureExpired
from werkzeug.wrappers import Response

from .. import links
from ..db import models
from ..runtime import current_runtime

files = Blueprint("files", __name__)

TYPES = {
    "pdf": ("application/pdf", "pdf"),
    "zpl": ("application/zpl", "zpl"),
    "png": ("image/png", "png"),
    "invoice": ("application/pdf", "pdf"),
}


@files.get("/files/<token>")
def download(token: str) -> Response:
    runtime = current_runtime()
    try:
        data = links.read(runtime.settings.secret_key, token)
    except SignatureExpired:
        abort(410, description="this link has expired; ask for a new one")
    except BadSignature:
        abort(404)
    with runtime.db.session() as session:
        row = session.get(models.LabelFile, int(data["file"]))
        rma = None
        if row is not None:
            shipment = session.get(models.Shipment, row.shipment_id)
            return_ = session.get(models.Return, shipment.return_id) if shipment else None
            rma = return_.rma if return_ else None
    if row is None:
        abort(404)
    mimetype, extension = TYPES.get(row.format, ("application/octet-stream", "bin"))
    suffix = "-invoice" if row.format == "invoice" else ""
    return send_file(
        runtime.files.path(row.path),
        mimetype=mimetype,
        download_name=f"{rma or 'label'}{suffix}.{extension}",
    )
