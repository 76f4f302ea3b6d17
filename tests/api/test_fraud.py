"""Fraud review through the API, on clips donated through the API: holds and what they
stop, confirmations that reverse, dismissals that stay dismissed, rules as data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from rewards_engine.cli import cli
from rewards_engine.domain.actors import Actor
from rewards_engine.jobs import find_job
from rewards_engine.models import AuditRecord, Clip, Donor, FraudFlag
from rewards_engine.scheduler import run_job
from rewards_engine.services import approving, fraud, holds, ledger, payouts, support
from rewards_engine.services.approvals import ApprovalView
from tests.support.factories import clip, consenting_donor, donate, load_program

HOUR = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)
AGENT = Actor(id="support:agent", role="support")
LEAD = Actor(id="support_lead:lead-1", role="support_lead")
BOSS = Actor(id="admin:boss", role="admin")


def decided(runtime, flag_id: int, **decision: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A decision that needs a support lead's role and a second person (dismissing a
    high-severity flag, a ban: docs/staff-roles.md, fixtures/approvals.toml): asked by a
    lead, approved by an admin; the applied decision's result."""
    pending = fraud.resolve(runtime, LEAD, flag_id, **decision)
    assert isinstance(pending, ApprovalView), pending
    view = approving.approve(runtime, BOSS, pending.id)
    assert view.status == "applied" and view.result is not None, view
    return view.result


@pytest.fixture
def program(runtime) -> None:
    load_program(runtime)


def scan(runtime, clock, full: bool = False):  # type: ignore[no-untyped-def]
    clock.advance(timedelta(minutes=1))  # past the settling delay of fresh clips
    return fraud.scan(runtime, full=full)


def impossible_hour(camera: str = "CAM-ONE") -> list[dict]:
    """Eight clips of 500 s starting within one hour on one camera: 4,000 s of footage."""
    return [
        clip(recorded_at=HOUR + timedelta(minutes=5 * n), camera_id=camera, duration_s=500)
        for n in range(8)
    ]


def held_medals(client, headers) -> set[str]:  # type: ignore[no-untyped-def]
    medals = client.get("/v1/me/medals", headers=headers).get_json()["medals"]
    return {m["code"] for m in medals if m["held"]}


def flags(runtime, donor_id: int) -> list[FraudFlag]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return list(
            session.scalars(
                select(FraudFlag).where(FraudFlag.donor_id == donor_id).order_by(FraudFlag.id)
            )
        )


def donor_row(runtime, donor_id: int) -> Donor:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return session.get(Donor, donor_id)  # type: ignore[return-value]


def test_a_high_flag_holds_vesting_payouts_redemptions_and_the_wall(
    client, runtime, clock, auth, program
) -> None:
    farm = consenting_donor(runtime, "farm")
    headers = auth("farm")
    client.patch(
        "/v1/me", json={"payout": {"kind": "paypal_email", "value": "farm@example.com"}},
        headers=headers,
    )  # fmt: skip
    donate(client, headers, impossible_hour())
    report = scan(runtime, clock)
    assert report.flags_opened == 1 and report.donors_held == 1
    [flag] = flags(runtime, farm)
    assert (flag.rule, flag.severity, flag.status) == ("velocity", "high", "open")
    assert "4,000 s of footage" in flag.summary

    me = client.get("/v1/me", headers=headers).get_json()
    assert me["under_review"] is True and "velocity" not in str(me)
    assert me["balances"]["cash"][0]["pending_cents"] == 1_600
    standing = client.get("/v1/honor-wall/me?board=all-time", headers=headers).get_json()
    assert standing["state"] == "under_review"
    overview = client.get(f"/v1/admin/donors/{farm}", headers=auth("agent-1", "support"))
    assert overview.get_json()["on_hold"] is True
    assert [f["rule"] for f in overview.get_json()["open_flags"]] == ["velocity"]

    clock.advance(timedelta(days=20))  # past the review window
    run_job(runtime, find_job("vest-earnings"))
    assert ledger.donor_balances(runtime.db, farm).cash[0].pending_cents == 1_600
    assert payouts.create_batches(runtime).items == 0
    support.adjust(
        runtime.db, runtime.clock, AGENT, farm, asset="points", amount=5_000, reason="test points"
    )
    redemption = client.post(
        "/v1/redemptions", json={"reward_id": "gift-card-amazon-10-usd"}, headers=headers
    ).get_json()
    assert redemption["status"] == "requested"  # waits for a person

    # Dismissed: the hold goes, vesting and payouts resume.
    result = decided(runtime, flag.id, confirm=False, reason="a long event, checked the footage")
    assert result["on_hold"] is False and result["clips_reversed"] == 0
    run_job(runtime, find_job("vest-earnings"))
    assert ledger.donor_balances(runtime.db, farm).cash[0].available_cents == 1_600
    clock.advance(timedelta(days=4))  # past the destination's cooling-off
    assert payouts.create_batches(runtime).items == 1


