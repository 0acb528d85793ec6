"""What the platforms' linking pages (Shopify's install, Amazon's authorization) answer."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from markupsafe import escape


def answer(status: int, title: str, message: str, data: dict[str, Any] | None = None) -> Response:
    """A page for the seller's browser, or JSON for a client that asks for it."""
    accepted = request.accept_mimetypes
    if accepted["application/json"] > accepted["text/html"]:
        reply = jsonify(data if data is not None else {"error": message})
        reply.status_code = status
        return reply
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>Helloword: {escape(title)}</title>"
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p></html>"
    )
    return Response(page, status=status, mimetype="text/html")
