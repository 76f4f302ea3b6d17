"""Input at the edges of what the database can hold, and the client's real address."""

from __future__ import annotations

import io
import logging
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from rewards_engine.config import RateLimits
from rewards_engine.crypto import Vault, generate_key
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ids import INT32_MAX
from rewards_engine.models import Redemption
from rewards_engine.services import support
from tests.conftest import app_for, make_token
from tests.support.factories import ADDRESS, BOUNTY, body, clip, consenting_donor, load_program


def test_text_with_a_nul_character_is_refused_by_its_field(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    answer = client.patch("/v1/me", json={"display_name": "Ada\x00"}, headers=auth("ada"))
    assert answer.status_code == 422
    assert "NUL" in answer.get_json()["errors"]["json"]["display_name"][0]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/admin/donors/2147483648",  # past a 32-bit key
        "/v1/admin/submissions/9223372036854775808/review",  # past a 64-bit key
        "/v1/admin/rewards/a%00b/retire",  # NUL in a path segment
    ],
)
def test_ids_no_column_could_hold_are_not_found(client, auth, path) -> None:
    method = "get" if path.startswith("/v1/admin/donors") else "post"
    answer = getattr(client, method)(path, headers=auth("boss", "admin"), json={"reason": "x"})
    assert answer.status_code in (404, 405) and answer.status_code != 500