def test_confirming_reverses_the_named_clips_their_earnings_and_medals(
    client, runtime, clock, auth, program
) -> None:
    honest = consenting_donor(runtime, "honest")
    farm = consenting_donor(runtime, "farm")
    donate(client, auth("honest"), [clip(camera_id="CAM-H")])
    farm_clips = donate(client, auth("farm"), impossible_hour())
    others = donate(
        client,
        auth("farm"),
        [clip(recorded_at=HOUR - timedelta(hours=n + 1), camera_id="CAM-TWO") for n in range(3)],
    )
    scan(runtime, clock)
    assert held_medals(client, auth("farm")) >= {"apprentice", "watch-10"}  # 11 clips
    [flag] = flags(runtime, farm)
    agent = auth("agent-1", "support")

    detail = client.get(f"/v1/admin/fraud-flags/{flag.id}", headers=agent).get_json()
    [evidence] = detail["evidence"]
    assert sorted(evidence["clip_ids"]) == sorted(c["clip_id"] for c in farm_clips)
    assert evidence["details"]["seconds"] == 4_000 and evidence["details"]["window"] == "hour"

    url = f"/v1/admin/fraud-flags/{flag.id}/resolve"
    bad = client.post(url, json={"decision": "maybe", "reason": "unsure"}, headers=agent)
    assert bad.status_code == 422 and "decision" in bad.get_json()["errors"]["json"]
    no_reason = client.post(url, json={"decision": "confirm"}, headers=agent)
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]["json"]
    result = decided(runtime, flag.id, confirm=True, reason="staged in a loop", ban=True)
    assert result["clips_reversed"] == 8 and result["banned"] is True and result["on_hold"]
    assert result["flag"]["status"] == "confirmed"

    with runtime.db.read() as session:
        rows = session.execute(select(Clip.id, Clip.status).where(Clip.donor_id == farm))
        statuses = dict(rows.all())
    assert all(statuses[c["clip_id"]] == "reversed" for c in farm_clips)
    assert {statuses[c["clip_id"]] for c in others} == {"accepted"}  # not in the evidence
    assert ledger.donor_balances(runtime.db, farm).cash[0].pending_cents == 600
    assert held_medals(client, auth("farm")) == {"apprentice"}  # 3 clips left
    assert ledger.donor_balances(runtime.db, honest).cash[0].pending_cents == 200
    assert ledger.verify(runtime.db).ok
    assert donor_row(runtime, farm).status == "banned"

    again = client.post(url, json={"decision": "dismiss", "reason": "second try"}, headers=agent)
    assert again.status_code == 409 and again.get_json()["error"] == "flag_already_resolved"
    with runtime.db.read() as session:
        [record] = session.scalars(select(AuditRecord).where(AuditRecord.action == "fraud.confirm"))
    assert record.reason == "staged in a loop" and record.after["clips_reversed"] == 8


