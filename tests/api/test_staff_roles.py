"""Staff roles over HTTP and in the console (issue 24, part 1): admins read and change a
role (a new version, audited), the change applies from the next request, bad edits are
422 naming the field; the limits answer 403 with their code; the alert is a metric."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from rewards_engine.services import staff_policy
from rewards_engine.services.donors import ensure_donor
from tests.conftest import make_token
from tests.support.console import csrf_of, sign_in
from tests.support.factories import add_campaign, clip, consenting_donor, load_program
from tests.support.factories import donate_ids as donate

ROLES = "/v1/admin/staff-roles"


def _support_may(client, admin: dict[str, str], may: set[str], **extra: Any):  # type: ignore[no-untyped-def]
    body = {"may": sorted(may), "reason": "policy review", **extra}
    return client.put(f"{ROLES}/support", json=body, headers=admin)


def test_every_staff_role_reads_the_roles_and_only_admins_change_them(client, auth) -> None:
    for role in ("support", "support_lead", "finance", "admin"):
        answer = client.get(ROLES, headers=auth(f"{role}-1", role))
        assert answer.status_code == 200, (role, answer.get_json())
        roles = {r["role"]: r for r in answer.get_json()}
        assert set(roles) == {"support", "support_lead", "finance", "admin"}
        assert roles["support"]["limits"]["cash.adjust"] == {"per_action": 5_000, "per_day": 50_000}
    for role in ("support", "support_lead", "finance"):
        denied = _support_may(client, auth(f"{role}-1", role), {"donors.read"})
        assert denied.status_code == 403, role
    assert client.get(ROLES, headers=auth("ada")).status_code == 403


def test_an_admin_s_change_applies_to_the_next_request_and_is_audited(client, auth) -> None:
    agent, admin = auth("agent-1", "support"), auth("boss", "admin")
    ada = client.get("/v1/me", headers=auth("ada")).get_json()["id"]
    adjust = {"asset": "points", "amount": 100, "reason": "welcome"}
    url = f"/v1/admin/donors/{ada}/adjustments"
    assert client.post(url, json=adjust, headers=agent).status_code == 201
    shipped = staff_policy.shipped_policy().roles["support"].may
    changed = _support_may(client, admin, shipped - {"points.adjust"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["version"] == 2 and "points.adjust" not in changed.get_json()["may"]
    refused = client.post(url, json=adjust, headers=agent)
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    assert client.get(f"/v1/admin/donors/{ada}", headers=agent).status_code == 200  # kept
    audit = client.get(
        "/v1/admin/audit-log", query_string={"action": "staff_role.changed"}, headers=admin
    ).get_json()["items"]
    [record] = audit
    assert record["actor_id"] == "admin:boss" and record["target_id"] == "support"
    assert "points.adjust" in record["before"]["may"]
    assert "points.adjust" not in record["after"]["may"]


def test_bad_role_edits_are_422_naming_the_field(client, auth) -> None:
    admin = auth("boss", "admin")
    cases = [
        ({"may": ["donors.read", "fly"]}, "may.1"),
        ({"may": ["cash.adjust"], "limits": {"cash.adjust": {"per_day": 0}}},
         "limits.cash.adjust.per_day"),
        ({"may": ["cash.adjust"], "limits": {"clip.reverse": {"per_day": 5}}},
         "limits.clip.reverse"),
        ({"may": ["cash.adjust"], "colour": "red"}, "colour"),
        ({"limits": {}}, "may"),
    ]  # fmt: skip
    for body, field in cases:
        answer = client.put(f"{ROLES}/support", json={**body, "reason": "edit"}, headers=admin)
        assert answer.status_code == 422, (body, answer.get_json())
        assert field in _fields(answer.get_json()["errors"]["json"]), (field, answer.get_json())
    lock_out = client.put(f"{ROLES}/admin", json={"may": ["donors.read"], "reason": "oops"},
                          headers=admin)  # fmt: skip
    assert lock_out.status_code == 422 and "may" in _fields(lock_out.get_json()["errors"]["json"])
    unknown = client.put(f"{ROLES}/janitor", json={"may": [], "reason": "new"}, headers=admin)
    assert unknown.status_code == 404
    roles = client.get(ROLES, headers=admin).get_json()
    assert {r["version"] for r in roles} == {0}  # nothing was written


def _fields(errors: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted paths of the error body's (nested) fields."""
    found: set[str] = set()
    for key, value in errors.items():
        path = f"{prefix}{key}"
        found |= _fields(value, f"{path}.") if isinstance(value, dict) else {path}
    return found


