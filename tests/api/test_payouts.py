"""Cash payouts through the real PayPal and Stripe SDKs, pointed at local servers that
speak those APIs. Every fault case ends with the same checks: each donor paid exactly
once or not at all, every cent accounted for by the ledger."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from rewards_engine.cli import cli
from rewards_engine.config import StripeSettings
from rewards_engine.domain.actors import Actor
from rewards_engine.logs import JsonFormatter
from rewards_engine.models import AuditRecord, Donor, PayoutBatch, PayoutItem
from rewards_engine.providers.paypal import PayPalProvider
from rewards_engine.scheduler import run_job
from rewards_engine.services import donors, holds, ledger, payouts, support
from rewards_engine.services.payouts.destinations import _outgoing
from tests.support.fake_providers import FakePayPal, FakeStripe
from tests.support.processes import serving

AGENT = Actor(id="support:agent", role="support")
SEED = Actor.system("test-seed")  # balances to pay out: no agent's limit or approval applies
STRIPE_ANA = {"kind": "stripe_account", "value": "acct_1AnaAccount99"}
ADMIN = Actor(id="admin:ops", role="admin")
JSON = "application/json"  # as Stripe and PayPal send their events


@pytest.fixture
def paypal() -> Any:
    fake = FakePayPal()
    with serving(fake) as url:
        fake.url = url
        yield fake


@pytest.fixture
def stripe_server() -> Any:
    fake = FakeStripe()
    with serving(fake) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def settings(settings, paypal, stripe_server, request):  # type: ignore[no-untyped-def]
    """The test's settings with both rails configured against the local servers (or
    none, for tests marked ``manual_payouts``)."""
    if request.node.get_closest_marker("manual_payouts"):
        return replace(settings, payout_cooling_off_hours=0)
    return replace(
        settings,
        payout_cooling_off_hours=0,
        paypal=paypal.client_settings(),
        stripe=StripeSettings(
            api_key=stripe_server.api_key,
            webhook_secret=stripe_server.webhook_secret,
            api_base=stripe_server.url,
            timeout_s=2.0,
        ),
    )


def donor(runtime, name: str) -> int:  # type: ignore[no-untyped-def]
    return donors.ensure_donor(runtime.db, runtime.clock, name).id


def payee(runtime, client, auth, name: str, cents: int, destination: dict | None = None) -> int:  # type: ignore[no-untyped-def]
    """A donor with ``cents`` of available USD and a payout destination."""
    donor_id = donor(runtime, name)
    if cents:
        support.adjust(
            runtime.db,
            runtime.clock,
            SEED,
            donor_id,
            asset="cash",
            currency="USD",
            amount=cents,
            reason="bounty",
        )
    destination = destination or {"kind": "paypal_email", "value": f"{name}@example.com"}
    answer = client.patch("/v1/me", json={"payout": destination}, headers=auth(name))
    assert answer.status_code == 200, answer.get_json()
    return donor_id


def cash(runtime, donor_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    balances = ledger.donor_balances(runtime.db, donor_id)
    usd = next((c for c in balances.cash if c.currency == "USD"), None)
    return {
        "available": usd.available_cents if usd else 0,
        "in_flight": usd.in_flight_cents if usd else 0,
    }


def items(runtime) -> dict[int, PayoutItem]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return {i.donor_id: i for i in session.scalars(select(PayoutItem))}


def batches(runtime) -> list[PayoutBatch]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return list(session.scalars(select(PayoutBatch).order_by(PayoutBatch.id)))


def paid_at_paypal(fake: FakePayPal) -> dict[str, int]:
    """How many times the provider holds a payment to each receiver."""
    counts: dict[str, int] = {}
    for batch in fake.batches.values():
        for item in batch["items"]:
            receiver = item["payout_item"]["receiver"]
            counts[receiver] = counts.get(receiver, 0) + 1
    return counts


def assert_books_balance(runtime) -> None:  # type: ignore[no-untyped-def]
    report = ledger.verify(runtime.db)
    assert report.ok, report
    for line in payouts.reconciliation_report(runtime):
        assert line.differences == [], line


# --- destinations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "field"),
    [
        ({"kind": "paypal_email", "value": "not-an-email"}, "value"),
        ({"kind": "paypal_id", "value": "abc"}, "value"),
        ({"kind": "stripe_account", "value": "acct_"}, "value"),
        ({"kind": "bank", "value": "x"}, "kind"),
        ({"kind": "paypal_email"}, "value"),
    ],
)
def test_a_bad_destination_is_refused_naming_the_field(
    client, runtime, auth, destination, field
) -> None:
    donor(runtime, "ana")
    answer = client.patch("/v1/me", json={"payout": destination}, headers=auth("ana"))
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]["json"]["payout"]
    with runtime.db.read() as session:
        assert session.scalar(select(Donor.payout_kind)) is None


def test_a_destination_is_stored_encrypted_shown_masked_and_audited(
    client, runtime, auth, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    donor_id = payee(
        runtime, client, auth, "ana", 0, {"kind": "paypal_email", "value": " Ana.B@Example.com "}
    )
    me = client.get("/v1/me", headers=auth("ana")).get_json()
    assert me["payout"] == {"kind": "paypal_email", "destination": "a***@example.com"}
    with runtime.db.read() as session:
        donor = session.get(Donor, donor_id)
        assert "ana.b@example.com" not in donor.payout_destination
        assert runtime.vault.decrypt(donor.payout_destination) == "ana.b@example.com"
        entry = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "donor.payout_destination")
        ).one()
        assert entry.after == {"kind": "paypal_email", "destination": "a***@example.com"}
    assert "ana.b@example.com" not in caplog.text.lower()

    assert client.patch("/v1/me", json={"payout": None}, headers=auth("ana")).status_code == 200
    assert client.get("/v1/me", headers=auth("ana")).get_json()["payout"] is None


def test_a_new_destination_waits_for_the_cooling_off_period(
    client, runtime, auth, settings, clock
) -> None:
    runtime.settings = replace(settings, payout_cooling_off_hours=72)  # type: ignore[misc]
    donor_id = payee(runtime, client, auth, "ana", 5_000)
    assert payouts.create_batches(runtime).items == 0
    clock.advance(timedelta(hours=71))
    assert payouts.create_batches(runtime).items == 0
    clock.advance(timedelta(hours=2))
    assert payouts.create_batches(runtime).items == 1
    assert cash(runtime, donor_id) == {"available": 0, "in_flight": 5_000}


def test_money_in_flight_goes_where_the_batch_said(client, runtime, auth, paypal) -> None:
    payee(runtime, client, auth, "ana", 5_000)
    payouts.create_batches(runtime)
    client.patch(
        "/v1/me",
        json={"payout": {"kind": "paypal_email", "value": "thief@example.com"}},
        headers=auth("ana"),
    )
    payouts.submit_pending(runtime)
    assert paid_at_paypal(paypal) == {"ana@example.com": 1}


# --- the batch job, the happy path ------------------------------------------------------------


def test_a_weekly_batch_pays_each_eligible_donor_once(client, runtime, auth, paypal) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    ben = payee(runtime, client, auth, "ben", 1_000)  # exactly the minimum
    low = payee(runtime, client, auth, "cy", 999)  # below it
    held = payee(runtime, client, auth, "dee", 7_000)
    holds.set_hold(runtime.db, runtime.clock, AGENT, held, True, "fraud review")
    nowhere = donor(runtime, "eve")
    support.adjust(
        runtime.db, runtime.clock, AGENT, nowhere, asset="cash", currency="USD", amount=4_000,
        reason="bounty",
    )  # fmt: skip

    created = run_job(runtime, _job("payout-batch"))
    assert (created["batches"], created["items"], created["total_cents"]) == (1, 2, 6_000)
    assert paid_at_paypal(paypal) == {"ana@example.com": 1, "ben@example.com": 1}
    [batch] = batches(runtime)
    header = next(iter(paypal.batches.values()))["batch_header"]
    assert header["sender_batch_header"]["sender_batch_id"] == batch.sender_batch_id
    assert batch.status == "submitted" and batch.provider_batch_id == header["payout_batch_id"]
    assert {i.status for i in items(runtime).values()} == {"submitted"}
    assert cash(runtime, ana) == {"available": 0, "in_flight": 5_000}

    reconciled = run_job(runtime, _job("payout-reconcile"))
    assert reconciled["items_settled"] == 2 and reconciled["completed"] == 1
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert cash(runtime, low) == {"available": 999, "in_flight": 0}
    assert cash(runtime, held) == {"available": 7_000, "in_flight": 0}
    assert cash(runtime, nowhere) == {"available": 4_000, "in_flight": 0}
    mine = client.get("/v1/me/payouts", headers=auth("ana")).get_json()["items"]
    assert [(p["amount_cents"], p["status"], p["destination"]) for p in mine] == [
        (5_000, "succeeded", "a***@example.com")
    ]
    assert client.get("/v1/me/payouts", headers=auth("cy")).get_json()["items"] == []

    # The same week again: nobody is paid twice, even with new earnings.
    support.adjust(
        runtime.db, runtime.clock, AGENT, ana, asset="cash", currency="USD", amount=2_000,
        reason="bounty",
    )  # fmt: skip
    assert run_job(runtime, _job("payout-batch"))["items"] == 0
    assert paid_at_paypal(paypal) == {"ana@example.com": 1, "ben@example.com": 1}
    assert_books_balance(runtime)
    assert ben and batches(runtime)[0].status == "completed"


def _job(name: str):  # type: ignore[no-untyped-def]
    from rewards_engine.jobs import find_job

    job = find_job(name)
    assert job is not None
    return job


def test_an_admin_starts_a_batch_and_reads_its_items(client, runtime, auth, paypal) -> None:
    payee(runtime, client, auth, "ana", 5_000)
    admin = auth("ops", "admin")
    assert client.post("/v1/admin/payout-batches", headers=auth("ana")).status_code == 403
    assert (
        client.post("/v1/admin/payout-batches", headers=auth("agent", "support")).status_code == 403
    )
    answer = client.post("/v1/admin/payout-batches", headers=admin)
    assert answer.status_code == 201
    assert answer.get_json()["items"] == 1
    [listed] = client.get("/v1/admin/payout-batches", headers=admin).get_json()["items"]
    assert listed["status"] == "submitted" and listed["provider"] == "paypal"
    [item] = client.get(f"/v1/admin/payout-batches/{listed['id']}/items", headers=admin).get_json()[
        "items"
    ]
    assert item["destination"] == "a***@example.com"
    assert client.get("/v1/admin/payout-batches/999/items", headers=admin).status_code == 404
    with runtime.db.read() as session:
        audit = session.scalars(
            select(AuditRecord.action).where(AuditRecord.actor_id == "admin:ops")
        ).all()
    assert "payout.batches_created" in audit


def test_paypal_batches_split_at_the_item_limit(client, runtime, auth, paypal, monkeypatch) -> None:
    monkeypatch.setattr(PayPalProvider, "max_items", 2)
    for n in range(5):
        payee(runtime, client, auth, f"d{n}", 1_500)
    report = payouts.create_batches(runtime)
    payouts.submit_pending(runtime)
    assert [b.item_count for b in batches(runtime)] == [2, 2, 1]
    assert len({b.sender_batch_id for b in batches(runtime)}) == 3
    assert report.total_cents == 7_500 and len(paypal.batches) == 3


# --- faults --------------------------------------------------------------------------------


def test_a_5xx_then_success_pays_once(client, runtime, auth, paypal) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    paypal.fail_next = [500]
    sent = run_job(runtime, _job("payout-batch"))
    assert sent["sent_unknown"] == 1 and paypal.batches == {}
    assert batches(runtime)[0].status == "unknown"  # said so, and sent again next run
    assert (
        "500" in batches(runtime)[0].last_error or "ServerError" in batches(runtime)[0].last_error
    )
    assert cash(runtime, ana) == {"available": 0, "in_flight": 5_000}  # not lost, not free

    payouts.reconcile(runtime)  # sends again with the same ids, then polls
    payouts.reconcile(runtime)
    assert paid_at_paypal(paypal) == {"ana@example.com": 1}
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert batches(runtime)[0].attempts == 2
    assert_books_balance(runtime)


def test_a_timeout_after_paypal_made_the_batch_is_resent_and_found_by_its_duplicate_answer(
    client, runtime, auth, paypal
) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    paypal.hang_next = 1
    assert payouts.create_batches(runtime).items == 1
    assert payouts.submit_pending(runtime).unknown == 1  # the client gave up after 1 s
    assert len(paypal.batches) == 1  # ...but PayPal made the batch
    assert batches(runtime)[0].provider_batch_id is None
    assert batches(runtime)[0].status == "unknown"

    payouts.reconcile(runtime)  # the resend meets 400 USER_BUSINESS_ERROR, with a link
    assert paypal.request_ids == ["rewards-b1", "rewards-b1"]  # the same id: not replayed
    assert len(paypal.batches) == 1
    assert batches(runtime)[0].provider_batch_id == next(iter(paypal.batches))
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert paid_at_paypal(paypal) == {"ana@example.com": 1}
    assert_books_balance(runtime)


def test_killed_after_the_batch_is_committed_and_before_the_call(
    client, runtime, auth, paypal, settings, clock
) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    payouts.create_batches(runtime)  # committed; the process dies here
    runtime.close()
    assert paypal.batches == {}

    restarted = _fresh_runtime(settings, clock)
    try:
        run_job(restarted, _job("payout-batch"))  # the next run: nothing new, sends the old
        payouts.reconcile(restarted)
        assert [i.status for i in items(restarted).values()] == ["succeeded"]
        assert cash(restarted, ana) == {"available": 0, "in_flight": 0}
        assert paid_at_paypal(paypal) == {"ana@example.com": 1}
        assert len(batches(restarted)) == 1
        assert_books_balance(restarted)
    finally:
        restarted.close()


def _fresh_runtime(settings, clock):  # type: ignore[no-untyped-def]
    from rewards_engine.bootstrap import build_runtime

    return build_runtime(settings, clock=clock)


def test_killed_after_the_call_before_the_answer_was_stored(client, runtime, auth, paypal) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    _call_then_die(runtime)
    assert len(paypal.batches) == 1 and batches(runtime)[0].status == "submitting"

    payouts.reconcile(runtime)  # the rerun repeats the call: PayPal says it exists, links it
    assert len(paypal.batches) == 1
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert paid_at_paypal(paypal) == {"ana@example.com": 1}
    assert_books_balance(runtime)


def _call_then_die(runtime) -> None:  # type: ignore[no-untyped-def]
    """What a crash between the provider's answer and our commit leaves behind: the
    batch marked ``submitting``, made at the provider, its answer lost."""
    payouts.create_batches(runtime)
    [batch] = batches(runtime)
    with runtime.db.transaction() as uow:
        row = uow.session.get(PayoutBatch, batch.id)
        row.status, row.attempts, row.submitted_at = "submitting", 1, runtime.clock.now()
        outgoing = _outgoing(runtime, uow.session, row)
    runtime.payout_providers["paypal"].submit(outgoing)


def test_a_duplicate_answer_without_a_link_waits_then_an_attach_reconciles(
    client, runtime, auth, paypal, cli_env, monkeypatch
) -> None:
    monkeypatch.setenv("PAYPAL_CLIENT_ID", paypal.client_id)
    monkeypatch.setenv("PAYPAL_CLIENT_SECRET", paypal.client_secret)
    monkeypatch.setenv("PAYPAL_ENDPOINT", paypal.url)
    ana = payee(runtime, client, auth, "ana", 5_000)
    _call_then_die(runtime)
    paypal.duplicate_links = False  # the answer says the batch exists, not which it is
    report = payouts.submit_pending(runtime)
    assert report.needs_attention == 1
    [batch] = batches(runtime)
    assert batch.status == "needs_attention" and "SENDER_BATCH_ID" in batch.last_error
    assert len(paypal.batches) == 1
    payouts.reconcile(runtime)  # nothing is sent again while a person looks
    assert len(paypal.batches) == 1
    assert len(paypal.request_ids) == 2
    assert cash(runtime, ana) == {"available": 0, "in_flight": 5_000}
    waiting = CliRunner().invoke(cli, ["payouts", "report"])  # on call sees it
    assert waiting.exit_code == 1 and "needs attention" in waiting.output

    admin = {"Authorization": auth("ops", "admin")["Authorization"]}
    url = f"/v1/admin/payout-batches/{batch.id}/attach"
    refused = client.post(url, json={"provider_batch_id": "PB1"}, headers=admin)
    assert refused.status_code == 422 and "reason" in refused.get_json()["errors"]["json"]

    # A mistyped id settles nothing: the poll finds another batch, or none.
    typo = client.post(
        url, json={"provider_batch_id": "PB99999999", "reason": "typed from the dashboard"},
        headers=admin,
    )  # fmt: skip
    assert typo.status_code == 200
    payouts.reconcile(runtime)
    [batch] = batches(runtime)
    assert batch.status == "needs_attention" and batch.provider_batch_id is None
    assert "PB99999999" in batch.last_error
    assert cash(runtime, ana) == {"available": 0, "in_flight": 5_000}

    found = next(iter(paypal.batches))
    answer = client.post(
        url, json={"provider_batch_id": found, "reason": "found in the PayPal dashboard"},
        headers=admin,
    )  # fmt: skip
    assert answer.status_code == 200 and answer.get_json()["status"] == "submitted"
    assert (
        client.post(
            url, json={"provider_batch_id": found, "reason": "attach again"}, headers=admin
        ).status_code
        == 409
    )
    payouts.reconcile(runtime)
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert paid_at_paypal(paypal) == {"ana@example.com": 1}
    assert_books_balance(runtime)
    assert CliRunner().invoke(cli, ["payouts", "report"]).exit_code == 0


def test_partial_failures_return_the_money_with_the_reason(client, runtime, auth, paypal) -> None:
    paypal.outcome_for = lambda item: "FAILED" if item["receiver"].startswith("bad") else "SUCCESS"
    good = payee(runtime, client, auth, "good", 5_000)
    bad = payee(runtime, client, auth, "bad", 3_000)
    payouts.create_batches(runtime)
    payouts.reconcile(runtime)
    assert cash(runtime, good) == {"available": 0, "in_flight": 0}
    assert cash(runtime, bad) == {"available": 3_000, "in_flight": 0}
    [mine] = client.get("/v1/me/payouts", headers=auth("bad")).get_json()["items"]
    assert mine["status"] == "failed" and mine["provider_status"] == "FAILED"
    entries = client.get("/v1/me/ledger", headers=auth("bad")).get_json()["items"]
    assert any("payout not made" in (e.get("reason") or "") for e in entries)
    assert batches(runtime)[0].status == "completed"
    assert_books_balance(runtime)


def test_an_unclaimed_payment_stays_in_flight_until_returned(client, runtime, auth, paypal) -> None:
    paypal.outcome_for = lambda item: "UNCLAIMED"
    ana = payee(runtime, client, auth, "ana", 5_000)
    payouts.create_batches(runtime)
    payouts.reconcile(runtime)
    assert items(runtime)[ana].status == "unclaimed"
    assert cash(runtime, ana) == {"available": 0, "in_flight": 5_000}
    assert batches(runtime)[0].status == "submitted"

    paypal.set_status(items(runtime)[ana].sender_item_id, "RETURNED")  # 30 days later
    payouts.reconcile(runtime)
    payouts.reconcile(runtime)
    assert items(runtime)[ana].status == "returned"
    assert cash(runtime, ana) == {"available": 5_000, "in_flight": 0}
    assert batches(runtime)[0].status == "completed"
    assert_books_balance(runtime)


def test_an_admin_cancels_an_unclaimed_payment(client, runtime, auth, paypal) -> None:
    paypal.outcome_for = lambda item: "UNCLAIMED"
    ana = payee(runtime, client, auth, "ana", 5_000)
    payouts.create_batches(runtime)
    payouts.reconcile(runtime)
    item = items(runtime)[ana]
    admin = auth("ops", "admin")
    url = f"/v1/admin/payout-items/{item.id}/cancel"
    assert client.post(url, json={"reason": "typo"}, headers=auth("ana")).status_code == 403
    answer = client.post(url, json={"reason": "donor mistyped the e-mail"}, headers=admin)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "returned"
    assert cash(runtime, ana) == {"available": 5_000, "in_flight": 0}
    again = client.post(url, json={"reason": "cancel again"}, headers=admin)
    assert again.status_code == 409 and again.get_json()["error"] == "not_unclaimed"
    assert (
        client.post(
            "/v1/admin/payout-items/999/cancel", json={"reason": "no such item"}, headers=admin
        ).status_code
        == 404
    )
    assert_books_balance(runtime)


def test_paypal_refusing_every_token_does_not_loop(client, runtime, auth, paypal) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    paypal.refuse_tokens = True
    report = run_job(runtime, _job("payout-batch"))
    assert report["sent_unknown"] == 1
    token_calls = [c for c in paypal.calls if c[1] == "/v1/oauth2/token"]
    assert 1 <= len(token_calls) <= 2
    paypal.refuse_tokens = False
    payouts.reconcile(runtime)
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert paid_at_paypal(paypal) == {"ana@example.com": 1}


def test_no_token_or_payout_email_reaches_the_logs(client, runtime, auth, paypal) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    sdk_log = logging.getLogger("paypalrestsdk")
    sdk_log.addHandler(handler)
    previous = sdk_log.level
    sdk_log.setLevel(logging.DEBUG)  # where the SDK prints tokens and request bodies
    logging.getLogger("rewards_engine").addHandler(handler)
    try:
        payee(runtime, client, auth, "ana", 5_000)
        run_job(runtime, _job("payout-batch"))
        payouts.reconcile(runtime)
    finally:
        sdk_log.removeHandler(handler)
        sdk_log.setLevel(previous)
        logging.getLogger("rewards_engine").removeHandler(handler)
    text = stream.getvalue()
    assert "Request[POST]" in text  # the SDK did log its calls
    assert "A21AAtoken" not in text and "ana@example.com" not in text
    assert paypal.client_secret not in text


# --- webhooks ------------------------------------------------------------------------------


def _paypal_headers(signature: str) -> dict[str, str]:
    return {
        "Paypal-Transmission-Id": "t-1",
        "Paypal-Transmission-Time": "2025-01-15T12:00:00Z",
        "Paypal-Transmission-Sig": signature,
        "Paypal-Auth-Algo": "SHA256withRSA",
        "Paypal-Cert-Url": "https://api.paypal.com/cert",
    }


def test_paypal_webhooks_are_verified_and_applied_once(client, runtime, auth, paypal) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    payouts.create_batches(runtime)
    payouts.submit_pending(runtime)
    item = items(runtime)[ana]
    event = paypal.event("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", item.sender_item_id, "SUCCESS")
    body = json.dumps(event)

    forged = client.post(
        "/v1/webhooks/paypal", data=body, headers=_paypal_headers("f" * 64),
        content_type="application/json",
    )  # fmt: skip
    assert forged.status_code == 422
    assert forged.get_json()["error"] == "invalid_signature"
    assert cash(runtime, ana) == {"available": 0, "in_flight": 5_000}

    genuine = _paypal_headers(paypal.signature(event))
    first = client.post(
        "/v1/webhooks/paypal", data=body, headers=genuine, content_type="application/json"
    )
    assert first.status_code == 200 and first.get_json() == {
        "event_id": event["id"], "duplicate": False, "items_settled": 1,
    }  # fmt: skip
    replay = client.post(
        "/v1/webhooks/paypal", data=body, headers=genuine, content_type="application/json"
    )
    assert replay.get_json()["duplicate"] is True
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert batches(runtime)[0].status == "completed"

    # A stale, later event about the same item changes nothing.
    late = paypal.event("PAYMENT.PAYOUTS-ITEM.UNCLAIMED", item.sender_item_id, "UNCLAIMED")
    client.post(
        "/v1/webhooks/paypal", data=json.dumps(late),
        headers=_paypal_headers(paypal.signature(late)), content_type="application/json",
    )  # fmt: skip
    assert items(runtime)[ana].status == "succeeded"
    payouts.reconcile(runtime)  # the poll agrees: nothing moves twice
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert_books_balance(runtime)


def test_a_paypal_webhook_waits_when_paypal_cannot_verify(client, runtime, paypal) -> None:
    event = paypal.event("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", "rewards-i1", "SUCCESS")
    paypal.refuse_tokens = True
    answer = client.post(
        "/v1/webhooks/paypal", data=json.dumps(event),
        headers=_paypal_headers(paypal.signature(event)), content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    garbage = client.post("/v1/webhooks/paypal", data="{", content_type="application/json")
    assert garbage.status_code == 422


# --- Stripe ------------------------------------------------------------------------------


def test_stripe_transfers_pay_once_and_failures_return(
    client, runtime, auth, stripe_server
) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000, STRIPE_ANA)
    gone = payee(
        runtime,
        client,
        auth,
        "bo",
        2_000,
        {"kind": "stripe_account", "value": "acct_closedAccount1"},
    )
    stripe_server.fail_next = [500, 500, 500]  # the SDK retries twice, then gives up on one
    report = run_job(runtime, _job("payout-batch"))
    assert report["items"] == 2
    [batch] = batches(runtime)
    assert batch.provider == "stripe"
    payouts.reconcile(runtime)
    payouts.reconcile(runtime)
    assert len(stripe_server.transfers) == 1
    [transfer] = stripe_server.transfers.values()
    assert transfer["destination"] == "acct_1AnaAccount99" and transfer["amount"] == 5_000
    assert transfer["transfer_group"] == batch.sender_batch_id
    assert items(runtime)[ana].status == "succeeded"
    assert (
        items(runtime)[gone].status == "failed" and items(runtime)[gone].error == "account_invalid"
    )
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert cash(runtime, gone) == {"available": 2_000, "in_flight": 0}
    assert batches(runtime)[0].status == "completed"
    assert_books_balance(runtime)


def test_stripe_keys_make_a_resend_after_a_crash_harmless(
    client, runtime, auth, stripe_server
) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000, STRIPE_ANA)
    payouts.create_batches(runtime)
    [batch] = batches(runtime)
    with runtime.db.read() as session:
        outgoing = _outgoing(runtime, session, session.get(PayoutBatch, batch.id))
    runtime.payout_providers["stripe"].submit(outgoing)  # made, then the process died
    payouts.submit_pending(runtime)
    assert len(stripe_server.transfers) == 1
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert_books_balance(runtime)


def test_after_stripe_forgot_the_keys_made_transfers_are_looked_up_first(
    client, runtime, auth, stripe_server, clock
) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000, STRIPE_ANA)
    payouts.create_batches(runtime)
    [batch] = batches(runtime)
    with runtime.db.transaction() as uow:
        row = uow.session.get(PayoutBatch, batch.id)
        outgoing = _outgoing(runtime, uow.session, row)
        row.status, row.submitted_at = "submitting", runtime.clock.now()
    runtime.payout_providers["stripe"].submit(outgoing)  # made; the answer was lost
    clock.advance(timedelta(hours=25))
    stripe_server.by_key.clear()  # Stripe keeps idempotency keys for 24 hours
    payouts.submit_pending(runtime)
    assert len(stripe_server.transfers) == 1
    assert items(runtime)[ana].status == "succeeded"
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert_books_balance(runtime)


def test_stripe_webhooks_are_verified_and_a_reversal_claws_back(
    client, runtime, auth, stripe_server
) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000, STRIPE_ANA)
    payouts.create_batches(runtime)
    payouts.submit_pending(runtime)
    [transfer] = stripe_server.transfers.values()
    event = {
        "id": "evt_1", "object": "event", "type": "transfer.reversed",
        "data": {"object": {**transfer, "reversed": True}},
    }  # fmt: skip
    forged, signature = stripe_server.signed(event, secret="whsec_attacker")
    answer = client.post(
        "/v1/webhooks/stripe",
        data=forged,
        headers={"Stripe-Signature": signature},
        content_type=JSON,
    )
    assert answer.status_code == 422 and answer.get_json()["error"] == "invalid_signature"
    stale, signature = stripe_server.signed(event, at=1_000_000)
    assert (
        client.post(
            "/v1/webhooks/stripe",
            data=stale,
            headers={"Stripe-Signature": signature},
            content_type=JSON,
        ).status_code
        == 422
    )
    assert client.post("/v1/webhooks/stripe", data=b"{}", content_type=JSON).status_code == 422
    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}

    payload, signature = stripe_server.signed(event)
    first = client.post(
        "/v1/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": signature},
        content_type=JSON,
    )
    assert first.status_code == 200 and first.get_json()["items_settled"] == 1
    again = client.post(
        "/v1/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": signature},
        content_type=JSON,
    )
    assert again.get_json()["duplicate"] is True
    assert items(runtime)[ana].status == "reversed"
    assert cash(runtime, ana) == {"available": 5_000, "in_flight": 0}
    assert ledger.verify(runtime.db).ok


# --- manual payouts -----------------------------------------------------------------------


@pytest.mark.manual_payouts
def test_without_credentials_batches_are_paid_by_hand(client, runtime, auth) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    bo = payee(runtime, client, auth, "bo", 2_500)
    run_job(runtime, _job("payout-batch"))
    [batch] = batches(runtime)
    assert batch.provider == "manual" and batch.status == "submitted"
    admin = auth("ops", "admin")

    export = client.get(f"/v1/admin/payout-batches/{batch.id}/export.csv", headers=admin)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = export.get_data(as_text=True).splitlines()
    assert rows[0].startswith("item_id,sender_item_id,donor_id,amount")
    assert any("ana@example.com" in row and ",50.00,USD," in row for row in rows)
    assert (
        client.get(
            f"/v1/admin/payout-batches/{batch.id}/export.csv", headers=auth("agent", "support")
        ).status_code
        == 403
    )

    by_donor = items(runtime)
    settle = "/v1/admin/payout-items/{}/settle"
    paid = client.post(
        settle.format(by_donor[ana].id),
        json={"outcome": "paid", "reason": "sent by hand"},
        headers=admin,
    )
    assert paid.status_code == 200 and paid.get_json()["status"] == "succeeded"
    failed = client.post(
        settle.format(by_donor[bo].id),
        json={"outcome": "failed", "reason": "account closed"},
        headers=admin,
    )
    assert (
        failed.get_json()["status"] == "failed" and failed.get_json()["error"] == "account closed"
    )
    twice = client.post(
        settle.format(by_donor[ana].id),
        json={"outcome": "failed", "reason": "changed my mind"},
        headers=admin,
    )
    assert twice.status_code == 409 and twice.get_json()["error"] == "already_settled"
    bad = client.post(
        settle.format(by_donor[ana].id),
        json={"outcome": "maybe", "reason": "not sure yet"},
        headers=admin,
    )
    assert bad.status_code == 422 and "outcome" in bad.get_json()["errors"]["json"]

    assert cash(runtime, ana) == {"available": 0, "in_flight": 0}
    assert cash(runtime, bo) == {"available": 2_500, "in_flight": 0}
    assert batches(runtime)[0].status == "completed"
    with runtime.db.read() as session:
        actions = set(session.scalars(select(AuditRecord.action)).all())
    assert {"payout.exported", "payout.settled"} <= actions
    assert_books_balance(runtime)


def test_provider_batches_are_not_settled_by_hand(client, runtime, auth, paypal) -> None:
    ana = payee(runtime, client, auth, "ana", 5_000)
    run_job(runtime, _job("payout-batch"))
    admin = auth("ops", "admin")
    url = f"/v1/admin/payout-items/{items(runtime)[ana].id}/settle"
    answer = client.post(url, json={"outcome": "paid", "reason": "paid by hand"}, headers=admin)
    assert answer.status_code == 409 and answer.get_json()["error"] == "not_manual"
    export = client.get(
        f"/v1/admin/payout-batches/{batches(runtime)[0].id}/export.csv", headers=admin
    )
    assert export.status_code == 409


# --- reports ----------------------------------------------------------------------------


def test_the_report_finds_a_provider_that_disagrees(
    client, runtime, auth, paypal, cli_env, monkeypatch
) -> None:
    monkeypatch.setenv("PAYPAL_CLIENT_ID", paypal.client_id)
    monkeypatch.setenv("PAYPAL_CLIENT_SECRET", paypal.client_secret)
    monkeypatch.setenv("PAYPAL_ENDPOINT", paypal.url)
    ana = payee(runtime, client, auth, "ana", 5_000)
    run_job(runtime, _job("payout-batch"))
    payouts.reconcile(runtime)
    ok = CliRunner().invoke(cli, ["payouts", "report"])
    assert ok.exit_code == 0, ok.output
    assert "provider         5000 ledger         5000 items         5000 ok" in ok.output

    paypal.set_status(items(runtime)[ana].sender_item_id, "FAILED")  # PayPal now says otherwise
    [line] = payouts.reconciliation_report(runtime)
    assert line.differences == ["provider paid 0 != items paid 5000"]
    bad = CliRunner().invoke(cli, ["payouts", "report"])
    assert bad.exit_code == 1 and "provider paid 0" in bad.output


@pytest.mark.manual_payouts
def test_the_tax_report_lists_payees_at_the_threshold(
    client, runtime, auth, clock, cli_env
) -> None:
    admin = auth("ops", "admin")
    amounts = {"at": 60_000, "under": 59_999, "big": 200_000}
    ids = {name: payee(runtime, client, auth, name, cents) for name, cents in amounts.items()}
    run_job(runtime, _job("payout-batch"))
    for item in items(runtime).values():
        client.post(
            f"/v1/admin/payout-items/{item.id}/settle",
            json={"outcome": "paid", "reason": "paid"},
            headers=admin,
        )

    in_2025 = {line.donor_id: line.paid_cents for line in payouts.tax_report(runtime.db, 2025)}
    assert in_2025 == {ids["at"]: 60_000, ids["big"]: 200_000}
    assert payouts.tax_report(runtime.db, 2024) == []
    result = CliRunner().invoke(
        cli, ["payouts", "tax-report", "--year", "2025", "--threshold-cents", "150000"]
    )
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "donor_id,account_id,currency,paid",
        f"{ids['big']},big,USD,2000.00",
    ]

    # 2026: the threshold is $2,000.
    clock.advance(timedelta(days=365))
    support.adjust(
        runtime.db,
        runtime.clock,
        SEED,
        ids["at"],
        asset="cash",
        currency="USD",
        amount=199_999,
        reason="bounty",
    )
    support.adjust(
        runtime.db,
        runtime.clock,
        SEED,
        ids["big"],
        asset="cash",
        currency="USD",
        amount=200_000,
        reason="bounty",
    )
    run_job(runtime, _job("payout-batch"))
    with runtime.db.read() as session:
        fresh = session.scalars(select(PayoutItem).where(PayoutItem.status == "submitted")).all()
    for item in fresh:
        client.post(
            f"/v1/admin/payout-items/{item.id}/settle",
            json={"outcome": "paid", "reason": "paid"},
            headers=admin,
        )
    assert [line.donor_id for line in payouts.tax_report(runtime.db, 2026)] == [ids["big"]]


def test_a_donor_sees_only_their_own_payouts(client, runtime, auth, paypal) -> None:
    payee(runtime, client, auth, "ana", 5_000)
    donor(runtime, "ben")
    run_job(runtime, _job("payout-batch"))
    assert len(client.get("/v1/me/payouts", headers=auth("ana")).get_json()["items"]) == 1
    assert client.get("/v1/me/payouts", headers=auth("ben")).get_json()["items"] == []
    assert client.get("/v1/admin/payout-batches", headers=auth("ana")).status_code == 403
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(PayoutItem)) == 1