def test_dismissed_evidence_never_flags_again_but_new_evidence_does(
    client, runtime, clock, auth, program
) -> None:
    farm = consenting_donor(runtime, "farm")
    donate(client, auth("farm"), impossible_hour())
    scan(runtime, clock)
    [flag] = flags(runtime, farm)
    decided(runtime, flag.id, confirm=False, reason="a long event")
    assert not donor_row(runtime, farm).on_hold

    for full in (True, False, True):
        assert scan(runtime, clock, full=full).flags_opened == 0
    assert len(flags(runtime, farm)) == 1 and not donor_row(runtime, farm).on_hold

    later = [
        clip(recorded_at=HOUR + timedelta(hours=-2, minutes=5 * n), camera_id="CAM-TWO",
             duration_s=500)
        for n in range(8)
    ]  # fmt: skip
    donate(client, auth("farm"), later)
    assert scan(runtime, clock).flags_opened == 1
    assert donor_row(runtime, farm).on_hold


def test_scans_are_idempotent_and_read_only_settled_clips(
    client, runtime, clock, auth, program, cli_env
) -> None:
    farm = consenting_donor(runtime, "farm")
    donate(client, auth("farm"), impossible_hour())
    assert fraud.scan(runtime, full=False).clips_in_scope == 0  # still settling
    first = scan(runtime, clock)
    assert (first.clips_in_scope, first.flags_opened) == (8, 1)
    second = scan(runtime, clock)
    assert (second.clips_in_scope, second.findings, second.flags_opened) == (0, 0, 0)
    full = scan(runtime, clock, full=True)
    assert (full.findings, full.new_evidence, full.flags_opened) == (1, 0, 0)
    assert len(flags(runtime, farm)) == 1

    runner = CliRunner()
    for job in ("fraud-scan", "fraud-scan-full"):
        result = runner.invoke(cli, ["jobs", "run", job])
        assert result.exit_code == 0, result.output
    assert len(flags(runtime, farm)) == 1


def test_exact_copies_from_another_donor_flag_the_later_one(
    client, runtime, clock, auth, program
) -> None:
    first, copier = consenting_donor(runtime, "first"), consenting_donor(runtime, "copier")
    originals = [clip(camera_id="CAM-A") for _ in range(2)]
    donate(client, auth("first"), originals)
    copies = [clip(camera_id="CAM-B", video_sha256=c["video_sha256"]) for c in originals]
    answered = donate(client, auth("copier"), copies)
    assert {c["status"] for c in answered} == {"duplicate"}
    scan(runtime, clock)
    assert flags(runtime, first) == []
    [flag] = flags(runtime, copier)
    assert (flag.rule, flag.score, flag.severity, flag.evidence_count) == (
        "exact_duplicate", 2.0, "medium", 2,
    )  # fmt: skip
    assert not donor_row(runtime, copier).on_hold  # medium: queued for review, not held


