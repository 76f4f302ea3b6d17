"""Every route of the app, taken from its URL map (a new route cannot be forgotten),
against every kind of caller: nobody, a donor, another donor, each staff role (support,
support lead, finance, admin) and the maker's video pipeline (a service).

The documented answers: a route for donors refuses nobody (401) and staff (403); a staff
route names the staff actions it needs, and refuses nobody (401), donors and the service
(403), and each staff role the staff policy (fixtures/staff_roles.toml, as loaded) does
not allow one of those actions (403): the expected answer comes from the policy, not
from a second table here. A donor's own resource is 'not found' (404) for another donor;
public routes and signature-checked webhooks need no token. The console answers a
caller without a staff session by sending them to sign in (GET) or refusing the form
(403, no CSRF token), and a staff role its page's actions are not allowed with 403.
Every other answer must show the caller got past authorization: not 401 or 403, and
never a 5xx.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from rewards_engine.domain import staff_policy as policy
from rewards_engine.models import (
    Clip,
    ClipClaim,
    FraudFlag,
    MedalNotification,
    PayoutBatch,
    PayoutItem,
)
from rewards_engine.services import staff_policy
from tests.conftest import make_token
from tests.support.console import World, build_world, csrf_of, sign_in
from tests.support.factories import add_campaign, body, clip

PUBLIC, WEBHOOK = "public", "webhook"
SIGNED_URL = "signed-url"  # the URL's signed token is the credential: a bad one is 403 for all
SERVICE = "service"  # the maker's video pipeline
DONOR, OWNED = "donor", "owned"  # OWNED: a donor's own resource, by id
SIGN_IN, SIGN_OUT = "console-sign-in", "console-sign-out"
REQUEST_ID = "request-id"  # readable by its unguessable id, with or without a token


def staff(*actions: str) -> str:
    """A /v1/admin route: a staff role the policy allows one of ``actions`` passes."""
    return "staff:" + ",".join(actions)


def console(*actions: str) -> str:
    """A console page or form, checked against the policy as the API's are."""
    return "console:" + ",".join(actions)


ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/assets/<path:filename>"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/static/<path:filename>"): PUBLIC,
    ("GET", "/static/medals/<name>"): PUBLIC,
    ("GET", "/v1/campaigns"): PUBLIC,
    ("GET", "/v1/campaigns/<string:campaign_id>"): PUBLIC,
    ("GET", "/v1/consent"): PUBLIC,
    ("GET", "/v1/honor-wall"): PUBLIC,
    ("GET", "/v1/rewards"): PUBLIC,
    ("GET", "/v1/transparency"): PUBLIC,
    ("POST", "/v1/webhooks/paypal"): WEBHOOK,
    ("POST", "/v1/webhooks/stripe"): WEBHOOK,
    ("POST", "/v1/webhooks/tremendous"): WEBHOOK,
    ("GET", "/v1/me"): DONOR,
    ("PATCH", "/v1/me"): DONOR,
    ("DELETE", "/v1/me"): DONOR,
    ("POST", "/v1/me/consent"): DONOR,
    ("DELETE", "/v1/me/consent"): DONOR,
    ("GET", "/v1/me/consents"): DONOR,
    ("GET", "/v1/me/export"): DONOR,
    ("GET", "/v1/me/ledger"): DONOR,
    ("GET", "/v1/me/medals"): DONOR,
    ("GET", "/v1/me/payouts"): DONOR,
    ("GET", "/v1/honor-wall/me"): DONOR,
    ("GET", "/v1/redemptions"): DONOR,
    ("POST", "/v1/redemptions"): DONOR,
    ("GET", "/v1/submissions"): DONOR,
    ("GET", "/v1/uploads"): DONOR,
    ("GET", "/v1/uploads/<id64:claim_id>"): OWNED,
    ("POST", "/v1/uploads/<id64:claim_id>/complete"): OWNED,
    ("POST", "/v1/intake/clips"): SERVICE,
    ("POST", "/v1/intake/cameras"): SERVICE,
    ("GET", "/v1/me/cameras"): DONOR,
    ("GET", "/v1/me/home"): DONOR,
    ("GET", "/v1/me/notifications"): DONOR,
    ("GET", "/v1/me/follows"): DONOR,
    ("PUT", "/v1/me/follows/<string:board>"): DONOR,
    ("DELETE", "/v1/me/follows/<string:board>"): DONOR,
    ("GET", "/v1/me/notifications/unread-count"): DONOR,
    ("POST", "/v1/me/notifications/read-all"): DONOR,
    ("POST", "/v1/me/notifications/<id64:notification_id>/read"): DONOR,
    ("DELETE", "/v1/me/notifications/<id64:notification_id>"): DONOR,
    ("POST", "/v1/me/cameras"): DONOR,
    ("GET", "/v1/me/devices"): DONOR,
    ("POST", "/v1/me/devices"): DONOR,
    ("DELETE", "/v1/me/devices/<int:device_id>"): DONOR,
    ("GET", "/v1/me/push-preferences"): DONOR,
    ("PUT", "/v1/me/push-preferences"): DONOR,
    ("GET", "/v1/admin/donors/<int:donor_id>/cameras"): staff(policy.DONORS_READ),
    ("PUT", "/v1/storage/uploads/<token>"): SIGNED_URL,
    ("GET", "/v1/videos/<string:token>"): SIGNED_URL,
    ("POST", "/v1/submissions"): DONOR,
    ("GET", "/v1/redemptions/<id64:redemption_id>"): OWNED,
    ("GET", "/v1/submissions/<id64:clip_id>"): OWNED,
    ("POST", "/v1/me/medal-notifications/<int:notification_id>/read"): OWNED,
    ("GET", "/v1/me/data-requests/<request_id>"): REQUEST_ID,
    ("GET", "/v1/admin/donors/<int:donor_id>"): staff(policy.DONORS_READ),
    ("POST", "/v1/admin/donors/<int:donor_id>/adjustments"): staff(
        policy.POINTS_ADJUST, policy.CASH_ADJUST
    ),
    ("POST", "/v1/admin/submissions/<id64:clip_id>/reverse"): staff(policy.CLIP_REVERSE),
    ("POST", "/v1/admin/submissions/<id64:clip_id>/review"): staff(policy.CLIPS_REVIEW),
    ("GET", "/v1/admin/fraud-flags"): staff(policy.FRAUD_READ),
    ("GET", "/v1/admin/fraud-flags/<int:flag_id>"): staff(policy.FRAUD_READ),
    ("POST", "/v1/admin/fraud-flags/<int:flag_id>/resolve"): staff(policy.FRAUD_RESOLVE),
    ("GET", "/v1/admin/fraud-rules"): staff(policy.FRAUD_READ),
    ("GET", "/v1/admin/medals"): staff(policy.CATALOG_READ),
    ("GET", "/v1/admin/redemptions"): staff(policy.REDEMPTIONS_READ),
    ("POST", "/v1/admin/redemptions/<id64:redemption_id>/transition"): staff(
        policy.REDEMPTION_SHIP
    ),
    ("POST", "/v1/admin/redemptions/<id64:redemption_id>/resend"): staff(policy.REDEMPTION_RESEND),
    ("POST", "/v1/admin/redemptions/<id64:redemption_id>/cancel-order"): staff(
        policy.REDEMPTION_CANCEL
    ),
    ("GET", "/v1/admin/rewards"): staff(policy.CATALOG_READ),
    ("POST", "/v1/admin/submissions/review"): staff(policy.CLIPS_REVIEW),
    ("GET", "/v1/admin/approvals"): staff(policy.APPROVALS_READ),
    ("GET", "/v1/admin/approvals/<int:approval_id>"): staff(policy.APPROVALS_READ),
    ("POST", "/v1/admin/approvals/<int:approval_id>/approve"): staff(policy.APPROVALS_DECIDE),
    ("POST", "/v1/admin/approvals/<int:approval_id>/refuse"): staff(policy.APPROVALS_DECIDE),
    ("GET", "/v1/admin/audit-log"): staff(policy.AUDIT_READ),
    ("GET", "/v1/admin/staff-roles"): staff(policy.ROLES_READ),
    ("PUT", "/v1/admin/staff-roles/<string:role>"): staff(policy.ROLES_CHANGE),
    ("GET", "/v1/admin/staff-sessions"): staff(policy.SESSIONS_END),
    ("POST", "/v1/admin/staff-sessions/end"): staff(policy.SESSIONS_END),
    ("GET", "/v1/admin/token-revocations"): staff(policy.TOKENS_REVOKE),
    ("POST", "/v1/admin/token-revocations"): staff(policy.TOKENS_REVOKE),
    ("POST", "/v1/admin/subject-revocations"): staff(policy.TOKENS_REVOKE),
    ("POST", "/v1/admin/campaigns"): staff(policy.CAMPAIGN_CHANGE),
    ("PATCH", "/v1/admin/campaigns/<string:campaign_id>"): staff(policy.CAMPAIGN_CHANGE),
    ("POST", "/v1/admin/consent-versions"): staff(policy.CONSENT_PUBLISH),
    ("PUT", "/v1/admin/fraud-rules/<code>"): staff(policy.FRAUD_RULES_CHANGE),
    ("POST", "/v1/admin/medals"): staff(policy.CATALOG_CHANGE),
    ("PUT", "/v1/admin/medals/<string:code>"): staff(policy.CATALOG_CHANGE),
    ("POST", "/v1/admin/medals/<string:code>/retire"): staff(policy.CATALOG_CHANGE),
    ("POST", "/v1/admin/medals/backfill"): staff(policy.CATALOG_CHANGE),
    ("GET", "/v1/admin/payout-batches"): staff(policy.PAYOUTS_READ),
    ("POST", "/v1/admin/payout-batches"): staff(policy.PAYOUTS_BATCH),
    ("POST", "/v1/admin/payout-batches/<int:batch_id>/attach"): staff(policy.PAYOUTS_BATCH),
    ("POST", "/v1/admin/payout-batches/<int:batch_id>/resend"): staff(policy.PAYOUTS_BATCH),
    ("GET", "/v1/admin/payout-batches/<int:batch_id>/export.csv"): staff(policy.PAYOUTS_EXPORT),
    ("GET", "/v1/admin/payout-batches/<int:batch_id>/items"): staff(policy.PAYOUTS_READ),
    ("POST", "/v1/admin/payout-items/<id64:item_id>/cancel"): staff(policy.PAYOUTS_BATCH),
    ("POST", "/v1/admin/payout-items/<id64:item_id>/settle"): staff(policy.PAYOUTS_BATCH),
    ("POST", "/v1/admin/rewards"): staff(policy.CATALOG_CHANGE),
    ("PUT", "/v1/admin/rewards/<string:item_id>"): staff(policy.CATALOG_CHANGE),
    ("POST", "/v1/admin/rewards/<string:item_id>/codes"): staff(policy.CATALOG_CHANGE),
    ("POST", "/v1/admin/rewards/<string:item_id>/retire"): staff(policy.CATALOG_CHANGE),
    ("POST", "/v1/admin/rewards/<string:item_id>/stock"): staff(policy.CATALOG_CHANGE),
    ("GET", "/console/sign-in"): PUBLIC,
    ("POST", "/console/sign-in"): SIGN_IN,
    ("POST", "/console/sign-out"): SIGN_OUT,
    ("POST", "/console/sign-out-everywhere"): SIGN_OUT,
    ("GET", "/console/"): console(policy.DONORS_READ),
    ("GET", "/console/donors"): console(policy.DONORS_READ),
    ("GET", "/console/donors/<int:donor_id>"): console(policy.DONORS_READ),
    ("POST", "/console/donors/<int:donor_id>/adjustments"): console(
        policy.POINTS_ADJUST, policy.CASH_ADJUST
    ),
    ("POST", "/console/donors/<int:donor_id>/reversals"): console(policy.CLIP_REVERSE),
    ("GET", "/console/fraud"): console(policy.FRAUD_READ),
    ("GET", "/console/fraud/<int:flag_id>"): console(policy.FRAUD_READ),
    ("POST", "/console/fraud/<int:flag_id>/resolve"): console(policy.FRAUD_RESOLVE),
    ("GET", "/console/redemptions"): console(policy.REDEMPTIONS_READ),
    ("POST", "/console/redemptions/<id64:redemption_id>/transition"): console(
        policy.REDEMPTION_SHIP
    ),
    ("POST", "/console/redemptions/<id64:redemption_id>/resend"): console(policy.REDEMPTION_RESEND),
    ("POST", "/console/redemptions/<id64:redemption_id>/cancel-order"): console(
        policy.REDEMPTION_CANCEL
    ),
    ("GET", "/console/payouts"): console(policy.PAYOUTS_READ),
    ("GET", "/console/payouts/<int:batch_id>"): console(policy.PAYOUTS_READ),
    ("GET", "/console/audit"): console(policy.AUDIT_READ),
    ("GET", "/console/approvals"): console(policy.APPROVALS_READ),
    ("POST", "/console/approvals/<int:approval_id>/approve"): console(policy.APPROVALS_DECIDE),
    ("POST", "/console/approvals/<int:approval_id>/refuse"): console(policy.APPROVALS_DECIDE),
    ("GET", "/console/staff-roles"): console(policy.ROLES_READ),
    ("POST", "/console/staff-roles/<role>"): console(policy.ROLES_CHANGE),
    ("GET", "/console/sessions"): console(policy.SESSIONS_END),
    ("POST", "/console/sessions/end"): console(policy.SESSIONS_END),
}
ROLE_OF = {"support": "support", "support lead": "support_lead", "finance": "finance",
           "admin": "admin"}  # fmt: skip
