"""The support console in a real browser: an agent signs in, finds a donor, adjusts their
points, confirms a fraud flag and ships a camera; an admin reads payouts and the audit
log; a page on another site cannot act through the agent's browser. Each page is saved
as a screenshot (test-artifacts/console/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from markupsafe import escape
from sqlalchemy import select

from rewards_engine.models import AuditRecord, Clip, Redemption
from rewards_engine.services import ledger
from tests.conftest import make_token
from tests.support.console import World, build_world
from tests.support.processes import serving

pytestmark = pytest.mark.browser


@pytest.fixture
def world(runtime, client, auth) -> World:
    return build_world(runtime, client, auth)


def sign_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/donors")
    assert page.url.startswith(f"{base}/console/sign-in")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/console/donors")


def flash(page: Any) -> str:
    return page.locator(".flash").last.inner_text()


def test_an_agent_finds_a_donor_and_adjusts_their_points(
    page, live_server, settings, runtime, world, snap
) -> None:
    page.goto(f"{live_server}/console/donors")
    snap("sign-in")
    sign_in(page, live_server, make_token(settings, "agent-1", "support"))
    page.fill("#q", "ada")
    page.click("button:has-text('Search')")
    snap("search")
    page.click(f"a[href='/console/donors/{world.ada}']")
    balance = page.locator("[data-balance=points_available]")
    before = int(balance.inner_text().replace(",", ""))
    assert page.locator("svg rect.bar").count() == 30  # the chart: one bar per day
    page.select_option("#asset", "points")
    page.fill("#amount", "750")
    page.fill("#adjust-reason", "goodwill: the app lost a submission")
    page.click("button:has-text('Adjust')")
    assert flash(page).startswith("Adjusted by +750 points")
    assert int(balance.inner_text().replace(",", "")) == before + 750
    assert ledger.donor_balances(runtime.db, world.ada).points_available == before + 750
    snap("donor-after-adjustment")

    page.fill("#amount", "-99999999")  # more than they have: refused, named, nothing changes
    page.fill("#adjust-reason", "typo test")
    page.click("button:has-text('Adjust')")
    assert "Nothing was changed" in flash(page)
    assert int(balance.inner_text().replace(",", "")) == before + 750


def test_confirming_a_fraud_flag_reverses_its_clips(
    page, live_server, settings, runtime, world, snap
) -> None:
    sign_in(page, live_server, make_token(settings, "agent-1", "support"))
    page.click("nav >> text=Fraud queue")
    snap("fraud-queue")
    page.click(f"a[href='/console/fraud/{world.flag_id}']")
    assert "4,000 s of footage" in page.inner_text("main")
    snap("flag-evidence")
    page.fill("#confirm-reason", "one camera cannot film 4,000 s in an hour")
    page.click("button:has-text('Confirm fraud')")
    assert f"{len(world.farm_flagged_clips)} clips reversed" in flash(page)
    snap("flag-confirmed")
    page.click(f"main a[href='/console/donors/{world.farm}']")
    for clip_id in world.farm_flagged_clips:
        row = page.locator(f"tr[data-clip='{clip_id}'] .badge")
        assert row.inner_text() == "reversed"
    snap("flagged-donor")
    with runtime.db.read() as session:
        statuses = set(
            session.scalars(select(Clip.status).where(Clip.id.in_(world.farm_flagged_clips)))
        )
    assert statuses == {"reversed"}


def test_an_agent_approves_and_ships_a_camera(
    page, live_server, settings, runtime, world, snap
) -> None:
    sign_in(page, live_server, make_token(settings, "agent-1", "support"))
    page.click("nav >> text=Redemptions")
    row = page.locator(f"tr[data-redemption='{world.camera_redemption}']")
    snap("redemptions-requested")
    row.locator("button:has-text('Approve')").click()
    assert "is now approved" in flash(page)
    page.click(".tabs >> text=approved")
    row = page.locator(f"tr[data-redemption='{world.camera_redemption}']")
    row.locator("input[name=carrier]").fill("UPS")
    row.locator("input[name=tracking_number]").fill("1Z999AA10123456784")
    snap("redemptions-ship-form")
    row.locator("button:has-text('Ship')").click()
    assert "now shipped with UPS 1Z999AA10123456784" in flash(page)
    page.click(".tabs >> text=shipped")
    snap("redemptions-shipped")
    with runtime.db.read() as session:
        redemption = session.get(Redemption, world.camera_redemption)
        actors = set(
            session.scalars(
                select(AuditRecord.actor_id).where(
                    AuditRecord.target_type == "redemption",
                    AuditRecord.target_id == str(world.camera_redemption),
                )
            )
        )
    assert (redemption.status, redemption.tracking_number) == ("shipped", "1Z999AA10123456784")
    assert actors == {"support:agent-1"}


def test_admins_see_payouts_and_the_audit_log_and_support_does_not(
    page, browser, live_server, settings, world, snap
) -> None:
    sign_in(page, live_server, make_token(settings, "boss", "admin"))
    page.click("nav >> text=Payouts")
    snap("payout-batches")
    page.click("#batches a")
    items = page.inner_text("main")
    assert "a***@example.com" in items and world.payout_email not in items
    snap("payout-batch")
    page.click("nav >> text=Audit log")
    assert "ledger.adjust" in page.inner_text("#audit")
    snap("audit-log")

    agent = browser.new_context().new_page()
    try:
        sign_in(agent, live_server, make_token(settings, "agent-1", "support"))
        assert agent.locator("nav >> text=Audit log").count() == 0
        response = agent.goto(f"{live_server}/console/audit")
        assert response.status == 403 and "may not do audit.read" in agent.inner_text("main")
        snap("support-refused-audit-log", of=agent)
    finally:
        agent.context.close()


@pytest.fixture
def attacker_site() -> Iterator[str]:
    """A page on another origin (another port: the same site for cookies) whose form
    posts itself to ``?target=`` as soon as it loads, with ``?csrf=`` as its token."""
    app = Flask("attacker")

    @app.get("/")
    def lure() -> str:
        target, token = escape(request.args["target"]), escape(request.args.get("csrf", ""))
        return (
            f'<form id="f" method="post" action="{target}">'
            '<input name="asset" value="points"><input name="amount" value="100000">'
            f'<input name="reason" value="free points"><input name="csrf_token" value="{token}">'
            "</form><script>document.getElementById('f').submit()</script>"
        )

    with serving(app) as url:
        yield url


def test_a_page_on_another_site_cannot_act_through_the_agents_browser(
    page, live_server, settings, runtime, world, attacker_site, snap
) -> None:
    sign_in(page, live_server, make_token(settings, "agent-1", "support"))
    page.goto(f"{live_server}/console/donors/{world.ada}")
    leaked = page.locator("#adjust input[name=csrf_token]").get_attribute("value")
    before = ledger.donor_balances(runtime.db, world.ada).points_available
    target = f"{live_server}/console/donors/{world.ada}/adjustments"
    with page.expect_response(target) as guessed:
        page.goto(f"{attacker_site}/?target={target}&csrf=guess")
    assert guessed.value.status == 403
    assert "did not come from the console" in page.inner_text("main")
    # Even with the agent's own token (leaked, say), the browser's Origin gives it away;
    # that this check is reached shows the session cookie did travel with the request.
    with page.expect_response(target) as forged:
        page.goto(f"{attacker_site}/?target={target}&csrf={leaked}")
    assert forged.value.status == 403
    assert "sent from another site" in page.inner_text("main")
    snap("csrf-refused")
    assert ledger.donor_balances(runtime.db, world.ada).points_available == before
