"""Every route of the app, taken from its URL map (a new route cannot be forgotten),
against every kind of caller: nobody, a donor, another donor, support, admin and the
maker's video pipeline (a service).

The documented answers: a route for donors refuses nobody (401) and staff (403); a
route for support refuses nobody (401) and donors (403); an admin route refuses support
(403) too; a donor's own resource is 'not found' (404) for another donor; public routes
and signature-checked webhooks need no token. The console answers a caller without a
staff session by sending them to sign in (GET) or refusing the form (403, no CSRF
token), and support on its admin pages with 403. Every other answer must show the
caller got past authorization: not 401 or 403, and never a 5xx.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from rewards_engine.models import (
    Clip,
    ClipClaim,
    FraudFlag,
    MedalNotification,
    PayoutBatch,
    PayoutItem,
)
from tests.conftest import make_token
from tests.support.console import World, build_world, csrf_of, sign_in
from tests.support.factories import add_campaign, body, clip

PUBLIC, WEBHOOK = "public", "webhook"
SIGNED_URL = "signed-url"  # the URL's signed token is the credential: a bad one is 403 for all
SERVICE = "service"  # the maker's video pipeline
DONOR, OWNED = "donor", "owned"  # OWNED: a donor's own resource, by id
SUPPORT, ADMIN = "support", "admin"
SIGN_IN, SIGN_OUT = "console-sign-in", "console-sign-out"
CONSOLE_SUPPORT, CONSOLE_ADMIN = "console-support", "console-admin"
REQUEST_ID = "request-id"  # readable by its unguessable id, with or without a token

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
    ("GET", "/v1/admin/donors/<int:donor_id>/cameras"): SUPPORT,
    ("PUT", "/v1/storage/uploads/<token>"): SIGNED_URL,
    ("GET", "/v1/videos/<string:token>"): SIGNED_URL,
    ("POST", "/v1/submissions"): DONOR,
    ("GET", "/v1/redemptions/<id64:redemption_id>"): OWNED,
    ("GET", "/v1/submissions/<id64:clip_id>"): OWNED,
    ("POST", "/v1/me/medal-notifications/<int:notification_id>/read"): OWNED,
    ("GET", "/v1/me/data-requests/<request_id>"): REQUEST_ID,
    ("GET", "/v1/admin/donors/<int:donor_id>"): SUPPORT,
    ("POST", "/v1/admin/donors/<int:donor_id>/adjustments"): SUPPORT,
    ("POST", "/v1/admin/submissions/<id64:clip_id>/reverse"): SUPPORT,
    ("POST", "/v1/admin/submissions/<id64:clip_id>/review"): SUPPORT,
    ("GET", "/v1/admin/fraud-flags"): SUPPORT,
    ("GET", "/v1/admin/fraud-flags/<int:flag_id>"): SUPPORT,
    ("POST", "/v1/admin/fraud-flags/<int:flag_id>/resolve"): SUPPORT,
    ("GET", "/v1/admin/fraud-rules"): SUPPORT,
    ("GET", "/v1/admin/medals"): SUPPORT,
    ("GET", "/v1/admin/redemptions"): SUPPORT,
    ("POST", "/v1/admin/redemptions/<id64:redemption_id>/transition"): SUPPORT,
    ("GET", "/v1/admin/rewards"): SUPPORT,
    ("GET", "/v1/admin/audit-log"): ADMIN,
    ("POST", "/v1/admin/campaigns"): ADMIN,
    ("PATCH", "/v1/admin/campaigns/<string:campaign_id>"): ADMIN,
    ("POST", "/v1/admin/consent-versions"): ADMIN,
    ("PUT", "/v1/admin/fraud-rules/<code>"): ADMIN,
    ("POST", "/v1/admin/medals"): ADMIN,
    ("PUT", "/v1/admin/medals/<string:code>"): ADMIN,
    ("POST", "/v1/admin/medals/<string:code>/retire"): ADMIN,
    ("POST", "/v1/admin/medals/backfill"): ADMIN,
    ("GET", "/v1/admin/payout-batches"): ADMIN,
    ("POST", "/v1/admin/payout-batches"): ADMIN,
    ("POST", "/v1/admin/payout-batches/<int:batch_id>/attach"): ADMIN,
    ("POST", "/v1/admin/payout-batches/<int:batch_id>/resend"): ADMIN,
    ("GET", "/v1/admin/payout-batches/<int:batch_id>/export.csv"): ADMIN,
    ("GET", "/v1/admin/payout-batches/<int:batch_id>/items"): ADMIN,
    ("POST", "/v1/admin/payout-items/<id64:item_id>/cancel"): ADMIN,
    ("POST", "/v1/admin/payout-items/<id64:item_id>/settle"): ADMIN,
    ("POST", "/v1/admin/rewards"): ADMIN,
    ("PUT", "/v1/admin/rewards/<string:item_id>"): ADMIN,
    ("POST", "/v1/admin/rewards/<string:item_id>/codes"): ADMIN,
    ("POST", "/v1/admin/rewards/<string:item_id>/retire"): ADMIN,
    ("POST", "/v1/admin/rewards/<string:item_id>/stock"): ADMIN,
    ("GET", "/console/sign-in"): PUBLIC,
    ("POST", "/console/sign-in"): SIGN_IN,
    ("POST", "/console/sign-out"): SIGN_OUT,
    ("GET", "/console/"): CONSOLE_SUPPORT,
    ("GET", "/console/donors"): CONSOLE_SUPPORT,
    ("GET", "/console/donors/<int:donor_id>"): CONSOLE_SUPPORT,
    ("POST", "/console/donors/<int:donor_id>/adjustments"): CONSOLE_SUPPORT,
    ("POST", "/console/donors/<int:donor_id>/reversals"): CONSOLE_SUPPORT,
    ("GET", "/console/fraud"): CONSOLE_SUPPORT,
    ("GET", "/console/fraud/<int:flag_id>"): CONSOLE_SUPPORT,
    ("POST", "/console/fraud/<int:flag_id>/resolve"): CONSOLE_SUPPORT,
    ("GET", "/console/redemptions"): CONSOLE_SUPPORT,
    ("POST", "/console/redemptions/<id64:redemption_id>/transition"): CONSOLE_SUPPORT,
    ("GET", "/console/payouts"): CONSOLE_ADMIN,
    ("GET", "/console/payouts/<int:batch_id>"): CONSOLE_ADMIN,
    ("GET", "/console/audit"): CONSOLE_ADMIN,
}
CALLERS = ("nobody", "donor", "another donor", "support", "admin", "service")
FORBIDDEN: dict[str, dict[str, int]] = {  # who is refused, and how
    PUBLIC: {},
    WEBHOOK: {},
    REQUEST_ID: {},
    SIGNED_URL: dict.fromkeys(CALLERS, 403),
    DONOR: {"nobody": 401, "support": 403, "admin": 403, "service": 403},
    OWNED: {"nobody": 401, "another donor": 404, "support": 403, "admin": 403, "service": 403},
    SUPPORT: {"nobody": 401, "donor": 403, "another donor": 403, "service": 403},
    ADMIN: {"nobody": 401, "donor": 403, "another donor": 403, "support": 403, "service": 403},
    SERVICE: {"nobody": 401, "donor": 403, "another donor": 403, "support": 403, "admin": 403},
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
        "support": auth("agent-1", "support"),
        "admin": auth("boss", "admin"),
        "service": auth("video-pipeline", "service"),
    }
    staff_sessions = {
        "support": sign_in(app.test_client(), make_token(settings, "agent-1", "support")),
        "admin": sign_in(app.test_client(), make_token(settings, "boss", "admin")),
    }
    wrong: list[str] = []
    # Erasing the donor and signing out go last: they end what the others use.
    last = {("DELETE", "/v1/me"), ("POST", "/console/sign-out")}
    routes = sorted(ACCESS.items(), key=lambda kv: (kv[0] in last, kv[0]))
    for (method, rule), access in routes:
        path = _path(rule, ids)
        for caller in CALLERS:
            status = _call(app, client, staff_sessions, headers, caller, method, path, access)
            expected = _expected(access, caller, method)
            ok = status == expected if expected else status not in (401, 403) and status < 500
            if not ok:
                wrong.append(
                    f"{method} {path} as {caller}: {status}, expected {expected or 'pass'}"
                )
    assert wrong == [], "\n".join(wrong)


def _call(app, client, sessions, headers, caller, method, path, access):  # type: ignore[no-untyped-def]
    if access.startswith("console") and caller in sessions:
        browser = sessions[caller]
        data = {"csrf_token": csrf_of(browser.get("/console/donors").text)}
        return browser.open(path, method=method, data=data).status_code
    if access.startswith("console"):
        return app.test_client().open(path, method=method, data={}).status_code
    return client.open(path, method=method, headers=headers[caller], json={}).status_code


def _expected(access: str, caller: str, method: str) -> int | None:
    """The exact refusal this caller gets, or None where they pass authorization."""
    staff = caller in ("support", "admin")
    if access == SIGN_IN:  # a form without its CSRF token; staff sent no token to sign in with
        return 401 if staff else 403
    if access == SIGN_OUT:
        return None if staff else 403
    if access in (CONSOLE_SUPPORT, CONSOLE_ADMIN):
        if not staff:
            return 303 if method == "GET" else 403  # sign in first; a form needs its token
        return 403 if access == CONSOLE_ADMIN and caller == "support" else None
    return FORBIDDEN[access].get(caller)
