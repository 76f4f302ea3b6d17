"""Server-side console sessions (issue 24, part 3): sign-out ends the session for every
copy of its cookie, an agent signs out everywhere, admins end an agent's sessions (a
support agent cannot), idle timeout and absolute expiry on the test clock, and the
audit records each ending. Runs on SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from rewards_engine.models import AuditRecord, StaffSession
from rewards_engine.services import staff_sessions
from tests.conftest import make_token
from tests.support.console import csrf_of, sign_in
from tests.support.factories import consenting_donor, load_program

PAGE = "/console/donors"


def agent(app: Flask, settings, subject: str = "agent-1", role: str = "support") -> FlaskClient:  # type: ignore[no-untyped-def]
    return sign_in(app.test_client(), make_token(settings, subject, role))


def copy_of(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding a copy of ``client``'s console cookie (a stolen one)."""
    cookie = client.get_cookie("console_session", path="/console")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("console_session", cookie.value, path="/console")
    return thief


def csrf(client: FlaskClient) -> str:
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def audits(runtime, action: str) -> list[AuditRecord]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def test_the_cookie_holds_a_random_id_and_the_server_its_hash(app, settings, runtime) -> None:
    client = agent(app, settings)
    raw = client.get_cookie("console_session", path="/console")
    assert raw is not None and "agent-1" not in raw.value  # nothing readable about the agent
    with runtime.db.read() as session:
        rows = list(session.scalars(select(StaffSession)))
    assert [(row.subject, row.role) for row in rows] == [("agent-1", "support")]
    assert len(rows[0].id_hash) == 64 and rows[0].id_hash not in raw.value


def test_a_copied_cookie_dies_when_its_session_signs_out(app, settings) -> None:
    client = agent(app, settings)
    thief = copy_of(client, app)
    assert thief.get(PAGE).status_code == 200  # a copy works while the session is open
    assert client.post("/console/sign-out", data={"csrf_token": csrf(client)}).status_code == 303
    assert client.get(PAGE).status_code == 303
    assert thief.get(PAGE).status_code == 303  # ended on the server, not only in one browser


def test_sign_out_everywhere_ends_every_session_of_the_agent(app, settings, runtime) -> None:
    laptop, phone = agent(app, settings), agent(app, settings)
    colleague = agent(app, settings, "agent-2")
    answer = laptop.post("/console/sign-out-everywhere", data={"csrf_token": csrf(laptop)})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/sign-in"
    assert laptop.get(PAGE).status_code == 303 and phone.get(PAGE).status_code == 303
    assert colleague.get(PAGE).status_code == 200  # someone else's sessions stay open
    [record] = audits(runtime, "staff_sessions.ended")
    assert (record.actor_id, record.target_id, record.after) == (
        "support:agent-1",
        "agent-1",
        {"ended": 2},
    )


def test_an_admin_ends_an_agents_sessions_from_the_console(app, settings, runtime) -> None:
    target = agent(app, settings, "agent-7")
    admin = agent(app, settings, "boss", "admin")
    listing = admin.get("/console/sessions")
    assert listing.status_code == 200 and "agent-7" in listing.text
    with runtime.db.read() as session:
        hashes = list(session.scalars(select(StaffSession.id_hash)))
    cookie = target.get_cookie("console_session", path="/console")
    assert cookie is not None and cookie.value not in listing.text
    assert not any(value in listing.text for value in hashes)  # never the id nor its hash
    ended = admin.post(
        "/console/sessions/end",
        data={"csrf_token": csrf(admin), "subject": "agent-7", "reason": "laptop stolen"},
    )
    assert ended.status_code == 303
    assert target.get(PAGE).status_code == 303
    assert admin.get(PAGE).status_code == 200
    [record] = audits(runtime, "staff_sessions.ended")
    assert (record.actor_id, record.target_id, record.reason) == (
        "admin:boss",
        "agent-7",
        "laptop stolen",
    )


def test_ending_sessions_needs_a_reason_and_changes_nothing_without_one(app, settings) -> None:
    target = agent(app, settings, "agent-7")
    admin = agent(app, settings, "boss", "admin")
    admin.post(
        "/console/sessions/end",
        data={"csrf_token": csrf(admin), "subject": "agent-7", "reason": ""},
    )
    assert target.get(PAGE).status_code == 200
    assert "reason" in admin.get("/console/sessions").text


def test_a_support_agent_cannot_list_or_end_sessions(app, settings, auth) -> None:
    target = agent(app, settings, "agent-7")
    support = agent(app, settings, "agent-1")
    assert support.get("/console/sessions").status_code == 403
    refused = support.post(
        "/console/sessions/end",
        data={"csrf_token": csrf(support), "subject": "agent-7", "reason": "just because"},
    )
    assert refused.status_code == 403
    assert target.get(PAGE).status_code == 200
    client = app.test_client()
    headers = auth("agent-1", "support")
    assert client.get("/v1/admin/staff-sessions", headers=headers).status_code == 403
    body = {"subject": "agent-7", "reason": "just because"}
    assert (
        client.post("/v1/admin/staff-sessions/end", json=body, headers=headers).status_code == 403
    )
    assert target.get(PAGE).status_code == 200


