"""The support console over HTTP (Werkzeug's client): sign-in, the session cookie, CSRF,
roles, and each form reaching the same services as the API, audited with the agent."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select

from rewards_engine.models import AuditRecord, Clip, LedgerTransfer, Redemption
from rewards_engine.services import ledger
from tests.conftest import app_for, make_token
from tests.support.cameras import register_camera
from tests.support.console import World, build_world, csrf_of, sign_in


@pytest.fixture
def world(runtime, client, auth) -> World:
    return build_world(runtime, client, auth)


def signed_in(request, app, settings, subject: str, role: str):  # type: ignore[no-untyped-def]
    """Sign in after the test's world is built: building it moves the test clock days
    on, and a server-side session left idle that long has ended."""
    if "world" in request.fixturenames:
        request.getfixturevalue("world")
    return sign_in(app.test_client(), make_token(settings, subject, role))


@pytest.fixture
def support_client(request, app, settings):  # type: ignore[no-untyped-def]
    return signed_in(request, app, settings, "agent-1", "support")


@pytest.fixture
def admin_client(request, app, settings):  # type: ignore[no-untyped-def]
    return signed_in(request, app, settings, "boss", "admin")


def form_of(client, url: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get(url)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def flashes(client, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    page = client.get(url).text
    return [re.sub(r"\s+", " ", m) for m in re.findall(r'class="flash \w+"[^>]*>([^<]*)<', page)]


def audit_rows(runtime, action: str) -> list[AuditRecord]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


# --- signing in ----------------------------------------------------------------------------


def test_pages_send_a_signed_out_agent_to_sign_in_and_back(client, settings) -> None:
    answer = client.get("/console/donors?q=ada")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/sign-in?next=/console/donors?q%3Dada"
    form = client.get(answer.headers["Location"])
    signed = client.post(
        "/console/sign-in",
        data={
            "token": make_token(settings, "agent-1", "support"),
            "csrf_token": csrf_of(form.text),
            "next": "/console/donors?q=ada",
        },
    )
    assert signed.status_code == 303 and signed.headers["Location"] == "/console/donors?q=ada"
    cookie = signed.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/console"):
        assert attribute in cookie
    assert client.get("/console/donors?q=ada").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/v1/me",
        "/console/\r\nX-Evil: 1",
        "/console/\x00",
    ],
)
def test_sign_in_never_redirects_off_the_console(client, settings, target) -> None:
    form = client.get("/console/sign-in")
    signed = client.post(
        "/console/sign-in",
        data={
            "token": make_token(settings, "agent-1", "support"),
            "csrf_token": csrf_of(form.text),
            "next": target,
        },
    )
    assert signed.headers["Location"] == "/console/donors"


def test_bad_tokens_and_donor_tokens_cannot_sign_in(client, settings) -> None:
    csrf = csrf_of(client.get("/console/sign-in").text)
    forged = client.post("/console/sign-in", data={"token": "not.a.jwt", "csrf_token": csrf})
    assert forged.status_code == 401 and "cannot be used" in forged.text
    expired = make_token(settings, "agent-1", "support", ttl_s=-120)
    late = client.post("/console/sign-in", data={"token": expired, "csrf_token": csrf})
    assert late.status_code == 401 and "expired" in late.text
    donor = make_token(settings, "ada", "donor")
    refused = client.post("/console/sign-in", data={"token": donor, "csrf_token": csrf})
    assert refused.status_code == 403
    assert client.get("/console/donors").status_code == 303  # still signed out


def test_sign_in_itself_needs_the_csrf_token(client, settings) -> None:
    """Login CSRF: a page elsewhere cannot sign an agent into someone else's session."""
    client.get("/console/sign-in")
    token = make_token(settings, "attacker", "support")
    answer = client.post("/console/sign-in", data={"token": token})
    assert answer.status_code == 403
    assert client.get("/console/donors").status_code == 303


def test_the_session_ends_with_its_token(client, settings, clock) -> None:
    clock.set(datetime.now(UTC))  # the session's clock on the token's (real) time line
    token = make_token(settings, "agent-1", "support", ttl_s=2)  # exp: 1 to 2 s on
    sign_in(client, token)
    assert client.get("/console/donors").status_code == 200
    # The server-side session ends at the token's exp, read on the runtime's clock.
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    clock.set(datetime.fromtimestamp(expires - 1, UTC))
    assert client.get("/console/donors").status_code == 200
    clock.set(datetime.fromtimestamp(expires, UTC))
    assert client.get("/console/donors").status_code == 303