STAFF = tuple(ROLE_OF)
CALLERS = ("nobody", "donor", "another donor", *STAFF, "service")
FORBIDDEN: dict[str, dict[str, int]] = {  # who is refused, and how (staff routes: below)
    PUBLIC: {},
    WEBHOOK: {},
    REQUEST_ID: {},
    SIGNED_URL: dict.fromkeys(CALLERS, 403),
    DONOR: {"nobody": 401, **dict.fromkeys(STAFF, 403), "service": 403},
    OWNED: {"nobody": 401, "another donor": 404, **dict.fromkeys(STAFF, 403), "service": 403},
    SERVICE: {"nobody": 401, "donor": 403, "another donor": 403, **dict.fromkeys(STAFF, 403)},
}


def app_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_has_a_documented_access_rule(app) -> None:
    routes = app_routes(app)
    assert routes - ACCESS.keys() == set(), "add the new routes to ACCESS"
    assert ACCESS.keys() - routes == set(), "ACCESS names routes that no longer exist"


def _ids(runtime, world: World) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return {
            "donor_id": world.ada,
            "clip_id": session.scalar(select(func.min(Clip.id)).where(Clip.donor_id == world.ada)),
            "redemption_id": world.camera_redemption,
            "notification_id": session.scalar(
                select(func.min(MedalNotification.id)).where(
                    MedalNotification.donor_id == world.ada
                )
            ),
            "flag_id": session.scalar(select(func.min(FraudFlag.id))),
            "claim_id": session.scalar(
                select(func.min(ClipClaim.id)).where(ClipClaim.donor_id == world.ada)
            ),
            "batch_id": session.scalar(select(func.min(PayoutBatch.id))),
            "item_id": session.scalar(select(func.min(PayoutItem.id))),
            "approval_id": 1,  # none made: staff past authorization get 404
            "device_id": 1,  # none registered: a donor's DELETE is 404, past authorization
            "campaign_id": "theft-bounty-2024",
            "code": "apprentice",
            "item_id_str": "camera-outdoor-s2",
            "filename": "console/console.css",
        }


