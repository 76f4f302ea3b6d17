"""Revoking bearer tokens before their exp (issue 24, part 3): a denied ``jti`` gets 401
on the API at its next call; a subject's not-before voids its older tokens (with or
without ``iat``) and its console sessions at the next request while newer tokens work;
each revocation is audited; the command line revokes and lists; and each process's
cached copy of the revocations follows the table (another process's revocation within
REFRESH_S; staff refused when the copy cannot be refreshed for MAX_STALE_S, donors not).
Runs on SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import jwt
from click.testing import CliRunner
from sqlalchemy import select

from rewards_engine.cli import cli
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.roles import Role
from rewards_engine.models import AuditRecord, TokenRevocation
from rewards_engine.services import revocations
from rewards_engine.services.revocations import RevocationCache
from rewards_engine.tokens import Principal, issue_token
from tests.conftest import TEST_JWT_SECRET, make_token
from tests.support.console import csrf_of, sign_in

ADMIN_ACTOR = Actor(id="admin:boss", role="admin")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict:  # type: ignore[type-arg]
    return jwt.decode(token, options={"verify_signature": False})


def audits(runtime, action: str) -> list[AuditRecord]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def test_issued_tokens_carry_a_random_jti_and_iat(settings) -> None:
    first, second = (claims_of(make_token(settings, "d1", "donor")) for _ in range(2))
    assert first["jti"] != second["jti"] and len(first["jti"]) >= 20
    assert isinstance(first["iat"], int)


def test_a_revoked_jti_gets_401_at_its_next_call(client, settings, auth, runtime) -> None:
    token = make_token(settings, "donor-1", "donor")
    other = make_token(settings, "donor-1", "donor")
    assert client.get("/v1/me", headers=bearer(token)).status_code == 200
    claims = claims_of(token)
    answer = client.post(
        "/v1/admin/token-revocations",
        json={
            "jti": claims["jti"],
            "expires_at": datetime.fromtimestamp(claims["exp"], UTC).isoformat(),
            "reason": "phone reported stolen",
        },
        headers=auth("boss", "admin"),
    )
    assert answer.status_code == 201, answer.json
    refused = client.get("/v1/me", headers=bearer(token))  # remembered by the verifier, too
    assert refused.status_code == 401 and "revoked" in refused.json["message"]
    assert client.get("/v1/me", headers=bearer(other)).status_code == 200  # only that token
    [record] = audits(runtime, "token.revoked")
    assert (record.actor_id, record.target_id, record.reason) == (
        "admin:boss",
        claims["jti"],
        "phone reported stolen",
    )
    again = client.post(  # the same jti again: the first revocation, no second record
        "/v1/admin/token-revocations",
        json={"jti": claims["jti"], "reason": "phone reported stolen"},
        headers=auth("boss", "admin"),
    )
    assert again.status_code == 201 and again.json["id"] == answer.json["id"]
    assert len(audits(runtime, "token.revoked")) == 1


def test_a_revoked_staff_token_gets_401(client, settings, auth) -> None:
    token = make_token(settings, "agent-1", "support")
    assert client.get("/v1/admin/donors/1", headers=bearer(token)).status_code != 401
    revocations.revoke_jti(
        client.application.extensions["rewards_engine"].db,
        client.application.extensions["rewards_engine"].clock,
        ADMIN_ACTOR,
        claims_of(token)["jti"],
        reason="leaked in a ticket",
    )
    # Another process (the service call above, not the API) revoked it: this process
    # sees it within REFRESH_S; the test does not wait, it reads again at once.
    from api import auth as api_auth

    with client.application.test_request_context():
        api_auth.revocations().invalidate()
    assert client.get("/v1/admin/donors/1", headers=bearer(token)).status_code == 401


def test_a_subject_not_before_voids_older_tokens_and_sessions(
    app, client, settings, auth, clock, runtime
) -> None:
    clock.set(datetime.now(UTC))  # revocations are stamped on the tokens' (real) time line
    old = make_token(settings, "agent-9", "support")
    console = sign_in(app.test_client(), old)
    assert console.get("/console/donors").status_code == 200
    unrelated = make_token(settings, "agent-2", "support")
    no_iat = jwt.encode(  # an external identity provider's token: no iat, no jti
        {"sub": "agent-9", "role": "support", "exp": int(datetime.now(UTC).timestamp()) + 600},
        TEST_JWT_SECRET,
        algorithm="HS256",
    )
    assert client.get("/v1/admin/donors/1", headers=bearer(no_iat)).status_code != 401
    clock.advance(timedelta(milliseconds=1))
    answer = client.post(
        "/v1/admin/subject-revocations",
        json={"subject": "agent-9", "reason": "role removed upstream"},
        headers=auth("boss", "admin"),
    )
    assert answer.status_code == 201 and answer.json["subject"] == "agent-9"
    for token in (old, no_iat):
        assert client.get("/v1/admin/donors/1", headers=bearer(token)).status_code == 401
    assert console.get("/console/donors").status_code == 303  # at its next request
    browser = app.test_client()  # nor can the old token open a new session
    form = csrf_of(browser.get("/console/sign-in").text)
    refused = browser.post("/console/sign-in", data={"token": old, "csrf_token": form})
    assert refused.status_code == 401 and "revoked" in refused.text
    assert client.get("/v1/admin/donors/1", headers=bearer(unrelated)).status_code != 401
    # A token issued after the revocation works, on the API and to sign in again.
    newer = issue_token(
        settings, "agent-9", Role.SUPPORT, timedelta(minutes=10), clock.now() + timedelta(seconds=1)
    )
    assert client.get("/v1/admin/donors/1", headers=bearer(newer)).status_code != 401
    clock.advance(timedelta(seconds=1))
    again = sign_in(app.test_client(), newer)
    assert again.get("/console/donors").status_code == 200
    [record] = audits(runtime, "subject.revoked")
    assert (record.actor_id, record.target_id) == ("admin:boss", "agent-9")
    assert record.after is not None and record.after["sessions_ended"] == 1


def test_a_subject_revoked_by_another_process_loses_its_console_session(
    app, settings, clock, runtime
) -> None:
    """The console checks the subject's not-before at each request, from the cache: a
    revocation written elsewhere (the identity provider's offboarding) that has not yet
    ended the session rows still ends the session."""
    clock.set(datetime.now(UTC))
    console = sign_in(app.test_client(), make_token(settings, "agent-9", "support"))
    clock.advance(timedelta(seconds=1))
    with runtime.db.transaction() as uow:  # only the not-before row: no session ended
        uow.session.add(
            TokenRevocation(
                subject="agent-9", not_before=clock.now(), created_at=clock.now(), actor_id="idp"
            )
        )
    from api import auth as api_auth

    with app.test_request_context():
        api_auth.revocations().invalidate()
    assert console.get("/console/donors").status_code == 303


def test_revoking_a_jti_ends_the_console_sessions_opened_with_it(
    app, client, settings, auth, runtime
) -> None:
    """A stolen staff token revoked by id must not live on as a console session: the
    session opened with it ends at once (the revocation's transaction ends its row,
    counted in the audit record), while a session of the same agent opened with another
    token goes on."""
    stolen = make_token(settings, "agent-7", "support")
    thief = sign_in(app.test_client(), stolen)
    agent = sign_in(app.test_client(), make_token(settings, "agent-7", "support"))
    assert thief.get("/console/donors").status_code == 200
    answer = client.post(
        "/v1/admin/token-revocations",
        json={"jti": claims_of(stolen)["jti"], "subject": "agent-7", "reason": "token leaked"},
        headers=auth("boss", "admin"),
    )
    assert answer.status_code == 201, answer.json
    assert thief.get("/console/donors").status_code == 303  # signed out at its next request
    assert agent.get("/console/donors").status_code == 200
    [record] = audits(runtime, "token.revoked")
    assert record.after is not None and record.after["sessions_ended"] == 1


def test_a_session_opened_with_a_jti_revoked_elsewhere_ends_at_its_next_request(
    app, settings, runtime
) -> None:
    """A revocation whose rows did not end the session (written by another process
    before this one's copy saw it, or by hand) still ends it: the console checks the
    session's token jti against the cache at each request."""
    token = make_token(settings, "agent-8", "support")
    console = sign_in(app.test_client(), token)
    assert console.get("/console/donors").status_code == 200
    with runtime.db.transaction() as uow:  # only the revocation row: no session ended
        uow.session.add(
            TokenRevocation(
                jti=claims_of(token)["jti"],
                created_at=datetime.now(UTC),
                expires_at=datetime.now(UTC) + timedelta(hours=1),
                actor_id="idp",
            )
        )
    from api import auth as api_auth

    with app.test_request_context():
        api_auth.revocations().invalidate()
    assert console.get("/console/donors").status_code == 303


def test_a_revocation_whose_expiry_is_past_is_refused_naming_it(client, runtime, auth) -> None:
    """An ``expires_at`` already past (a typo'd year) would be purged at the next run of
    purge-revocations while the token itself may still verify: 422 naming the field,
    and nothing recorded."""
    answer = client.post(
        "/v1/admin/token-revocations",
        json={"jti": "abc", "expires_at": "2020-01-01T00:00:00Z", "reason": "leaked token"},
        headers=auth("boss", "admin"),
    )
    assert answer.status_code == 422, answer.json
    assert set(answer.json["errors"]["json"]) == {"expires_at"}
    with runtime.db.read() as session:
        assert session.scalars(select(TokenRevocation)).all() == []
    assert audits(runtime, "token.revoked") == []


def test_revocation_requests_name_their_bad_fields(client, auth) -> None:
    admin = auth("boss", "admin")
    answer = client.post("/v1/admin/token-revocations", json={"jti": "x" * 200}, headers=admin)
    assert answer.status_code == 422
    assert set(answer.json["errors"]["json"]) == {"jti", "reason"}
    answer = client.post(
        "/v1/admin/subject-revocations", json={"subject": "", "reason": "ok!"}, headers=admin
    )
    assert answer.status_code == 422 and set(answer.json["errors"]["json"]) == {"subject"}
    support = auth("agent-1", "support")
    body = {"subject": "boss", "reason": "a coup"}
    assert (
        client.post("/v1/admin/subject-revocations", json=body, headers=support).status_code == 403
    )
    assert client.get("/v1/admin/token-revocations", headers=support).status_code == 403


def test_the_command_line_revokes_and_lists_audited(cli_env, client, runtime) -> None:
    token = make_token(cli_env, "donor-5", "donor")
    jti = claims_of(token)["jti"]
    runner = CliRunner()
    one = runner.invoke(cli, ["tokens", "revoke", "--jti", jti, "--reason", "support ticket 12"])
    assert one.exit_code == 0, one.output
    everyone = runner.invoke(
        cli, ["tokens", "revoke", "--subject", "agent-3", "--reason", "offboarded", "--by", "hr"]
    )
    assert everyone.exit_code == 0, everyone.output
    listed = runner.invoke(cli, ["tokens", "list"])
    assert listed.exit_code == 0 and jti in listed.output and "agent-3" in listed.output
    bad = runner.invoke(cli, ["tokens", "revoke", "--reason", "nothing named"])
    assert bad.exit_code != 0 and "--jti" in bad.output
    short = runner.invoke(cli, ["tokens", "revoke", "--subject", "x", "--reason", "no"])
    assert short.exit_code == 1 and "reason" in short.output
    assert [r.actor_id for r in audits(runtime, "subject.revoked")] == ["hr"]
    [record] = audits(runtime, "token.revoked")
    assert record.actor_id.startswith("cli:") and record.actor_role == "operator"


def test_each_process_sees_another_s_revocation_within_its_refresh(runtime, clock) -> None:
    now = [0.0]
    cache = RevocationCache(runtime.db, monotonic=lambda: now[0])
    donor = Principal("donor-1", Role.DONOR, issued_at=clock.now().timestamp() - 5, jti="j-1")
    assert cache.refusal(donor) is None  # loaded: nothing revoked
    revocations.revoke_jti(runtime.db, clock, ADMIN_ACTOR, "j-1", reason="stolen phone")
    now[0] += RevocationCache.REFRESH_S / 2
    assert cache.refusal(donor) is None  # this process has not re-read the table yet
    now[0] += RevocationCache.REFRESH_S / 2
    assert cache.refusal(donor) == "the token was revoked"


def test_the_first_requests_wait_for_the_first_load(runtime, clock) -> None:
    """Before its first load a process has no copy to answer from: a request arriving
    while another thread loads it waits, rather than passing a revoked token."""
    revocations.revoke_jti(runtime.db, clock, ADMIN_ACTOR, "j-2", reason="stolen phone")
    cache = RevocationCache(runtime.db)
    donor = Principal("donor-1", Role.DONOR, issued_at=clock.now().timestamp(), jti="j-2")
    answers: list[str | None] = []
    with cache._lock:  # another request's thread is loading the copy
        waiting = threading.Thread(target=lambda: answers.append(cache.refusal(donor)))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and answers == []
    waiting.join(timeout=10)
    assert answers == ["the token was revoked"]


def test_staff_are_refused_when_revocations_cannot_be_read_donors_are_not(runtime) -> None:
    now = [0.0]
    cache = RevocationCache(runtime.db, monotonic=lambda: now[0])
    staff = Principal("agent-1", Role.SUPPORT, issued_at=1.0, jti="a")
    donor = Principal("donor-1", Role.DONOR, issued_at=1.0, jti="b")
    assert cache.refusal(staff) is None and cache.refusal(donor) is None
    cache._db = Database("sqlite:////nonexistent-folder/revocations.db")  # the database is gone
    now[0] += RevocationCache.MAX_STALE_S - 1
    assert cache.refusal(staff) is None  # the last copy stands for a while
    now[0] += 2
    assert cache.refusal(staff) is not None  # then staff are refused (fail closed)
    assert cache.refusal(donor) is None  # donors are not: their calls need the database anyway


def test_expired_revocations_are_purged_but_never_the_newest(runtime, clock) -> None:
    for jti in ("old-1", "old-2"):
        revocations.revoke_jti(
            runtime.db, clock, ADMIN_ACTOR, jti, reason="test", expires_at=clock.now()
        )
    clock.advance(timedelta(seconds=1))
    assert revocations.purge_expired(runtime.db, clock) == 1  # old-2 is the version number
    left = [row.jti for row in revocations.list_revocations(runtime.db, clock)]
    assert left == []  # in force: none (old-2 kept only as the version)


def test_the_purge_job_runs_from_the_command_line(cli_env, runtime, clock) -> None:
    revocations.revoke_jti(
        runtime.db, clock, ADMIN_ACTOR, "long-gone", reason="test", expires_at=clock.now()
    )
    revocations.revoke_subject(runtime.db, clock, ADMIN_ACTOR, "agent-3", reason="offboarded")
    result = CliRunner().invoke(cli, ["jobs", "run", "purge-revocations"])
    assert result.exit_code == 0, result.output
    assert "revoked_tokens_deleted" in result.output and "staff_sessions_deleted" in result.output
    with runtime.db.read() as session:
        left = list(session.scalars(select(TokenRevocation.jti)))
    assert left == [None]  # the expired jti went (the subject's row is newer), the subject stayed