def test_flags_are_listed_sorted_and_only_for_staff(client, runtime, clock, auth, program) -> None:
    for name in ("a", "b"):
        consenting_donor(runtime, name)
        donate(client, auth(name), impossible_hour(f"CAM-{name}"))
    consenting_donor(runtime, "c")
    donate(client, auth("c"), [*impossible_hour("CAM-c"), *impossible_hour("CAM-c2")][:10])
    scan(runtime, clock)
    agent = auth("agent-1", "support")
    assert client.get("/v1/admin/fraud-flags", headers=auth("a")).status_code == 403
    assert client.get("/v1/admin/fraud-flags").status_code == 401
    page = client.get("/v1/admin/fraud-flags?limit=2", headers=agent).get_json()
    scores = [f["score"] for f in page["items"]]
    assert scores == sorted(scores, reverse=True) and page["next_cursor"]
    rest = client.get(
        f"/v1/admin/fraud-flags?limit=2&cursor={page['next_cursor']}", headers=agent
    ).get_json()
    assert len(page["items"]) + len(rest["items"]) == 3
    newest = client.get("/v1/admin/fraud-flags?sort=newest", headers=agent).get_json()["items"]
    assert [f["id"] for f in newest] == sorted((f["id"] for f in newest), reverse=True)
    assert (
        client.get(
            "/v1/admin/fraud-flags?rule=velocity&status=dismissed", headers=agent
        ).get_json()["items"]
        == []
    )
    bad = client.get("/v1/admin/fraud-flags?rule=astrology", headers=agent)
    assert bad.status_code == 422 and "rule" in bad.get_json()["errors"]["query"]
    assert client.get("/v1/admin/fraud-flags/999", headers=agent).status_code == 404
    assert client.post(
        "/v1/admin/fraud-flags/999/resolve", json={"decision": "dismiss", "reason": "none such"},
        headers=agent,
    ).status_code == 404  # fmt: skip


def test_rules_are_data_versioned_and_changed_by_admins_only(
    client, runtime, clock, auth, program
) -> None:
    agent, admin = auth("agent-1", "support"), auth("boss", "admin")
    rules = {r["code"]: r for r in client.get("/v1/admin/fraud-rules", headers=agent).get_json()}
    assert len(rules) == 8 and rules["near_duplicate"]["params"]["max_distance"] == 5
    url = "/v1/admin/fraud-rules/exact_duplicate"
    change = {"high_at": 1, "reason": "copies are never innocent here"}
    assert client.put(url, json=change, headers=agent).status_code == 403
    bad = client.put(url, json={"params": {"nope": 1}, "reason": "typo"}, headers=admin)
    assert bad.status_code == 422 and "nope" in bad.get_json()["errors"]["json"]["params"]
    assert (
        client.put("/v1/admin/fraud-rules/astrology", json=change, headers=admin).status_code == 422
    )
    changed = client.put(url, json=change, headers=admin).get_json()
    assert (changed["version"], changed["high_at"]) == (2, 1.0)

    first, copier = consenting_donor(runtime, "first"), consenting_donor(runtime, "copier")
    original = clip(camera_id="CAM-A")
    donate(client, auth("first"), [original])
    donate(client, auth("copier"), [clip(camera_id="CAM-B", video_sha256=original["video_sha256"])])
    scan(runtime, clock)
    [flag] = flags(runtime, copier)
    assert (flag.rule_version, flag.severity) == (2, "high") and donor_row(runtime, copier).on_hold
    with runtime.db.read() as session:
        actions = session.scalars(select(AuditRecord.action)).all()
    assert "fraud.rule_changed" in actions and "donor.hold" in actions
    assert first


def held_farm_with_a_gift_card(client, runtime, clock, auth) -> tuple[int, FraudFlag, dict]:  # type: ignore[no-untyped-def]
    """A donor held by a velocity flag who redeems a gift card while held."""
    farm = consenting_donor(runtime, "farm")
    donate(client, auth("farm"), impossible_hour())
    scan(runtime, clock)
    [flag] = flags(runtime, farm)
    assert donor_row(runtime, farm).on_hold
    support.adjust(
        runtime.db, runtime.clock, AGENT, farm, asset="points", amount=5_000, reason="test points"
    )
    answer = client.post(
        "/v1/redemptions", json={"reward_id": "gift-card-amazon-10-usd"}, headers=auth("farm")
    )
    assert answer.status_code == 201, answer.get_json()
    redemption = answer.get_json()
    assert (redemption["status"], redemption["code"]) == ("requested", None)
    return farm, flag, redemption


def redemption_of(client, auth, redemption_id: int) -> dict:  # type: ignore[no-untyped-def]
    answer = client.get(f"/v1/redemptions/{redemption_id}", headers=auth("farm"))
    assert answer.status_code == 200
    return answer.get_json()