def test_a_support_lead_ends_sessions_but_may_not_revoke_tokens(
    app, settings, auth, runtime
) -> None:
    """Sessions and token revocations have their own actions (sessions.end,
    tokens.revoke), not roles.change: a support lead (sessions.end, as shipped) ends an
    agent's sessions from the console and the API, but neither voids tokens (the
    console's box is not offered, and sent anyway is 403 with nothing ended) nor
    revokes one, nor changes roles."""
    target = agent(app, settings, "agent-7")
    lead = agent(app, settings, "lead-1", "support_lead")
    page = lead.get("/console/sessions")
    assert page.status_code == 200 and "agent-7" in page.text
    assert 'name="revoke_tokens"' not in page.text
    refused = lead.post(
        "/console/sessions/end",
        data={
            "csrf_token": csrf(lead),
            "subject": "agent-7",
            "reason": "cookie left on a shared PC",
            "revoke_tokens": "on",
        },
    )
    assert refused.status_code == 403 and "tokens.revoke" in refused.text
    assert target.get(PAGE).status_code == 200  # nothing ended by the refused form
    ended = lead.post(
        "/console/sessions/end",
        data={"csrf_token": csrf(lead), "subject": "agent-7", "reason": "cookie left on a PC"},
    )
    assert ended.status_code == 303 and target.get(PAGE).status_code == 303
    client = app.test_client()
    headers = auth("lead-1", "support_lead")
    assert client.get("/v1/admin/staff-sessions", headers=headers).status_code == 200
    body = {"subject": "agent-7", "reason": "laptop stolen"}
    for route in ("/v1/admin/token-revocations", "/v1/admin/subject-revocations"):
        answer = client.post(route, json={**body, "jti": "x"}, headers=headers)
        assert answer.status_code == 403, route
    assert client.get("/v1/admin/token-revocations", headers=headers).status_code == 403
    assert audits(runtime, "subject.revoked") == []
    assert "sessions.end" in admin_may(runtime) and "tokens.revoke" in admin_may(runtime)


def admin_may(runtime) -> frozenset[str]:  # type: ignore[no-untyped-def]
    from rewards_engine.services import staff_policy

    return staff_policy.current(runtime.db).roles["admin"].may


def test_an_admin_ends_an_agents_sessions_through_the_api(app, settings, auth, runtime) -> None:
    target = agent(app, settings, "agent-7", "support_lead")
    client = app.test_client()
    admin = auth("boss", "admin")
    listed = client.get("/v1/admin/staff-sessions", headers=admin)
    assert listed.status_code == 200
    [row] = listed.json["items"]
    assert row["subject"] == "agent-7" and row["role"] == "support_lead"
    assert set(row) == {"subject", "role", "created_at", "last_seen_at", "expires_at"}
    answer = client.post(
        "/v1/admin/staff-sessions/end",
        json={"subject": "agent-7", "reason": "left the company"},
        headers=admin,
    )
    assert answer.status_code == 200 and answer.json == {"subject": "agent-7", "ended": 1}
    assert target.get(PAGE).status_code == 303
    assert client.get("/v1/admin/staff-sessions", headers=admin).json["items"] == []
    again = client.post(  # a retry ends nothing more, and says so
        "/v1/admin/staff-sessions/end",
        json={"subject": "agent-7", "reason": "left the company"},
        headers=admin,
    )
    assert again.json == {"subject": "agent-7", "ended": 0}
    assert [r.actor_id for r in audits(runtime, "staff_sessions.ended")] == ["admin:boss"] * 2
    bad = client.post("/v1/admin/staff-sessions/end", json={"subject": ""}, headers=admin)
    assert bad.status_code == 422 and set(bad.json["errors"]["json"]) == {"subject", "reason"}


def test_an_idle_session_ends_after_the_idle_timeout(app, settings, clock, runtime) -> None:
    idle = timedelta(minutes=settings.console_idle_minutes)
    client = agent(app, settings)
    for _ in range(3):  # used every 29 minutes: it stays open past the idle timeout
        clock.advance(idle - timedelta(minutes=1))
        assert client.get(PAGE).status_code == 200
    clock.advance(idle + timedelta(seconds=1))
    assert client.get(PAGE).status_code == 303


def test_last_seen_is_written_at_most_once_a_minute(app, settings, clock, runtime) -> None:
    client = agent(app, settings)
    start = clock.now()

    def last_seen() -> datetime:
        with runtime.db.read() as session:
            return session.scalars(select(StaffSession.last_seen_at)).one()

    clock.advance(timedelta(seconds=30))
    assert client.get(PAGE).status_code == 200
    assert last_seen() == start  # page views within the minute write nothing
    clock.advance(timedelta(seconds=31))
    assert client.get(PAGE).status_code == 200
    assert last_seen() == start + timedelta(seconds=61)


def test_a_session_ends_after_eight_hours_however_busy(app, settings, clock) -> None:
    clock.set(datetime.now(UTC))  # the token (real time) outlives the session
    client = sign_in(app.test_client(), make_token(settings, "agent-1", "support", ttl_s=86_400))
    for _ in range(16):
        clock.advance(timedelta(minutes=29, seconds=59))
        assert client.get(PAGE).status_code == 200
    clock.advance(timedelta(minutes=1))  # 8 h since sign-in
    assert client.get(PAGE).status_code == 303