def test_sign_out_ends_the_session(support_client) -> None:
    csrf = form_of(support_client, "/console/donors")
    assert support_client.post("/console/sign-out", data={"csrf_token": csrf}).status_code == 303
    assert support_client.get("/console/donors").status_code == 303


def test_a_console_without_its_secret_is_closed_and_says_why(runtime) -> None:
    app = app_for(runtime, replace(runtime.settings, console_secret=None))
    answer = app.test_client().get("/console/sign-in")
    assert answer.status_code == 503 and "CONSOLE_SECRET" in answer.text
    assert app.test_client().get("/healthz").status_code in (200, 503)  # the API is not closed


def test_pages_forbid_framing_scripts_and_caching(support_client) -> None:
    headers = support_client.get("/console/donors").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none'
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"


# --- CSRF and roles ------------------------------------------------------------------------


def adjust_form(world: World, csrf: str, **overrides: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "asset": "points",
        "amount": "500",
        "reason": "goodwill after an app outage",
        "idempotency_key": "form-1",
    } | overrides


def test_a_form_without_the_session_csrf_token_changes_nothing(
    support_client, runtime, world
) -> None:
    before = ledger.donor_balances(runtime.db, world.ada).points_available
    url = f"/console/donors/{world.ada}/adjustments"
    missing = support_client.post(url, data=adjust_form(world, ""))
    wrong = support_client.post(url, data=adjust_form(world, "x" * 43))
    assert missing.status_code == 403 and wrong.status_code == 403
    assert "expired or did not come from the console" in wrong.text
    assert ledger.donor_balances(runtime.db, world.ada).points_available == before


def test_a_form_posted_from_another_origin_is_refused(support_client, runtime, world) -> None:
    csrf = form_of(support_client, f"/console/donors/{world.ada}")
    before = ledger.donor_balances(runtime.db, world.ada).points_available
    answer = support_client.post(
        f"/console/donors/{world.ada}/adjustments",
        data=adjust_form(world, csrf),
        headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403
    assert ledger.donor_balances(runtime.db, world.ada).points_available == before


def test_support_cannot_see_payouts_or_the_audit_log(support_client, admin_client) -> None:
    for url in ("/console/payouts", "/console/payouts/1", "/console/audit"):
        assert support_client.get(url).status_code == 403
    assert admin_client.get("/console/payouts").status_code == 200
    assert admin_client.get("/console/audit").status_code == 200
    nav = support_client.get("/console/donors").text
    assert "Audit log" not in nav and "Payouts" not in nav
    assert "Audit log" in admin_client.get("/console/donors").text


# --- the pages and their forms ---------------------------------------------------------------


def test_search_by_id_account_or_name_prefix(support_client, world) -> None:
    def found(query: str) -> list[str]:
        page = support_client.get("/console/donors", query_string={"q": query}).text
        return re.findall(r'href="/console/donors/(\d+)"', page)

    assert found("ada lov") == [str(world.ada)]  # any case, a prefix
    assert found("farm") == [str(world.farm)]  # the account id
    assert found(str(world.farm)) == [str(world.farm)]
    assert found("lovelace") == []  # a prefix, not a substring
    assert found("%") == []  # LIKE wildcards are literal


def test_adjusting_points_is_audited_with_the_agent_and_applies_once(
    support_client, runtime, world
) -> None:
    before = ledger.donor_balances(runtime.db, world.ada).points_available
    url = f"/console/donors/{world.ada}"
    csrf = form_of(support_client, url)
    for _ in range(2):  # the form sent twice (a double click, a reload): applied once
        answer = support_client.post(f"{url}/adjustments", data=adjust_form(world, csrf))
        assert answer.status_code == 303 and answer.headers["Location"] == url
    assert ledger.donor_balances(runtime.db, world.ada).points_available == before + 500
    [record] = audit_rows(runtime, "ledger.adjust")[-1:]
    assert record.actor_id == "support:agent-1" and record.reason == "goodwill after an app outage"
    page = support_client.get(url).text
    assert f"{before + 500:,}" in page


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "lots"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"reason": ""}, "reason"),
        ({"asset": "cash", "currency": ""}, "currency"),
        ({"asset": "gold"}, "asset"),
    ],
)
def test_a_bad_adjustment_names_its_field_and_changes_nothing(
    support_client, runtime, world, overrides, field
) -> None:
    before = ledger.donor_balances(runtime.db, world.ada)
    url = f"/console/donors/{world.ada}"
    csrf = form_of(support_client, url)
    answer = support_client.post(f"{url}/adjustments", data=adjust_form(world, csrf, **overrides))
    assert answer.status_code == 303
    [message] = flashes(support_client, url)
    assert message.startswith(f"Nothing was changed ({field})")
    assert ledger.donor_balances(runtime.db, world.ada) == before


