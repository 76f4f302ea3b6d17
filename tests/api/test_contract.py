"""The OpenAPI document, the docs page and the one error shape."""


def test_openapi_lists_the_v1_routes_with_bearer_security(client) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/v1/me", "/v1/campaigns", "/v1/campaigns/{campaign_id}"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = spec["paths"]["/v1/me"]
    assert me["get"]["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(me["patch"]["responses"])
    assert spec["paths"]["/v1/campaigns"]["get"]["security"] == []  # public, and says so


def test_interactive_docs_are_served_with_their_assets_offline(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert b"/docs/assets/swagger-ui-bundle.js" in page.data
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    asset.close()


def test_unknown_routes_and_methods_answer_in_the_error_shape(client) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert set(missing.get_json()) >= {"code", "status", "error", "message", "request_id"}
    wrong = client.delete("/v1/campaigns")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"] == "method_not_allowed"


def test_request_ids_are_echoed_or_made(client) -> None:
    given = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["X-Request-Id"] != "bad id with spaces"
    assert len(made.headers["X-Request-Id"]) == 32


def test_an_unexpected_error_is_a_json_500_without_details(app) -> None:
    @app.route("/boom")
    def boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "internal_error"
    assert "secret internals" not in response.get_data(as_text=True)