def test_a_session_never_outlives_its_token(app, settings, clock, runtime) -> None:
    clock.set(datetime.now(UTC))
    sign_in(app.test_client(), make_token(settings, "agent-1", "support", ttl_s=600))
    [view] = staff_sessions.list_active(runtime.db, clock, idle=timedelta(minutes=30))
    assert view.expires_at - clock.now() <= timedelta(seconds=600)
    clock.advance(timedelta(seconds=601))
    assert staff_sessions.list_active(runtime.db, clock, idle=timedelta(minutes=30)) == []


def test_sessions_are_purged_a_week_after_they_end(app, settings, clock, runtime) -> None:
    agent(app, settings)
    clock.advance(staff_sessions.MAX_LIFETIME + staff_sessions.KEEP_ENDED - timedelta(minutes=1))
    assert staff_sessions.purge(runtime.db, clock) == 0
    clock.advance(timedelta(minutes=2))
    assert staff_sessions.purge(runtime.db, clock) == 1


def test_no_token_session_id_nor_its_hash_reaches_a_log_line_or_an_answer(
    app, settings, auth, runtime, caplog
) -> None:
    """Sign in, use a page, list and end sessions through the API and the console,
    revoke the token and sign out: no log line (at any level) and no API answer holds the
    bearer token, the session's random id or its SHA-256."""
    import logging

    token = make_token(settings, "agent-7", "support")
    with caplog.at_level(logging.DEBUG):
        target = sign_in(app.test_client(), token)
        assert target.get(PAGE).status_code == 200
        cookie = target.get_cookie("console_session", path="/console")
        assert cookie is not None
        sid = app.session_interface.get_signing_serializer(app).loads(cookie.value)["sid"]  # type: ignore[attr-defined]
        with runtime.db.read() as session:
            [id_hash] = session.scalars(select(StaffSession.id_hash))
        client = app.test_client()
        admin = auth("boss", "admin")
        answers = [
            client.get("/v1/admin/staff-sessions", headers=admin).text,
            client.post(
                "/v1/admin/token-revocations",
                json={"jti": jwt_id(token), "reason": "leaked in a ticket"},
                headers=admin,
            ).text,
            client.get("/v1/admin/token-revocations", headers=admin).text,
            client.post(
                "/v1/admin/staff-sessions/end",
                json={"subject": "agent-7", "reason": "leaked in a ticket"},
                headers=admin,
            ).text,
            client.get("/v1/admin/audit-log", headers=admin).text,
        ]
        target.post("/console/sign-out", data={"csrf_token": "stale"})
    lines = [record.getMessage() + repr(getattr(record, "fields", "")) for record in caplog.records]
    assert lines  # the requests were logged
    for secret in (token, sid, id_hash):
        assert not any(secret in line for line in lines)
        assert not any(secret in answer for answer in answers)


def jwt_id(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def _adjust_form(client: FlaskClient, donor_id: int, token: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "asset": "points",
        "amount": "5",
        "reason": "goodwill credit",
        "idempotency_key": "form-1",
    }


def test_a_form_sent_after_its_agent_was_revoked_writes_nothing(
    app, settings, auth, clock, runtime
) -> None:
    """A page loaded before the agent's revocation, its form sent after: the session is
    gone at that request, so the form is sent to sign in (303) and nothing is written."""
    load_program(runtime)
    donor_id = consenting_donor(runtime, "ada")
    clock.set(datetime.now(UTC))
    browser = agent(app, settings, "agent-7")
    form = _adjust_form(browser, donor_id, csrf_of(browser.get(f"/console/donors/{donor_id}").text))
    clock.advance(timedelta(milliseconds=1))
    revoked = app.test_client().post(
        "/v1/admin/subject-revocations",
        json={"subject": "agent-7", "reason": "offboarded"},
        headers=auth("boss", "admin"),
    )
    assert revoked.status_code == 201
    before = len(audits(runtime, "ledger.adjust"))
    answer = browser.post(f"/console/donors/{donor_id}/adjustments", data=form)
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["Location"]
    assert len(audits(runtime, "ledger.adjust")) == before == 0


def test_a_csrf_token_of_an_ended_session_is_refused_in_the_next(app, settings, runtime) -> None:
    """Signing in again starts a fresh CSRF token: a form token kept from the session
    before (a replayed form) is 403, and nothing is written."""
    load_program(runtime)
    donor_id = consenting_donor(runtime, "ada")
    browser = agent(app, settings, "agent-7")
    old = csrf_of(browser.get(f"/console/donors/{donor_id}").text)
    browser.post("/console/sign-out", data={"csrf_token": old})
    sign_in(browser, make_token(settings, "agent-7", "support"))
    replayed = browser.post(
        f"/console/donors/{donor_id}/adjustments", data=_adjust_form(browser, donor_id, old)
    )
    assert replayed.status_code == 403
    assert audits(runtime, "ledger.adjust") == []