def test_a_gift_card_redeemed_while_held_is_fulfilled_once_when_the_hold_is_released(
    client, runtime, clock, auth, program
) -> None:
    farm, flag, redemption = held_farm_with_a_gift_card(client, runtime, clock, auth)
    spendable = ledger.donor_balances(runtime.db, farm).points_available + 1_000
    result = decided(runtime, flag.id, confirm=False, reason="a long event, checked the footage")
    assert result["on_hold"] is False
    after = redemption_of(client, auth, redemption["id"])
    assert after["status"] == "fulfilled" and after["code"]
    fulfilled = [e for e in after["events"] if e["to_status"] == "fulfilled"]
    assert len(fulfilled) == 1 and fulfilled[0]["actor_kind"] == "system"

    # Released again (support, then a second dismissal attempt): nothing more happens.
    assert not holds.set_hold(
        runtime.db, runtime.clock, AGENT, farm, False, "released again", fulfil_gift_cards=True
    )
    again = client.post(
        f"/v1/admin/fraud-flags/{flag.id}/resolve",
        json={"decision": "dismiss", "reason": "twice"},
        headers=auth("agent-1", "support"),
    )
    assert again.status_code == 409
    final = redemption_of(client, auth, redemption["id"])
    assert final["code"] == after["code"] and final["events"] == after["events"]
    assert ledger.donor_balances(runtime.db, farm).points_available == spendable - 1_000
    assert ledger.verify(runtime.db).ok
    with runtime.db.read() as session:
        [record] = session.scalars(select(AuditRecord).where(AuditRecord.action == "fraud.dismiss"))
    assert record.after["redemptions_fulfilled"] == [redemption["id"]]


def test_a_support_release_fulfils_through_the_same_step_and_respects_auto_fulfilment(
    client, runtime, clock, auth, program
) -> None:
    farm, flag, redemption = held_farm_with_a_gift_card(client, runtime, clock, auth)
    runtime.settings = replace(runtime.settings, gift_cards_auto_fulfil=False)
    decided(runtime, flag.id, confirm=False, reason="checked")
    assert not donor_row(runtime, farm).on_hold
    assert redemption_of(client, auth, redemption["id"])["status"] == "requested"  # support's

    # Held again by hand, then released by support with auto-fulfilment on.
    holds.set_hold(runtime.db, runtime.clock, AGENT, farm, True, "phone check pending")
    assert holds.set_hold(
        runtime.db, runtime.clock, AGENT, farm, False, "phone check done", fulfil_gift_cards=True
    )
    after = redemption_of(client, auth, redemption["id"])
    assert after["status"] == "fulfilled" and after["code"]
    assert [e["to_status"] for e in after["events"]] == ["requested", "fulfilled"]
    assert ledger.verify(runtime.db).ok


def test_a_gift_card_redeemed_while_held_waits_for_support_when_the_flag_is_confirmed(
    client, runtime, clock, auth, program
) -> None:
    farm, flag, redemption = held_farm_with_a_gift_card(client, runtime, clock, auth)
    spendable = ledger.donor_balances(runtime.db, farm).points_available + 1_000
    fraud.resolve(runtime, AGENT, flag.id, confirm=True, reason="a loop", keep_hold=False)
    assert not donor_row(runtime, farm).on_hold
    assert redemption_of(client, auth, redemption["id"])["status"] == "requested"
    url = f"/v1/admin/redemptions/{redemption['id']}/transition"
    body_ = {"to": "cancelled", "reason": "earned by confirmed fraud"}
    agent = auth("agent-1", "support")
    assert client.post(url, json=body_, headers=agent).status_code == 200
    assert client.post(url, json=body_, headers=agent).status_code == 409  # refunded once
    assert ledger.donor_balances(runtime.db, farm).points_available == spendable
    assert ledger.verify(runtime.db).ok
