"""Ambiguity never pays back (issue 16, DESIGN.md §10).

Every provider answer we can imagine to a PayPal batch create, on the first send and on
a resend (after an attempt that made the batch, and after one that did not), through the
real ``paypalrestsdk`` against the fake PayPal. For every cell, after the answer, after
the next runs, and after the way out a person or a webhook takes:

- no payee is paid twice at PayPal;
- no money is lost: the ledger verifies, and each donor's available + in flight + paid
  is what they had;
- money PayPal paid is never available again (it would be paid next week);
- money in flight sits in a batch whose state says why (``unknown`` / ``needs_attention``
  with the answer in ``last_error``), or is being settled (``submitted``).

Also: two jobs sending at once make exactly one provider call per batch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from rewards_engine.config import PayPalSettings, StripeSettings
from rewards_engine.domain import payouts as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict
from rewards_engine.domain.ledger import AccountKind
from rewards_engine.models import LedgerAccount, PayoutBatch, PayoutItem
from rewards_engine.providers.payouts import ItemOutcome, Submitted
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, payouts, support
from rewards_engine.services.donors import ensure_donor
from rewards_engine.services.payouts.destinations import _outgoing
from rewards_engine.services.payouts.outcomes import _record
from rewards_engine.services.payouts.sending import _claim
from tests.support.fake_providers import FakePayPal, FakeStripe
from tests.support.processes import serving

AGENT = Actor(id="support:agent", role="support")
SEED = Actor.system("test-seed")  # balances to pay out: no agent's limit or approval applies
ADMIN = Actor(id="admin:ops", role="admin")
AMOUNTS = {"ana": 5_000, "ben": 2_500}


@pytest.fixture
def paypal() -> Iterator[FakePayPal]:
    fake = FakePayPal(hang_s=1.5)
    with serving(fake) as url:
        fake.url = url
        yield fake


@pytest.fixture
def settings(settings, paypal):  # type: ignore[no-untyped-def]
    return replace(
        settings,
        payout_cooling_off_hours=0,
        paypal=paypal.client_settings(),
    )


def payees(runtime: Runtime) -> dict[str, int]:
    """Donors with available cash and a PayPal destination, past any cooling-off."""
    vault = runtime.vault
    ids = {}
    for name, cents in AMOUNTS.items():
        donor_id = ensure_donor(runtime.db, runtime.clock, name).id
        support.adjust(runtime.db, runtime.clock, SEED, donor_id, asset="cash",
                       currency="USD", amount=cents, reason="bounty")  # fmt: skip
        with runtime.db.transaction() as uow:
            from rewards_engine.models import Donor

            donor = uow.session.get(Donor, donor_id)
            value = f"{name}@example.com"
            donor.payout_kind = "paypal_email"
            donor.payout_destination = vault.encrypt(value)
            donor.payout_masked = f"{name[0]}***@example.com"
            donor.payout_fingerprint = vault.fingerprint(value)
        ids[name] = donor_id
    return ids


def the_batch(runtime: Runtime) -> PayoutBatch:
    with runtime.db.read() as session:
        [batch] = session.scalars(select(PayoutBatch)).all()
        return batch


def paid_in_ledger(runtime: Runtime, donor_id: int) -> int:
    with runtime.db.read() as session:
        ids = session.scalars(select(PayoutItem.id).where(PayoutItem.donor_id == donor_id)).all()
    total = 0
    for item_id in ids:
        with runtime.db.read() as session:
            total += sum(
                e.amount
                for e in ledger_entries(session, [f"payout:{item_id}:{m}" for m in MOVES])
                if e.kind == AccountKind.PAYOUTS.value
            )
    return total


MOVES = ("pay", "late_pay", "claw_back")


def ledger_entries(session: Any, keys: list[str]) -> list[Any]:
    from rewards_engine.models import LedgerEntry, LedgerTransfer

    return list(
        session.execute(
            select(LedgerEntry.amount, LedgerAccount.kind)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerTransfer.idempotency_key.in_(keys), LedgerAccount.owner == "program")
        ).all()
    )


def check_invariants(runtime: Runtime, paypal: FakePayPal, ids: dict[str, int], when: str) -> None:
    at_paypal = paypal.payments()
    assert all(count == 1 for count in at_paypal.values()), (when, at_paypal)  # never twice
    assert ledger.verify(runtime.db).ok, when  # no money lost
    batch = the_batch(runtime)
    for name, donor_id in ids.items():
        usd = next(
            c for c in ledger.donor_balances(runtime.db, donor_id).cash if c.currency == "USD"
        )
        paid = paid_in_ledger(runtime, donor_id)
        assert usd.available_cents + usd.in_flight_cents + paid == AMOUNTS[name], (when, name)
        if at_paypal.get(f"{name}@example.com"):
            assert usd.available_cents == 0, (when, name, "paid by PayPal, available again")
        if usd.in_flight_cents:  # stuck money has a state that says why
            assert batch.status in ("submitted", "unknown", "needs_attention"), (when, batch.status)
            if batch.status != "submitted":
                assert batch.last_error, (when, batch.status)
        if usd.available_cents:  # money back only after a refusal of the first send
            assert batch.status == "rejected" and batch.attempts == 1, (when, batch.status)
            assert not at_paypal, when


# --- the provider's answers ------------------------------------------------------------------


def _exists(paypal: FakePayPal, sender_batch_id: str) -> bool:
    return any(
        b["batch_header"]["sender_batch_header"]["sender_batch_id"] == sender_batch_id
        for b in paypal.batches.values()
    )


def duplicate_body(link_to: str | None, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "USER_BUSINESS_ERROR",
        "message": "User business error.",
        "details": [{"field": "SENDER_BATCH_ID", "issue": "Duplicate batch request"}],
    }
    if link_to:
        body["links"] = [{"href": f"{base}/v1/payments/payouts/{link_to}", "rel": "self"}]
    return body


def duplicate_with_link(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.duplicate_links = True
    if not _exists(paypal, sender_batch_id):  # a duplicate although nothing of ours is there
        paypal.answer_next.append((400, duplicate_body("PB77777777", paypal.url)))  # type: ignore[attr-defined]


def duplicate_without_link(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.duplicate_links = False
    if not _exists(paypal, sender_batch_id):
        paypal.answer_next.append((400, duplicate_body(None, paypal.url)))  # type: ignore[attr-defined]


def unknown_400(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.answer_next.append(
        (400, {"name": "SOMETHING_NEW", "message": "An error nobody documented."})
    )


def validation_refusal(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.answer_next.append(
        (400, {"name": "VALIDATION_ERROR", "message": "Invalid request - see details",
               "details": [{"field": "items[0].receiver", "issue": "Receiver is invalid"}]})
    )  # fmt: skip


def tokens_refused(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.refuse_tokens = True  # 401 for ever: the client tries once more, then gives up


def server_error(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.fail_next = [503]


def timeout_after_applied(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.hang_next = 1  # PayPal does what it does (makes it, or answers duplicate), late


def reset_before(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.reset_next = 1


def reset_after_applied(paypal: FakePayPal, sender_batch_id: str) -> None:
    paypal.fail_after_next = [0]


ANSWERS: dict[str, Callable[[FakePayPal, str], None]] = {
    "duplicate_with_link": duplicate_with_link,
    "duplicate_without_link": duplicate_without_link,
    "unknown_400": unknown_400,
    "validation_refusal": validation_refusal,
    "401_loop": tokens_refused,
    "5xx": server_error,
    "timeout_after_applied": timeout_after_applied,
    "reset_before": reset_before,
    "reset_after_applied": reset_after_applied,
}


def back_to_normal(paypal: FakePayPal) -> None:
    paypal.refuse_tokens = False
    paypal.duplicate_links = True
    paypal.answer_next.clear()
    paypal.fail_next.clear()
    paypal.fail_after_next.clear()
    paypal.hang_next = paypal.reset_next = 0


# Where each cell stands after the answer and two more runs of the reconcile job, with
# PayPal behaving again: (batch status, PayPal holds the payments).
SETTLES = ("completed", True)
WHEN = ("first", "after_made", "after_not_made")
EXPECTED: dict[tuple[str, str], tuple[str, bool]] = {
    **{(answer, when): SETTLES for answer in ANSWERS for when in WHEN},
    ("duplicate_with_link", "first"): ("needs_attention", False),  # linked batch is not ours
    ("duplicate_with_link", "after_not_made"): ("needs_attention", False),
    ("duplicate_without_link", "first"): ("needs_attention", False),
    ("duplicate_without_link", "after_made"): ("needs_attention", True),
    ("duplicate_without_link", "after_not_made"): ("needs_attention", False),
    ("unknown_400", "first"): ("needs_attention", False),
    ("unknown_400", "after_made"): ("needs_attention", True),
    ("unknown_400", "after_not_made"): ("needs_attention", False),
    ("validation_refusal", "first"): ("rejected", False),  # the only way money goes back
    ("validation_refusal", "after_made"): ("needs_attention", True),
    ("validation_refusal", "after_not_made"): ("needs_attention", False),
}  # fmt: skip


def earlier_attempt(runtime: Runtime, paypal: FakePayPal, made: bool) -> None:
    """A first send whose answer was lost: PayPal made the batch (the process died before
    it stored the answer), or a 5xx before PayPal did anything."""
    if made:
        with runtime.db.transaction() as uow:
            row = uow.session.scalars(select(PayoutBatch)).one()
            row.status, row.attempts, row.submitted_at = "submitting", 1, runtime.clock.now()
            outgoing = _outgoing(runtime, uow.session, row)
        runtime.payout_providers["paypal"].submit(outgoing)
        assert len(paypal.batches) == 1
    else:
        paypal.fail_next = [500]
        assert payouts.submit_pending(runtime).unknown == 1
        assert paypal.batches == {} and the_batch(runtime).status == "unknown"


def deliver(client: Any, paypal: FakePayPal, event: dict[str, Any]) -> dict[str, Any]:
    headers = {
        "Paypal-Transmission-Id": "t-1",
        "Paypal-Transmission-Time": "2025-01-15T12:00:00Z",
        "Paypal-Transmission-Sig": paypal.signature(event),
        "Paypal-Auth-Algo": "SHA256withRSA",
        "Paypal-Cert-Url": "https://api.paypal.com/cert",
    }
    answer = client.post(
        "/v1/webhooks/paypal", data=json.dumps(event), headers=headers,
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@pytest.mark.parametrize("when", ["first", "after_made", "after_not_made"])
@pytest.mark.parametrize("answer", list(ANSWERS))
def test_no_answer_pays_twice_loses_money_or_hides_it(
    runtime: Runtime, client: Any, paypal: FakePayPal, answer: str, when: str
) -> None:
    ids = payees(runtime)
    assert payouts.create_batches(runtime).items == 2
    sender_batch_id = the_batch(runtime).sender_batch_id
    if when != "first":
        earlier_attempt(runtime, paypal, made=when == "after_made")

    ANSWERS[answer](paypal, sender_batch_id)
    payouts.submit_pending(runtime)
    back_to_normal(paypal)
    check_invariants(runtime, paypal, ids, "after the answer")

    payouts.reconcile(runtime)
    payouts.reconcile(runtime)
    check_invariants(runtime, paypal, ids, "after the next runs")
    status, made = EXPECTED[(answer, when)]
    batch = the_batch(runtime)
    assert (batch.status, bool(paypal.batches)) == (status, made), batch.last_error

    # The way out. PayPal holds the batch: its webhook names it. It holds none: a person
    # sends it again (a rejected batch's money is back: the next week's batch pays it).
    if status == "needs_attention" and made:
        [found] = paypal.batches
        deliver(client, paypal, paypal.batch_event("PAYMENT.PAYOUTSBATCH.SUCCESS", found))
    elif status == "needs_attention":
        payouts.resend_batch(runtime, ADMIN, batch.id, "PayPal's dashboard shows no such batch")
    payouts.reconcile(runtime)
    payouts.reconcile(runtime)
    check_invariants(runtime, paypal, ids, "after the way out")
    if status != "rejected":
        assert the_batch(runtime).status == "completed", the_batch(runtime).last_error
        assert paypal.payments() == {f"{name}@example.com": 1 for name in AMOUNTS}
        assert all(paid_in_ledger(runtime, d) == AMOUNTS[n] for n, d in ids.items())


def test_the_rule_in_one_place() -> None:
    """Only a refusal of the very first send returns money; a duplicate never does."""
    for answer in rules.SendAnswer:
        for first in (True, False):
            decision = rules.after_send(answer, first_send=first)
            assert decision.return_money == (answer is rules.SendAnswer.REFUSED and first)
    assert rules.after_send(rules.SendAnswer.DUPLICATE, first_send=True).status == (
        rules.BatchStatus.NEEDS_ATTENTION
    )


# --- finding the batch ---------------------------------------------------------------------


def test_an_item_webhook_finds_the_batch_a_duplicate_answer_did_not_name(
    runtime: Runtime, client: Any, paypal: FakePayPal
) -> None:
    ids = payees(runtime)
    payouts.create_batches(runtime)
    earlier_attempt(runtime, paypal, made=True)
    paypal.duplicate_links = False
    assert payouts.submit_pending(runtime).needs_attention == 1
    [item_id] = [
        i for i in items_of(runtime) if i.donor_id == ids["ana"]
    ]  # the item PayPal reports on
    event = paypal.event("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", item_id.sender_item_id, "SUCCESS")
    assert deliver(client, paypal, event)["items_settled"] == 1
    batch = the_batch(runtime)
    assert batch.status == "submitted" and batch.provider_batch_id == next(iter(paypal.batches))
    payouts.reconcile(runtime)
    assert the_batch(runtime).status == "completed"
    check_invariants(runtime, paypal, ids, "after the webhook")
    assert all(paid_in_ledger(runtime, d) == AMOUNTS[n] for n, d in ids.items())


def items_of(runtime: Runtime) -> list[PayoutItem]:
    with runtime.db.read() as session:
        return list(session.scalars(select(PayoutItem).order_by(PayoutItem.id)))


def test_a_batch_the_old_engine_rejected_on_the_duplicate_answer_is_attached_and_paid_late(
    runtime: Runtime, paypal: FakePayPal
) -> None:
    """Issue 16 as it happened: PayPal made the batch, the resend met its duplicate
    answer, the old engine failed every item and returned the money. Attached, the poll
    finds them paid: each is paid late from available cash, if it is still there; one
    already paid again by a later batch stays failed and the batch needs attention."""
    ids = payees(runtime)
    payouts.create_batches(runtime)
    earlier_attempt(runtime, paypal, made=True)
    batch = the_batch(runtime)
    outcomes = [
        ItemOutcome(i.sender_item_id, rules.ItemStatus.FAILED, error="batch refused")
        for i in items_of(runtime)
    ]
    _record(
        runtime,
        batch.id,
        Submitted(None, outcomes, complete=True),
        "rejected",
        "PayPal refused the batch: USER_BUSINESS_ERROR: User business error. "
        "Duplicate batch request",
    )  # fmt: skip: what the old code stored
    assert cash_available(runtime, ids["ana"]) == 5_000
    support.adjust(runtime.db, runtime.clock, AGENT, ids["ben"], asset="cash", currency="USD",
                   amount=-2_500, reason="paid again by the next batch")  # fmt: skip

    found = next(iter(paypal.batches))
    payouts.attach_provider_batch(runtime, ADMIN, batch.id, found, "found in the dashboard")
    payouts.reconcile(runtime)
    by_donor = {i.donor_id: i for i in items_of(runtime)}
    assert by_donor[ids["ana"]].status == "succeeded"
    assert cash_available(runtime, ids["ana"]) == 0 and paid_in_ledger(runtime, ids["ana"]) == 5_000
    assert by_donor[ids["ben"]].status == "failed"
    assert "recover by hand" in by_donor[ids["ben"]].error
    batch = the_batch(runtime)
    assert batch.status == "needs_attention" and "paid twice" in batch.last_error
    assert ledger.verify(runtime.db).ok
    [line] = payouts.reconciliation_report(runtime)
    waiting, provider = line.differences  # visible, and payouts report exits 1
    assert waiting.startswith("needs attention (item ") and "paid twice" in waiting
    assert provider == "provider paid 7500 != items paid 5000"


def cash_available(runtime: Runtime, donor_id: int) -> int:
    cash = ledger.donor_balances(runtime.db, donor_id).cash
    return next(c.available_cents for c in cash if c.currency == "USD")


def test_no_resend_once_paypal_may_have_forgotten_the_sender_batch_id(
    runtime: Runtime, paypal: FakePayPal, clock: Any
) -> None:
    ids = payees(runtime)
    payouts.create_batches(runtime)
    earlier_attempt(runtime, paypal, made=False)
    clock.advance(timedelta(days=30))
    report = payouts.submit_pending(runtime)
    assert report.needs_attention == 1 and len(paypal.request_ids) == 1
    assert "30 days" in the_batch(runtime).last_error
    with pytest.raises(Conflict):
        payouts.resend_batch(runtime, ADMIN, the_batch(runtime).id, "try anyway")
    check_invariants(runtime, paypal, ids, "past the window")


# --- one sender per batch --------------------------------------------------------------------


def test_two_jobs_at_once_send_each_batch_once(runtime: Runtime, paypal: FakePayPal) -> None:
    """``payout-batch`` and ``payout-reconcile`` both call ``submit_pending``: against a
    slow PayPal, from two threads at once, exactly one create per batch."""
    ids = payees(runtime)
    payouts.create_batches(runtime)
    paypal.slow_create_s = 0.6  # under the client's timeout, long enough to overlap
    start = threading.Barrier(2)
    reports: list[payouts.RunReport] = []

    def job(run: Callable[[Runtime], payouts.RunReport]) -> None:
        start.wait()
        reports.append(run(runtime))

    threads = [
        threading.Thread(target=job, args=(payouts.submit_pending,)),
        threading.Thread(target=job, args=(payouts.reconcile,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(paypal.request_ids) == 1  # one call, not one per job
    assert sum(r.busy for r in reports) == 1 and sum(r.submitted for r in reports) == 1
    batch = the_batch(runtime)
    # submitted, or completed if the reconcile job polled after the sender recorded
    assert batch.status in ("submitted", "completed") and batch.attempts == 1
    assert batch.sender is None  # the claim was released
    payouts.reconcile(runtime)
    check_invariants(runtime, paypal, ids, "after both jobs")
    assert paypal.payments() == {f"{name}@example.com": 1 for name in AMOUNTS}


def test_a_dead_senders_claim_runs_out_and_the_batch_is_sent_again(
    runtime: Runtime, paypal: FakePayPal, clock: Any
) -> None:
    ids = payees(runtime)
    payouts.create_batches(runtime)
    report = payouts.RunReport()
    claim = _claim(runtime, the_batch(runtime).id, report)  # then the process dies
    assert claim is not None and the_batch(runtime).sender == claim.sender
    assert payouts.submit_pending(runtime).busy == 1 and paypal.request_ids == []
    clock.advance(timedelta(seconds=runtime.settings.job_lease_s + 1))
    payouts.reconcile(runtime)
    payouts.reconcile(runtime)
    assert len(paypal.request_ids) == 1 and the_batch(runtime).status == "completed"
    assert the_batch(runtime).attempts == 2  # the dead claim counted: not a first send
    check_invariants(runtime, paypal, ids, "after the takeover")


# --- Stripe lists, paged as Stripe pages them ------------------------------------------------


def test_stripe_lookups_follow_every_page(runtime: Runtime, settings: Any, clock: Any) -> None:
    """After Stripe forgot the keys, made transfers are looked up before anything is sent
    again: more transfers than a page holds must all be found (``auto_paging_iter``)."""
    stripe_server = FakeStripe()
    with serving(stripe_server) as url:
        runtime.settings = replace(  # type: ignore[misc]
            settings,
            paypal=PayPalSettings(),
            stripe=StripeSettings(api_key=stripe_server.api_key, api_base=url, timeout_s=2.0),
        )
        runtime.__dict__.pop("payout_providers", None)  # built again from the new settings
        count = 105  # the engine asks 100 a page: two pages
        for n in range(count):
            donor_id = ensure_donor(runtime.db, runtime.clock, f"s{n}").id
            support.adjust(runtime.db, runtime.clock, SEED, donor_id, asset="cash",
                           currency="USD", amount=1_000 + n, reason="bounty")  # fmt: skip
            with runtime.db.transaction() as uow:
                from rewards_engine.models import Donor

                donor = uow.session.get(Donor, donor_id)
                value = f"acct_1Stripe{n:06d}"
                donor.payout_kind = "stripe_account"
                donor.payout_destination = runtime.vault.encrypt(value)
                donor.payout_masked = value[:5]
                donor.payout_fingerprint = runtime.vault.fingerprint(value)
        payouts.create_batches(runtime)
        batch = the_batch(runtime)
        with runtime.db.transaction() as uow:
            row = uow.session.get(PayoutBatch, batch.id)
            outgoing = _outgoing(runtime, uow.session, row)
            row.status, row.attempts, row.submitted_at = "unknown", 1, runtime.clock.now()
        runtime.payout_providers["stripe"].submit(outgoing)  # made; the answers were lost
        assert len(stripe_server.transfers) == count
        clock.advance(timedelta(hours=25))
        stripe_server.by_key.clear()  # Stripe keeps idempotency keys for 24 hours
        payouts.submit_pending(runtime)
        assert len(stripe_server.transfers) == count  # all found, none made again
        pages = [c for c in stripe_server.list_calls if c.get("transfer_group")]
        assert len(pages) == 2 and "starting_after" in pages[1]
        with runtime.db.read() as session:
            statuses = session.execute(
                select(PayoutItem.status, func.count()).group_by(PayoutItem.status)
            ).all()
        assert dict(statuses) == {"succeeded": count}
        assert the_batch(runtime).status == "completed"
        assert ledger.verify(runtime.db).ok


def test_a_batch_refused_on_its_first_send_cannot_be_attached(
    runtime: Runtime, paypal: FakePayPal
) -> None:
    """Its money went back: attaching a provider batch to it would settle money twice."""
    payees(runtime)
    payouts.create_batches(runtime)
    validation_refusal(paypal, "")
    assert payouts.submit_pending(runtime).rejected == 1
    batch = the_batch(runtime)
    assert batch.status == "rejected" and "VALIDATION_ERROR" in batch.last_error
    with pytest.raises(Conflict):
        payouts.attach_provider_batch(runtime, ADMIN, batch.id, "PB00000001", "wrong batch")


def test_a_sender_that_lost_its_claim_never_returns_money_another_send_made(
    runtime: Runtime, paypal: FakePayPal, clock: Any
) -> None:
    """Sender A's first send is slow; its claim runs out (no renewal got through), B
    claims the batch, sends it again and PayPal makes it. A's answer then comes back a
    refusal: it must not return the money, which PayPal pays (found by review: the
    batch ended completed with its items failed and the money available again)."""
    ids = payees(runtime)
    payouts.create_batches(runtime)
    paypal.slow_create_s = 0.9  # A's call takes its time (under the 1 s client timeout)
    first = threading.Thread(target=payouts.submit_pending, args=(runtime,))
    first.start()
    assert paypal.slow_create_started.wait(10)  # A's call is on its way
    paypal.slow_create_s = 0.0
    clock.advance(timedelta(seconds=runtime.settings.job_lease_s + 1))  # A's claim ran out
    payouts.submit_pending(runtime)  # B claims the batch and sends it again: PayPal makes it
    assert the_batch(runtime).provider_batch_id
    validation_refusal(paypal, the_batch(runtime).sender_batch_id)  # what A then hears
    first.join(10)
    payouts.reconcile(runtime)
    check_invariants(runtime, paypal, ids, "after both senders and a reconcile")
    assert paypal.payments() == {f"{name}@example.com": 1 for name in ids}
    assert the_batch(runtime).status == "completed"
    for name, donor_id in ids.items():
        assert paid_in_ledger(runtime, donor_id) == AMOUNTS[name]


@pytest.mark.parametrize("status", [400, 500])
def test_a_passing_error_on_a_poll_keeps_the_batch_and_the_next_poll_settles_it(
    runtime: Runtime, paypal: FakePayPal, status: int
) -> None:
    """A read of a batch that exists answered with an error (undocumented): nothing is
    settled or forgotten; the batch keeps its PayPal id, and the next poll settles it."""
    ids = payees(runtime)
    payouts.create_batches(runtime)
    payouts.submit_pending(runtime)
    made = the_batch(runtime).provider_batch_id
    assert made
    paypal.read_answer_next.append((status, {"name": "INTERNAL_SERVICE_ERROR", "message": "?"}))
    payouts.reconcile(runtime)
    batch = the_batch(runtime)
    assert (batch.status, batch.provider_batch_id) == ("submitted", made)
    payouts.reconcile(runtime)
    assert the_batch(runtime).status == "completed"
    check_invariants(runtime, paypal, ids, "after a passing error on a poll")