def test_reversing_a_clip_from_the_donor_page(support_client, runtime, world) -> None:
    with runtime.db.read() as session:
        clip_id = session.scalar(select(func.min(Clip.id)).where(Clip.donor_id == world.ada))
        foreign = session.scalar(select(func.min(Clip.id)).where(Clip.donor_id == world.farm))
    url = f"/console/donors/{world.ada}"
    csrf = form_of(support_client, url)
    other = support_client.post(
        f"{url}/reversals", data={"csrf_token": csrf, "clip_id": foreign, "reason": "wrong page"}
    )
    assert other.status_code == 303
    assert "has no clip" in flashes(support_client, url)[0]
    support_client.post(
        f"{url}/reversals", data={"csrf_token": csrf, "clip_id": clip_id, "reason": "staged twice"}
    )
    assert flashes(support_client, url)[0].startswith(f"Clip {clip_id} reversed: 0 points and 2.00")
    with runtime.db.read() as session:
        assert session.get(Clip, clip_id).status == "reversed"
        assert session.get(Clip, foreign).status == "accepted"
    [record] = audit_rows(runtime, "clip.reverse")
    assert (record.actor_id, record.target_id) == ("support:agent-1", str(clip_id))


def test_the_donor_page_shows_each_camera_and_its_moves(
    support_client, runtime, world, clock
) -> None:
    register_camera(runtime, "farm", "SN-PASSED")
    clock.advance(timedelta(minutes=20))  # within the console's idle timeout
    register_camera(runtime, "ada", "SN-PASSED")
    register_camera(runtime, "ada", "SN-OWN")
    page = support_client.get(f"/console/donors/{world.farm}").text
    row = re.search(r'<tr data-serial="SN-PASSED">(.*?)</tr>', page, re.S)
    assert row, page
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1)))
    assert f"donor {world.ada}" in text and "moved" in text and "device cloud" in text
    assert "SN-OWN" not in page  # only the cameras this donor holds or held
    adas = support_client.get(f"/console/donors/{world.ada}").text
    assert 'data-serial="SN-OWN"' in adas and 'data-serial="SN-PASSED"' in adas


def test_the_fraud_queue_shows_evidence_and_confirming_reverses_the_clips(
    support_client, runtime, world
) -> None:
    queue = support_client.get("/console/fraud").text
    assert f"/console/fraud/{world.flag_id}" in queue
    url = f"/console/fraud/{world.flag_id}"
    page = support_client.get(url).text
    assert "4,000 s of footage" in page  # the flag's summary, in words
    for clip_id in world.farm_flagged_clips:
        assert str(clip_id) in page
    assert '<rect class="bar"' in page  # the donor's activity chart
    support_client.post(
        f"{url}/resolve",
        data={
            "csrf_token": csrf_of(page),
            "decision": "confirm",
            "reason": "one camera cannot film 4,000 s in an hour",
            "keep_hold": "on",
        },
    )
    assert "8 clips reversed" in flashes(support_client, url)[0]
    with runtime.db.read() as session:
        statuses = set(
            session.scalars(select(Clip.status).where(Clip.id.in_(world.farm_flagged_clips)))
        )
        reversals = session.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .where(LedgerTransfer.kind == "reversal")
        )
    assert statuses == {"reversed"} and reversals == 8
    [record] = audit_rows(runtime, "fraud.confirm")
    assert record.actor_id == "support:agent-1"
    again = support_client.post(
        f"{url}/resolve",
        data={"csrf_token": csrf_of(page), "decision": "dismiss", "reason": "second thoughts"},
    )
    assert again.status_code == 303
    assert "already confirmed" in flashes(support_client, url)[0]


