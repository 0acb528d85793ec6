"""The API describes itself: an OpenAPI 3 document, a page to try it, and JSON errors for
anything under /api that is not there."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Blueprint

from connector.domain import IllegalTransition, Status
from connector.errors import NotFound, ValidationError
from connector.web.api.errors import translate_service_errors

PATHS = {
    "/api/v1/stores": {"get", "post"},
    "/api/v1/stores/{store_id}": {"get"},
    "/api/v1/orders": {"get"},
    "/api/v1/orders/{order_id}": {"get"},
    "/api/v1/returns": {"get", "post"},
    "/api/v1/returns/{return_id}": {"get"},
    "/api/v1/returns/{return_id}/label.{label_format}": {"get"},
    "/api/v1/returns/{return_id}/receive": {"post"},
    "/api/v1/returns/{return_id}/shipment": {"post"},
    "/api/v1/returns/{return_id}/grade": {"post"},
    "/api/v1/returns/{return_id}/cancel": {"post"},
    "/api/v1/returns/{return_id}/review": {"post"},
    "/api/v1/returns/{return_id}/refund": {"post"},
    "/api/v1/returns/{return_id}/refund/settle": {"post"},
    "/api/v1/returns/preview": {"post"},
    "/api/v1/policy": {"get", "put"},
    "/api/v1/policy/versions": {"get"},
    "/api/v1/policy/simulate": {"post"},
    "/api/v1/routing/preview": {"post"},
    "/api/v1/routing/settings": {"get", "put"},
    "/api/v1/privacy-requests": {"get"},
    "/api/v1/stores/{store_id}/settings": {"patch"},
    "/api/v1/stores/{store_id}/locations": {"get"},
    "/api/v1/privacy-requests/{request_id}/export.json": {"get"},
    "/api/v1/returns/{return_id}/invoice.pdf": {"get"},
    "/api/v1/destinations": {"get", "post"},
    "/api/v1/destinations/{destination_id}": {"get", "delete"},
    "/api/v1/carrier-accounts": {"get", "post"},
    "/api/v1/carrier-accounts/{account_id}": {"delete"},
    "/api/v1/api-keys": {"get", "post"},
    "/api/v1/api-keys/{key_id}": {"delete"},
}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_the_openapi_document_lists_every_endpoint_behind_the_bearer_scheme(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json

    assert document["openapi"] == "3.0.3"
    assert document["info"] == {
        "title": "Helloword",
        "version": "v1",
        "description": document["info"]["description"],
    }
    assert document["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerAuth": []}]
    operations = {
        path: {method for method in item if method in {"get", "post", "put", "delete", "patch"}}
        for path, item in document["paths"].items()
    }
    assert operations == PATHS
    for path, item in document["paths"].items():
        for method in PATHS[path]:
            responses = item[method]["responses"]
            assert responses, (path, method)
            for response in responses.values():
                assert "$ref" in response or response["description"], (path, method)


def test_every_reference_in_the_document_resolves(client):
    document = client.get("/api/openapi.json").json
    for ref in _refs(document):
        assert ref.startswith("#/"), ref
        node = document
        for part in ref[2:].split("/"):
            node = node[part]
        assert isinstance(node, dict), ref


def test_the_document_carries_the_field_rules(client):
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    line = schemas["ReturnLineRequest"]
    assert set(line["required"]) == {"order_line_id", "quantity", "reason"}
    assert line["properties"]["quantity"]["minimum"] == 1
    assert "SIZE_TOO_SMALL" in line["properties"]["reason"]["enum"]
    assert schemas["Store"]["properties"]["secrets"]["writeOnly"] is True
    assert set(schemas["Money"]["properties"]) == {"amount", "currency"}


def test_the_docs_page_is_html_that_loads_the_document(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "swagger-ui" in page
    assert "/api/openapi.json" in page


def test_an_unknown_route_under_api_answers_json_404(client):
    for path in ("/api/v2/returns", "/api/v1/nothing", "/api/v1/returns/not-a-number"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.is_json, path
        assert response.json["code"] == 404


def test_a_wrong_method_under_api_answers_json_405(client):
    response = client.put("/api/v1/returns")
    assert response.status_code == 405
    assert response.json["status"] == "Method Not Allowed"


def test_pages_outside_api_keep_their_own_error_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response.is_json


def test_the_services_errors_answer_as_json_with_their_field():
    app = Flask(__name__)
    blueprint = Blueprint("probe", __name__)
    translate_service_errors(blueprint)

    @blueprint.get("/invalid")
    def invalid() -> None:
        raise ValidationError("lines[1].quantity", "only 1 of 2 units can still be returned")

    @blueprint.get("/missing")
    def missing() -> None:
        raise NotFound("return 7 does not exist")

    @blueprint.get("/illegal")
    def illegal() -> None:
        raise IllegalTransition(Status.RECEIVED, Status.CLOSED)

    app.register_blueprint(blueprint)
    client = app.test_client()

    invalid_response = client.get("/invalid")
    assert invalid_response.status_code == 422
    assert invalid_response.json["status"] == "Unprocessable Entity"
    assert invalid_response.json["errors"] == {
        "json": {"lines": {"1": {"quantity": ["only 1 of 2 units can still be returned"]}}}
    }
    missing_response = client.get("/missing")
    assert (missing_response.status_code, missing_response.json["code"]) == (404, 404)
    illegal_response = client.get("/illegal")
    assert illegal_response.status_code == 409
    assert illegal_response.json["status"] == "Conflict"
    assert "RECEIVED" in illegal_response.json["message"]