def test_a_body_over_two_mebibytes_is_413(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    body = b'{"clips": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    answer = client.post(
        "/v1/submissions",
        data=body,
        headers={**auth("ada"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and answer.get_json()["error"] == "payload_too_large"


def test_an_older_encryption_key_still_decrypts_after_rotation() -> None:
    old, new = generate_key(), generate_key()
    sealed = Vault((old,)).encrypt("GIFT-1234")
    assert Vault((new, old)).decrypt(sealed) == "GIFT-1234"  # new first: encrypts; old: reads
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        Vault((new,)).decrypt(sealed)  # the old key removed too early


def test_behind_a_trusted_proxy_limits_key_on_the_client_address(runtime, auth) -> None:
    runtime.settings = replace(  # type: ignore[misc]
        runtime.settings, trusted_proxies=1, rate_limits=RateLimits(0, 0, 0, 2)
    )
    client = app_for(runtime).test_client()

    def guess(address: str) -> int:
        headers = {"Authorization": "Bearer guess.x.y", "X-Forwarded-For": address}
        return client.get("/v1/me", headers=headers).status_code

    assert [guess("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert guess("198.51.100.2") == 401  # another client behind the same proxy


# --- issue 17: hostile input is a 4xx in the error shape and writes nothing -------------

SHAPE = {"code", "status", "error", "message", "request_id"}
GIFT = "gift-card-amazon-10-usd"
CAMERA = "camera-outdoor-s2"
SEED = Actor.system("test-seed")  # funds for a test: no agent's limit or approval applies


def refused(answer, status: int = 422) -> dict:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, (answer.status_code, answer.get_data(as_text=True))
    answer_body = answer.get_json()
    assert set(answer_body) >= SHAPE, answer_body
    return answer_body


def row_count(runtime, table: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return session.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def deep(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("patch", "/v1/me", "donor"),
        ("post", "/v1/submissions", "donor"),
        ("post", "/v1/redemptions", "donor"),
        ("post", "/v1/admin/rewards", "admin"),
        ("post", "/v1/webhooks/paypal", None),  # unauthenticated: parsed before verified
        ("post", "/v1/webhooks/stripe", None),
    ],
)
def test_json_nested_a_thousand_deep_is_a_400_naming_the_body(
    client, runtime, auth, method, path, role
) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    headers = {"Content-Type": "application/json"}
    if role:
        headers |= auth("ada" if role == "donor" else "boss", role)
    answer = getattr(client, method)(path, data=deep(1000), headers=headers)
    body = refused(answer, 400)
    assert body["error"] == "json_too_deep" and "json" in body["errors"]
    arrays = getattr(client, method)(path, data=b"[" * 5000 + b"]" * 5000, headers=headers)
    assert refused(arrays, 400)["error"] == "json_too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    name = '[{"Ada\\" [[[' + "[" * 200  # too long for a name, but not nested JSON
    answer = client.patch("/v1/me", json={"display_name": name}, headers=auth("ada"))
    assert answer.status_code == 422 and "display_name" in answer.get_json()["errors"]["json"]
    fine = client.post(
        "/v1/webhooks/paypal",
        data=deep(20),
        headers={"Content-Type": "application/json"},
    )
    assert refused(fine)["error"] == "invalid_signature"  # parsed, then refused unverified


SURROGATE = "a\ud800"


def _surrogate_cases(runtime, auth):  # type: ignore[no-untyped-def]
    admin, ada = auth("boss", "admin"), auth("ada")
    new_gift = {
        "id": "gift-x",
        "kind": "gift_card",
        "name": SURROGATE,
        "point_cost": 10,
        "brand": "X",
        "denomination_cents": 100,
        "currency": "USD",
    }
    donor = consenting_donor(runtime, "ada")
    return [
        ("post", "/v1/redemptions", ada, {"reward_id": SURROGATE}, ("reward_id",)),
        ("post", "/v1/submissions", ada, body(SURROGATE, [clip()]), ("campaign_id",)),
        (
            "post",
            f"/v1/admin/donors/{donor}/adjustments",
            auth("agent", "support"),
            {"asset": "points", "amount": 5, "reason": "ok " + SURROGATE},
            ("reason",),
        ),
        ("post", "/v1/admin/rewards", admin, new_gift, ("name",)),
        (
            "post",
            "/v1/admin/consent-versions",
            admin,
            {"version": "v9", "title": SURROGATE, "body": "text"},
            ("title",),
        ),
        (
            "post",
            f"/v1/admin/rewards/{CAMERA}/stock",
            admin,
            {"delta": 1, "reason": "delivery " + SURROGATE},
            ("reason",),
        ),
        (
            "post",
            "/v1/redemptions",
            ada,
            {"reward_id": CAMERA, "shipping_address": {**ADDRESS, "name": SURROGATE}},
            ("shipping_address", "name"),
        ),
        ("post", "/v1/submissions", ada, body(BOUNTY, [clip(camera_id=SURROGATE)]), None),
    ]


def test_a_lone_surrogate_is_refused_by_its_field_and_nothing_is_written(
    client, runtime, auth
) -> None:
    load_program(runtime)
    cases = _surrogate_cases(runtime, auth)
    support.adjust(
        runtime.db, runtime.clock, SEED, 1, asset="points", amount=50_000, reason="funds"
    )
    tables = ("redemptions", "clips", "ledger_transfers", "reward_items", "consent_versions")
    before = {table: row_count(runtime, table) for table in tables}
    for method, path, headers, payload, field in cases:
        answer = getattr(client, method)(path, json=payload, headers=headers)
        body_ = refused(answer)
        errors = body_["errors"]["json"]
        if field is None:  # somewhere inside clips[0]
            assert "clips" in errors, errors
            continue
        node = errors
        for part in field:
            node = node[part]
        assert "surrogate" in node[0], (path, errors)
    assert {table: row_count(runtime, table) for table in tables} == before


def test_nested_nul_is_named_by_its_nested_field(client, runtime, auth) -> None:
    load_program(runtime)
    donor = consenting_donor(runtime, "ada")
    support.adjust(
        runtime.db, runtime.clock, SEED, donor, asset="points", amount=50_000, reason="funds"
    )
    answer = client.post(
        "/v1/redemptions",
        json={"reward_id": CAMERA, "shipping_address": {**ADDRESS, "city": "x\x00"}},
        headers=auth("ada"),
    )
    assert "NUL" in refused(answer)["errors"]["json"]["shipping_address"]["city"][0]


def test_nul_in_a_query_string_is_refused_by_name(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    answer = client.get("/v1/submissions?campaign_id=a%00b", headers=auth("ada"))
    assert "NUL" in refused(answer)["errors"]["query"]["campaign_id"][0]


@pytest.mark.parametrize("delta", [3_000_000_000, -3_000_000_000, 2**63])
def test_a_restock_past_a_32_bit_column_is_refused(client, runtime, auth, delta) -> None:
    load_program(runtime)
    answer = client.post(
        f"/v1/admin/rewards/{CAMERA}/stock",
        json={"delta": delta, "reason": "delivery"},
        headers=auth("boss", "admin"),
    )
    assert "delta" in refused(answer)["errors"]["json"]


def test_a_restock_that_would_overflow_the_stock_column_is_refused(client, runtime, auth) -> None:
    load_program(runtime)
    admin = auth("boss", "admin")
    url = f"/v1/admin/rewards/{CAMERA}/stock"
    answer = client.post(url, json={"delta": INT32_MAX, "reason": "delivery"}, headers=admin)
    assert "delta" in refused(answer)["errors"]["json"]


@pytest.mark.parametrize(
    ("path", "role", "payload", "field"),
    [
        ("/v1/admin/medals", "admin", {"bonus_points": 3_000_000_000}, "bonus_points"),
        ("/v1/admin/medals", "admin", {"sort_order": -3_000_000_000}, "sort_order"),
        ("/v1/admin/donors/1/adjustments", "support", {"amount": 2**63}, "amount"),
    ],
)
def test_other_integers_are_bounded_to_their_columns(
    client, runtime, auth, path, role, payload, field
) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    base = {"asset": "points", "reason": "why not"} if "adjust" in path else {}
    answer = client.post(path, json={**base, **payload}, headers=auth("boss", role))
    assert field in refused(answer)["errors"]["json"]


def test_a_code_file_with_a_bare_carriage_return_names_its_line(client, runtime, auth) -> None:
    load_program(runtime)
    before = row_count(runtime, "gift_card_codes")
    answer = client.post(
        f"/v1/admin/rewards/{GIFT}/codes",
        json={"csv": "code\nAAAA-1111-BBBB\nCC\rCC-2222\n"},
        headers=auth("boss", "admin"),
    )
    body_ = refused(answer)
    assert "line 3" in body_["errors"]["json"]["csv"][0]
    assert row_count(runtime, "gift_card_codes") == before


def test_a_failing_statement_logs_no_parameter_value(runtime, caplog) -> None:
    secret = "agent-search-text-8c1f"
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(DBAPIError) as caught,
        runtime.db.read() as session,
    ):
        session.execute(text("SELECT no_such_column FROM donors WHERE 1 = :x"), {"x": secret})
    assert secret not in str(caught.value)
    assert secret not in caplog.text


def test_console_search_with_a_nul_is_a_4xx_page(app, settings) -> None:
    from tests.support.console import sign_in

    agent = sign_in(app.test_client(), make_token(settings, "agent-1", "support"))
    answer = agent.get("/console/donors?q=%00")
    assert answer.status_code == 400 and "NUL" in answer.text


def test_the_console_renders_stored_text_whatever_it_holds(app, runtime, settings) -> None:
    """Text stored before the API refused it (SQLite kept a lone surrogate) must not
    break the redemption queue for every agent."""
    from tests.support.console import sign_in

    if not runtime.db.is_sqlite:
        pytest.skip("PostgreSQL never stores a lone surrogate")
    load_program(runtime)
    donor = consenting_donor(runtime, "ada")
    support.adjust(
        runtime.db, runtime.clock, SEED, donor, asset="points", amount=50_000, reason="funds"
    )
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:  # as the API stored it before the fix
        uow.session.add(
            Redemption(
                donor_id=donor,
                item_id=CAMERA,
                kind="camera",
                point_cost=9000,
                status="requested",
                shipping_address={**ADDRESS, "name": "Ada \ud800 <b>L</b>"},
                created_at=now,
                updated_at=now,
            )
        )
    agent = sign_in(app.test_client(), make_token(settings, "agent-1", "support"))
    page = agent.get("/console/redemptions")
    assert page.status_code == 200
    assert "Ada \ufffd &lt;b&gt;L&lt;/b&gt;" in page.text


# --- currencies (ISO 4217) ------------------------------------------------------------


def test_a_cash_adjustment_in_no_real_currency_is_refused(client, runtime, auth) -> None:
    load_program(runtime)
    donor = consenting_donor(runtime, "ada")
    url, agent = f"/v1/admin/donors/{donor}/adjustments", auth("agent", "support")
    before = row_count(runtime, "ledger_transfers")
    for currency in ("ZZZ", "XXX", "XAU"):
        payload = {"asset": "cash", "amount": 500, "currency": currency, "reason": "bonus"}
        answer = refused(client.post(url, json=payload, headers=agent))
        assert answer["error"] == "invalid_currency" and "currency" in answer["errors"]["json"]
    points = {"asset": "points", "amount": 5, "currency": "USD", "reason": "bonus"}
    answer = refused(client.post(url, json=points, headers=agent))
    assert answer["error"] == "currency_not_allowed" and "currency" in answer["errors"]["json"]
    assert row_count(runtime, "ledger_transfers") == before
    cash = {"asset": "cash", "amount": 500, "currency": "eur", "reason": "bonus"}
    assert client.post(url, json=cash, headers=agent).get_json()["currency"] == "EUR"


def test_campaigns_and_rewards_take_only_real_currencies(client, runtime, auth) -> None:
    load_program(runtime)
    admin = auth("boss", "admin")
    campaign = client.patch(
        "/v1/admin/campaigns/theft-bounty-2024",
        json={"currency": "ZZZ", "reason": "typo test"},
        headers=admin,
    )
    assert "currency" in refused(campaign)["errors"]["json"]
    gift = {
        "id": "gift-zzz",
        "kind": "gift_card",
        "name": "Gift",
        "point_cost": 10,
        "brand": "X",
        "denomination_cents": 100,
        "currency": "ZZZ",
    }
    assert (
        "currency"
        in refused(client.post("/v1/admin/rewards", json=gift, headers=admin))["errors"]["json"]
    )


# --- display names over HTTP ------------------------------------------------------------


def test_invisible_display_names_are_refused_and_hindi_is_accepted(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    for invisible in ("\u3164\u3164\u3164", "\uffa0\uffa0", "\u2800\u2800", "A\u200bB"):
        answer = client.patch("/v1/me", json={"display_name": invisible}, headers=auth("ada"))
        assert refused(answer)["error"] == "invalid_display_name"
    named = client.patch("/v1/me", json={"display_name": "नमस्ते"}, headers=auth("ada"))
    assert named.status_code == 200 and named.get_json()["display_name"] == "नमस्ते"


# --- item 6: strict numbers, unknown query parameters, 413, empty PATCH ----------------


def test_numbers_sent_as_strings_are_refused(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    answer = client.post(
        "/v1/submissions", json=body(BOUNTY, [clip(duration_s="30")]), headers=auth("ada")
    )
    assert "duration_s" in refused(answer)["errors"]["json"]["clips"]["0"]
    assert row_count(runtime, "clips") == 0


def test_schema_numbers_in_json_bodies_are_strict_and_bounded(app) -> None:
    """Every integer or float field of every JSON body the API reads refuses strings
    and has bounds its column can hold (a guard for fields added later)."""
    import marshmallow as ma

    from api.schemas.common import StrictFloat

    def numbers(schema, path=""):  # type: ignore[no-untyped-def]
        for name, field in schema.fields.items():
            yield from walk(field, f"{path}{name}")

    def walk(field, path):  # type: ignore[no-untyped-def]
        if isinstance(field, ma.fields.Number):
            yield path, field
        elif isinstance(field, ma.fields.List):
            yield from walk(field.inner, path + "[]")
        elif isinstance(field, ma.fields.Dict) and field.value_field is not None:
            yield from walk(field.value_field, path + "{}")
        elif isinstance(field, ma.fields.Nested):
            yield from numbers(field.schema, path + ".")

    checked = 0
    for view in app.view_functions.values():
        cls = getattr(view, "view_class", None)
        for method in ("post", "put", "patch", "delete"):
            function = getattr(cls, method, None)
            params = getattr(function, "_apidoc", {}).get("arguments", {}).get("parameters", [])
            for param in params:
                if param["in"] != "json":
                    continue
                schema = param["schema"]
                schema = schema() if isinstance(schema, type) else schema
                for path, field in numbers(schema):
                    checked += 1
                    strict = isinstance(field, StrictFloat) or getattr(field, "strict", False)
                    assert strict, f"{type(schema).__name__}.{path} accepts strings"
                    ranges = [v for v in field.validators if isinstance(v, ma.validate.Range)]
                    bounded = any(r.max is not None and r.min is not None for r in ranges)
                    if isinstance(field, ma.fields.Integer) and path != "amount":
                        assert bounded, f"{type(schema).__name__}.{path} is unbounded"
    assert checked > 20


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/campaigns?bogus=1", None),  # an operation with no query parameters
        ("/v1/me/ledger?limit=5&colour=red", "donor"),
        ("/v1/honor-wall?board=all_time&sort=asc", None),
    ],
)
def test_unknown_query_parameters_are_a_422_naming_them(client, runtime, auth, path, role):  # type: ignore[no-untyped-def]
    load_program(runtime)
    consenting_donor(runtime, "ada")
    headers = auth("ada") if role else {}
    answer = refused(client.get(path, headers=headers))
    assert answer["error"] == "unknown_query_parameter"
    unknown = set(answer["errors"]["query"])
    assert unknown and unknown <= {"bogus", "colour", "sort"}
    assert client.get(path.split("?")[0] + "?limit=5" if role else path.split("?")[0],
                      headers=headers).status_code == 200  # fmt: skip


def test_a_chunked_body_over_two_mebibytes_is_413_in_the_error_shape(client, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    big = b'{"clips": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    answer = client.post(
        "/v1/submissions",
        input_stream=io.BytesIO(big),
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets for chunked
        headers={**auth("ada"), "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert refused(answer, 413)["error"] == "payload_too_large"


@pytest.mark.parametrize("payload", [None, {}])
def test_a_profile_patch_that_changes_nothing_is_a_422(client, runtime, auth, payload) -> None:
    load_program(runtime)
    consenting_donor(runtime, "ada")
    answer = client.patch("/v1/me", json=payload, headers=auth("ada"))
    result = refused(answer)
    assert result["error"] == "nothing_to_change" and "_schema" in result["errors"]["json"]


# --- item 10: HTTP conformance --------------------------------------------------------


def test_a_405_names_the_allowed_methods(client) -> None:
    answer = client.delete("/v1/campaigns")
    assert refused(answer, 405)["error"] == "method_not_allowed"
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    assert "DELETE" not in answer.headers["Allow"]


def test_the_published_error_schema_allows_details_and_null_erased_ids(client) -> None:
    spec = client.get("/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["details"]["type"] == "object"
    assert "details" not in error.get("required", [])
    profile = spec["components"]["schemas"]["Profile"]["properties"]["account_id"]
    assert profile.get("nullable") is True


def test_a_409_with_details_matches_the_published_error_schema(client, runtime, auth) -> None:
    load_program(runtime)
    donor = consenting_donor(runtime, "ada")
    answer = client.post(
        f"/v1/admin/donors/{donor}/adjustments",
        json={"asset": "points", "amount": -5, "reason": "too much"},
        headers=auth("agent", "support"),
    )
    found = refused(answer, 409)
    spec = client.get("/openapi.json").get_json()
    assert set(found) <= set(spec["components"]["schemas"]["Error"]["properties"])


def test_an_erased_donors_profile_has_a_null_account_id(client, runtime, auth) -> None:
    from datetime import timedelta

    from rewards_engine.jobs import find_job
    from rewards_engine.scheduler import run_job

    load_program(runtime)
    donor = consenting_donor(runtime, "ben")
    assert client.delete("/v1/me", headers=auth("ben")).status_code == 202
    runtime.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    run_job(runtime, find_job("erase-donors"))
    answer = client.get(f"/v1/admin/donors/{donor}", headers=auth("agent", "support"))
    assert answer.status_code == 200
    assert answer.get_json()["profile"]["account_id"] is None


def test_an_overlong_target_or_header_is_answered_by_the_app_in_the_error_shape(client) -> None:
    """Below gunicorn's own limits (8190-byte request line and fields), the app answers
    414 and 431 in the error shape; gunicorn's HTML page only past them."""
    long_target = refused(client.get("/v1/campaigns?cursor=" + "x" * 5000), 414)
    assert long_target["error"] == "uri_too_long"
    big_header = refused(client.get("/v1/campaigns", headers={"X-Big": "y" * 5000}), 431)
    assert big_header["error"] == "headers_too_large"
    assert "X-Big" in big_header["errors"]["headers"]
    many = {f"X-H{n}": "1" for n in range(80)}
    assert refused(client.get("/v1/campaigns", headers=many), 431)["error"] == "headers_too_large"
    assert client.get("/v1/campaigns", headers={"X-Fine": "y" * 3000}).status_code == 200


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_timestamp_no_utc_time_can_hold_is_refused_by_name(client, runtime, auth, moment) -> None:  # type: ignore[no-untyped-def]
    admin = auth("ops", "admin")
    answer = client.get("/v1/admin/audit-log", query_string={"since": moment}, headers=admin)
    assert "since" in refused(answer)["errors"]["query"]
    load_program(runtime)
    consenting_donor(runtime, "ada")
    payload = body(BOUNTY, [clip(recorded_at=moment)])
    answer = client.post("/v1/submissions", json=payload, headers=auth("ada"))
    assert "recorded_at" in str(refused(answer)["errors"])
    assert row_count(runtime, "clips") == 0