def test_shipping_a_camera_from_the_redemption_queue(support_client, runtime, world) -> None:
    queue = support_client.get("/console/redemptions?status=requested").text
    assert f'data-redemption="{world.camera_redemption}"' in queue
    url = f"/console/redemptions/{world.camera_redemption}/transition"
    csrf = csrf_of(queue)
    approve = support_client.post(url, data={"csrf_token": csrf, "to": "approved"})
    assert approve.headers["Location"] == "/console/redemptions"
    missing = support_client.post(url, data={"csrf_token": csrf, "to": "shipped", "carrier": "UPS"})
    assert missing.status_code == 303
    assert "(tracking_number)" in flashes(support_client, "/console/redemptions")[-1]
    support_client.post(
        url,
        data={
            "csrf_token": csrf,
            "to": "shipped",
            "carrier": "UPS",
            "tracking_number": "1Z999AA10123456784",
            "view": "approved",
        },
    )
    with runtime.db.read() as session:
        redemption = session.get(Redemption, world.camera_redemption)
    assert (redemption.status, redemption.carrier) == ("shipped", "UPS")
    [record] = audit_rows(runtime, "redemption.shipped")
    assert record.actor_id == "support:agent-1"


def test_staff_never_see_a_full_gift_card_code(admin_client, world) -> None:
    pages = [
        admin_client.get(url).text
        for url in (
            "/console/redemptions?status=fulfilled",
            f"/console/donors/{world.ada}",
            "/console/audit",
        )
    ]
    assert world.gift_code[-4:] in pages[0]  # the masked code is shown
    assert not any(world.gift_code in page for page in pages)


def test_admin_pages_list_batches_and_the_audit_log(admin_client, runtime, world) -> None:
    audit = admin_client.get("/console/audit", query_string={"actor_id": "support:seed"}).text
    assert "ledger.adjust" in audit and "test points" in audit
    batches = admin_client.get("/console/payouts").text
    [batch_id] = re.findall(r'href="/console/payouts/(\d+)"', batches)
    items = admin_client.get(f"/console/payouts/{batch_id}").text
    assert "25.00 USD" in items and "a***@example.com" in items
    assert world.payout_email not in batches + items + audit
    assert admin_client.get("/console/payouts/999").status_code == 404


def test_a_bad_query_is_a_clear_4xx_page(support_client, world) -> None:
    answer = support_client.get("/console/fraud?status=sideways")
    assert answer.status_code == 422 and "status is one of" in answer.text
    assert support_client.get("/console/donors/123456").status_code == 404
    assert support_client.get("/console/donors/99999999999999999999").status_code == 404
    for cursor in ("garbage", "W" * 600, "WzEsWzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXV0"):
        assert support_client.get(f"/console/fraud?cursor={cursor}").status_code == 422
    assert support_client.get("/console/donors?q=²").status_code == 200  # a digit, not ASCII
    page = f"/console/donors/{world.ada}"
    for query in ("_method=POST", "donor_id=abc", f"donor_id={world.farm}", "_external=1"):
        answer = support_client.get(f"{page}?{query}")
        assert answer.status_code == 200 and f"Donor {world.ada}" in answer.text


def test_oversized_form_values_are_named_refusals(support_client, runtime, world) -> None:
    url = f"/console/donors/{world.ada}"
    csrf = form_of(support_client, url)
    huge = support_client.post(
        f"{url}/reversals",
        data={"csrf_token": csrf, "clip_id": "9" * 30, "reason": "typo"},
    )
    assert huge.status_code == 303
    assert flashes(support_client, url)[-1].startswith("Nothing was changed (clip_id)")
    long_carrier = support_client.post(
        f"/console/redemptions/{world.camera_redemption}/transition",
        data={"csrf_token": csrf, "to": "cancelled", "reason": "x" * 301},
    )
    assert long_carrier.status_code == 303
    assert flashes(support_client, "/console/redemptions")[-1].startswith(
        "Nothing was changed (reason)"
    )
    with runtime.db.read() as session:
        assert session.get(Redemption, world.camera_redemption).status == "requested"