def test_limits_answer_403_with_their_code_and_the_alert_is_a_metric(client, auth) -> None:
    agent, admin = auth("agent-1", "support"), auth("boss", "admin")
    ada = client.get("/v1/me", headers=auth("ada")).get_json()["id"]
    url = f"/v1/admin/donors/{ada}/adjustments"
    limits = {"cash.adjust": {"per_action": 3_000, "per_day": 5_000}}
    shipped = staff_policy.shipped_policy().roles["support"].may
    assert _support_may(client, admin, shipped, limits=limits).status_code == 200

    def cash(cents: int):  # type: ignore[no-untyped-def]
        body = {"asset": "cash", "currency": "USD", "amount": cents, "reason": "goodwill"}
        return client.post(url, json=body, headers=agent)

    over = cash(3_001)
    assert over.status_code == 403 and over.get_json()["error"] == "over_limit"
    assert "3,000" in over.get_json()["message"]
    assert cash(3_000).status_code == 201
    before = _alerts(client)
    day = cash(2_001)
    assert day.status_code == 403 and day.get_json()["error"] == "daily_limit_exceeded"
    assert _alerts(client) == before + 1
    assert cash(2_000).status_code == 201  # up to the cap exactly
    balance = client.get("/v1/me", headers=auth("ada")).get_json()["balances"]["cash"][0]
    assert balance["available_cents"] == 5_000


def _alerts(client) -> float:  # type: ignore[no-untyped-def]
    text = client.get("/metrics").text
    found = re.search(
        r'^rewards_alerts_total\{event="staff.daily_limit_exceeded"\} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_single_clip_reviews_count_against_the_reviewer_s_day(client, runtime, clock, auth) -> None:
    admin, agent = auth("boss", "admin"), auth("agent-1", "support")
    limits = {"clips.review": {"per_action": 1, "per_day": 1}}
    shipped = staff_policy.shipped_policy().roles["support"].may
    assert _support_may(client, admin, shipped, limits=limits).status_code == 200
    load_program(runtime)
    consenting_donor(runtime, "ada")
    campaign = add_campaign(
        runtime, review_if_older_than_days=30, starts_at=clock.now() - timedelta(days=90)
    )
    old = [clip(recorded_at=clock.now() - timedelta(days=40 + n)) for n in range(2)]
    first, second = donate(client, auth("ada"), old, campaign.id)
    decide = {"decision": "accept", "reason": "verified footage"}
    ok = client.post(f"/v1/admin/submissions/{first}/review", json=decide, headers=agent)
    assert ok.status_code == 200, ok.get_json()
    refused = client.post(f"/v1/admin/submissions/{second}/review", json=decide, headers=agent)
    assert refused.status_code == 403 and refused.get_json()["error"] == "daily_limit_exceeded"
    waiting = client.get(f"/v1/submissions/{second}", headers=auth("ada")).get_json()
    assert waiting["status"] == "pending_review"  # nothing of the refused review applied


def test_the_console_shows_the_roles_and_admins_change_one(app, runtime, settings) -> None:
    admin = sign_in(app.test_client(), make_token(settings, "boss", "admin"))
    page = admin.get("/console/staff-roles")
    assert page.status_code == 200 and 'id="role-support_lead"' in page.text
    form: dict[str, Any] = {
        "csrf_token": csrf_of(page.text),
        "may": ["donors.read", "fraud.read", "cash.adjust"],
        "cash.adjust.per_action": "2,500",
        "cash.adjust.per_day": "",
        "reason": "tier 1 reads and small cash only",
    }
    saved = admin.post("/console/staff-roles/support", data=form, follow_redirects=True)
    assert "Role support is now version 2" in saved.text
    agent = sign_in(app.test_client(), make_token(settings, "agent-1", "support"))
    assert agent.get("/console/redemptions").status_code == 403  # redemptions.read removed
    mine = agent.get("/console/staff-roles")
    assert mine.status_code == 403  # roles.read was removed too
    ada = ensure_donor(runtime.db, runtime.clock, "ada").id
    page = agent.get(f"/console/donors/{ada}").text  # only the forms the role may use
    assert 'id="adjust"' in page and 'value="cash"' in page and 'value="points"' not in page
    assert 'id="reverse"' not in page
    nav = page[page.index("<nav>") : page.index("</nav>")]  # the menu too
    assert "/console/staff-roles" not in nav and "/console/redemptions" not in nav
    assert "/console/fraud" in nav
    bad = admin.post(
        "/console/staff-roles/support",
        data={**form, "cash.adjust.per_day": "1,000", "reason": "per day below per action"},
        follow_redirects=True,
    )
    assert "Nothing was changed (limits.cash.adjust.per_action)" in bad.text
    finance = sign_in(app.test_client(), make_token(settings, "fin-1", "finance"))
    listing = finance.get("/console/staff-roles")
    assert listing.status_code == 200 and "Save support" not in listing.text  # read only
    assert (
        finance.post(
            "/console/staff-roles/support", data={**form, "csrf_token": csrf_of(listing.text)}
        ).status_code
        == 403
    )
