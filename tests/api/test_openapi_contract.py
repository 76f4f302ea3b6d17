"""The OpenAPI document is a contract generated clients can use as it is (issue 22):
operation ids, the one error shape, typed fields, security, servers and response
headers. The tools that read it (validators, linters, client generators) run in
tests/contract."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from api.errors import error_body
from api.openapi import OPERATION_IDS, RATE_LIMITED

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").get_json()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, item[method])
        for path, item in spec["paths"].items()
        for method in METHODS
        if method in item
    ]


def schema_of(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def test_every_operation_has_a_unique_readable_operation_id(spec) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(spec)]
    assert None not in ids and len(ids) >= 80
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    assert all(i.isidentifier() and i[0].islower() for i in ids)  # camelCase method names
    named = {
        (method, path): operation["operationId"] for method, path, operation in operations(spec)
    }
    assert named[("get", "/v1/me")] == "getMe"
    assert named[("get", "/v1/me/notifications")] == "listMyNotifications"
    assert named[("post", "/v1/me/notifications/{notification_id}/read")] == "markNotificationRead"
    assert named[("get", "/v1/submissions/{clip_id}")] == "getSubmission"
    assert named[("post", "/v1/admin/medals/{code}/retire")] == "adminRetireMedal"
    assert set(OPERATION_IDS) <= set(named), "an override names no operation"


def test_every_error_answer_uses_the_error_schema(spec) -> None:
    wrong = []
    for method, path, operation in operations(spec):
        for code, response in operation["responses"].items():
            if code[0] not in "45" or "$ref" in response:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if (method, path, code) == ("get", "/readyz", "503"):
                assert schema == {"$ref": "#/components/schemas/Health"}  # says which failed
            elif schema != {"$ref": "#/components/schemas/Error"}:
                wrong.append(f"{method.upper()} {path} {code}")
    assert wrong == []


def test_the_error_schema_is_what_the_app_sends(spec, app) -> None:
    error = schema_of(spec, "Error")
    assert set(error["required"]) == {"code", "status", "error", "message"}
    with app.test_request_context():
        from flask import g

        g.request_id = "r-1"
        sent = error_body(409, "conflict", "no", {"json": {"x": ["bad"]}})
    sent["details"] = {"available": 3}
    assert set(sent) <= set(error["properties"])
    assert set(error["required"]) <= set(sent)
    assert error["properties"]["errors"]["additionalProperties"]["type"] == "object"


def test_public_operations_say_so_and_the_others_name_the_bearer_scheme(spec) -> None:
    security = {(m, p): o["security"] for m, p, o in operations(spec)}
    assert security[("get", "/v1/campaigns")] == []
    assert security[("get", "/v1/honor-wall")] == []
    assert security[("post", "/v1/webhooks/stripe")] == []
    assert security[("get", "/v1/me")] == [{"bearerAuth": []}]
    assert security[("get", "/v1/me/data-requests/{request_id}")] == [{}, {"bearerAuth": []}]
    assert spec["servers"][0]["url"].startswith("http")
    assert spec["info"]["license"]["name"] and spec["info"]["contact"]["name"]


def test_response_headers_are_declared_where_they_are_sent(spec) -> None:
    headers = spec["components"]["headers"]
    assert {"X_REQUEST_ID", "RETRY_AFTER", "IDEMPOTENT_REPLAYED", "RATE_LIMIT"} <= set(headers)
    for method, path, operation in operations(spec):
        for code, response in operation["responses"].items():
            if "$ref" in response:
                continue
            sent = response.get("headers", {})
            assert "X-Request-Id" in sent, (method, path, code)
            if code in ("429", "503"):
                assert "Retry-After" in sent, (method, path, code)
            if code == "429":
                assert "RateLimit" in sent and "quota" in response["description"]
    for response in spec["components"]["responses"].values():
        assert "X-Request-Id" in response["headers"]
    assert "ETag" in spec["components"]["responses"]["NOT_MODIFIED"]["headers"]
    assert "ETag" in spec["paths"]["/v1/me"]["get"]["responses"]["200"]["headers"]
    donate = spec["paths"]["/v1/submissions"]["post"]["responses"]
    assert {"Idempotent-Replayed", "RateLimit", "RateLimit-Policy"} <= set(donate["201"]["headers"])
    assert "RATE_LIMIT_SUBMISSIONS" in donate["429"]["description"]
    assert all(path in spec["paths"] for _, path in RATE_LIMITED)


def test_free_form_fields_with_a_known_shape_are_typed(spec) -> None:
    def ref(name: str) -> str:
        return f"#/components/schemas/{name}"

    def target(field: dict[str, Any]) -> str:
        """The schema a field names: itself, or the first of its allOf or anyOf."""
        return str((field.get("allOf") or field.get("anyOf") or [field])[0]["$ref"])

    clip = schema_of(spec, "Clip")["properties"]
    assert target(clip["earned"]) == ref("ClipEarned")
    assert set(schema_of(spec, "ClipEarned")["required"]) == {"points", "cash_cents", "currency"}
    assert target(schema_of(spec, "SubmissionResult")["properties"]["earned"]) == ref("Earned")
    assert clip["perceptual_hash"]["type"] == "string" and clip["perceptual_hash"]["nullable"]
    assert clip["vested"]["type"] == "boolean"
    me = schema_of(spec, "Me")["properties"]["payout"]
    assert me["anyOf"][0] == {"$ref": ref("PayoutSummary")}
    assert schema_of(spec, "Medal")["properties"]["progress"]["anyOf"][0] == {
        "$ref": ref("Progress")
    }
    evidence = schema_of(spec, "Award")["properties"]["evidence"]
    assert {"count", "threshold", "first_day", "rank"} <= set(evidence["properties"])
    assert evidence["additionalProperties"] is True
    address = schema_of(spec, "Redeem")["properties"]["shipping_address"]
    assert set(address["required"]) == {"name", "line1", "city", "postal_code", "country"}
    assert "shipping_address" not in schema_of(spec, "Redeem").get("required", [])
    export = spec["paths"]["/v1/me/export"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"] == {"$ref": ref("Export")}
    assert {"profile", "clips", "ledger", "redemptions"} <= set(
        schema_of(spec, "Export")["required"]
    )


def test_nullable_enums_and_optional_fields_read_as_generators_expect(spec) -> None:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for node in walk(spec["components"]["schemas"]):
        if "enum" in node and node["enum"] != [None]:
            assert None not in node["enum"], node
        assert not ("default" in node and node["default"] is None), node
    provider = schema_of(spec, "CampaignInput")["properties"]["payout_provider"]
    assert provider["nullable"] and provider["enum"] == ["paypal", "stripe", "manual"]


def test_the_document_is_valid_openapi(spec) -> None:
    validator = pytest.importorskip(
        "openapi_spec_validator", reason="openapi-spec-validator (dev extra) is not installed"
    )
    validator.validate(spec)