def _claim_one_video(runtime, client, headers) -> None:  # type: ignore[no-untyped-def]
    campaign = add_campaign(runtime, requires_upload=True)
    video = clip(size_bytes=1_000_000, recorded_at=runtime.clock.now() - timedelta(hours=1))
    answer = client.post("/v1/submissions", json=body(campaign.id, [video]), headers=headers)
    assert answer.status_code == 201, answer.get_json()


def _path(rule: str, ids: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        if name == "item_id" and converter == "string":
            return str(ids["item_id_str"])
        if name == "filename" and rule.startswith("/docs"):
            return "swagger-ui.css"
        return str(ids.get(name, "x"))

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", value, rule)


def test_every_route_answers_every_caller_as_documented(app, runtime, client, auth, settings):  # type: ignore[no-untyped-def]
    world = build_world(runtime, client, auth)
    _claim_one_video(runtime, client, auth("ada"))
    ids = _ids(runtime, world)
    erase = client.delete("/v1/me", headers=auth("eraser"))  # an erasure request of its own
    ids["request_id"] = erase.get_json()["id"]
    headers = {
        "nobody": {},
        "donor": auth("ada"),
        "another donor": auth("farm"),
        **{caller: auth(f"{ROLE_OF[caller]}-1", ROLE_OF[caller]) for caller in STAFF},
        "service": auth("video-pipeline", "service"),
    }
    staff_sessions = {
        caller: sign_in(app.test_client(), make_token(settings, f"{role}-1", role))
        for caller, role in ROLE_OF.items()
    }
    allowed = staff_policy.current(runtime.db)  # the fixture's policy, as loaded
    assert set(allowed.roles) == set(ROLE_OF.values())
    wrong: list[str] = []
    # Erasing the donor and signing out go last: they end what the others use.
    last = {("DELETE", "/v1/me"), ("POST", "/console/sign-out")}
    routes = sorted(ACCESS.items(), key=lambda kv: (kv[0] in last, kv[0]))
    for (method, rule), access in routes:
        path = _path(rule, ids)
        for caller in CALLERS:
            status = _call(app, client, staff_sessions, headers, caller, method, path, access)
            expected = _expected(allowed, access, caller, method)
            ok = status == expected if expected else status not in (401, 403) and status < 500
            if not ok:
                wrong.append(
                    f"{method} {path} as {caller}: {status}, expected {expected or 'pass'}"
                )
    assert wrong == [], "\n".join(wrong)


def _call(app, client, sessions, headers, caller, method, path, access):  # type: ignore[no-untyped-def]
    if access == SIGN_OUT and caller in sessions:
        # A browser of its own, for an agent of its own: signing out (everywhere) ends
        # sessions on the server, and the other routes still need theirs.
        settings = app.extensions["rewards_engine"].settings
        token = make_token(settings, f"{ROLE_OF[caller]}-signing-out", ROLE_OF[caller])
        browser = sign_in(app.test_client(), token)
        data = {"csrf_token": csrf_of(browser.get("/console/donors").text)}
        return browser.open(path, method=method, data=data).status_code
    if access.startswith("console") and caller in sessions:
        browser = sessions[caller]
        data = {"csrf_token": csrf_of(browser.get("/console/donors").text)}
        return browser.open(path, method=method, data=data).status_code
    if access.startswith("console"):
        return app.test_client().open(path, method=method, data={}).status_code
    return client.open(path, method=method, headers=headers[caller], json={}).status_code


def _expected(allowed: policy.Policy, access: str, caller: str, method: str) -> int | None:
    """The exact refusal this caller gets, or None where they pass authorization."""
    is_staff = caller in STAFF
    if access == SIGN_IN:  # a form without its CSRF token; staff sent no token to sign in with
        return 401 if is_staff else 403
    if access == SIGN_OUT:
        return None if is_staff else 403
    kind, _, actions = access.partition(":")
    if kind == "console":
        if not is_staff:
            return 303 if method == "GET" else 403  # sign in first; a form needs its token
    elif kind == "staff":
        if not is_staff:
            return 401 if caller == "nobody" else 403
    else:
        return FORBIDDEN[access].get(caller)
    return None if allowed.allows_any(ROLE_OF[caller], tuple(actions.split(","))) else 403


def test_the_matrix_refuses_each_staff_role_something_and_allows_it_something(app) -> None:
    """The policy the matrix derives from is not vacuous: every staff role below admin
    is refused some staff route, and each is allowed some."""
    from rewards_engine.services.staff_policy import shipped_policy

    shipped = shipped_policy()
    staff_routes = [a for a in ACCESS.values() if a.startswith(("staff:", "console:"))]
    for caller, role in ROLE_OF.items():
        verdicts = {
            shipped.allows_any(role, tuple(a.partition(":")[2].split(","))) for a in staff_routes
        }
        assert True in verdicts, caller
        assert (False in verdicts) == (role != "admin"), caller
