"""Gift cards ordered from Tremendous, exactly once (issue 25).

The engine's own client talks to a local server that answers as Tremendous documents
(tests/support/tremendous_server.py). For each answer, after the redemption and after
the reconciliation job: the provider holds at most one order per redemption, the
points were taken once and given back at most once, and ``ledger verify`` exits 0.
An ambiguous answer (5xx, timeout after the order was made, reset connection) never
refunds and never orders under another external id: the job looks the order up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine import schema
from rewards_engine.bootstrap import build_runtime
from rewards_engine.cli import cli
from rewards_engine.clock import FixedClock
from rewards_engine.config import Settings
from rewards_engine.db import Database
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.errors import Conflict, InvalidInput
from rewards_engine.domain.redemptions import Status
from rewards_engine.jobs import find_job
from rewards_engine.models import (
    AuditRecord,
    GiftCardOrder,
    LedgerTransfer,
    Notification,
    Redemption,
)
from rewards_engine.providers.gift_cards import ProviderOrder
from rewards_engine.runtime import Runtime
from rewards_engine.services import (
    gift_card_orders,
    gift_card_products,
    ledger,
    redemptions,
    support,
)
from rewards_engine.services.donors import ensure_donor
from tests.support.backends import database_for_run
from tests.support.gift_card_world import tremendous_card
from tests.support.processes import serving
from tests.support.tremendous_server import FakeTremendous

SEED = Actor.system("test-seed")
ITEM = "gift-card-tremendous-amazon-10-usd"
COST = 1_000


@pytest.fixture
def tremendous() -> Iterator[FakeTremendous]:
    fake = FakeTremendous(hang_s=6.0)  # well past the client's timeout, however busy the machine
    with serving(fake) as url:
        fake.url = url
        yield fake


@pytest.fixture
def settings(settings, tremendous):  # type: ignore[no-untyped-def]
    return replace(settings, tremendous=tremendous.client_settings(timeout_s=3.0))


@pytest.fixture
def item(runtime: Runtime) -> str:
    return add_item(runtime)


def add_item(runtime: Runtime) -> str:
    with runtime.db.transaction() as uow:
        uow.session.add(tremendous_card(ITEM, "Amazon.com $10 (Tremendous)", COST, 1_000))
    assert gift_card_products.sync_from_provider(runtime)["listed"] == 2  # US, USD
    return ITEM


def donor_with(runtime: Runtime, name: str, points: int) -> int:
    donor_id = ensure_donor(runtime.db, runtime.clock, name).id
    support.adjust(runtime.db, runtime.clock, SEED, donor_id, asset="points",
                   amount=points, reason="test funds")  # fmt: skip
    return donor_id


def redeem(runtime: Runtime, donor_id: int, key: str | None = None) -> redemptions.RedemptionView:
    return redemptions.redeem(
        runtime.db,
        runtime.clock,
        Actor(id=f"donor:{donor_id}", role="donor"),
        donor_id,
        ITEM,
        None,
        idempotency_key=key,
        vault=runtime.vault,
        orders=runtime.gift_card_orders,
        country="US",
    )


def place_again(runtime: Runtime, redemption_id: int) -> str:
    provider = runtime.gift_card_orders["tremendous"]
    return gift_card_orders.place(runtime.db, runtime.clock, provider, runtime.vault, redemption_id)


def reconcile(runtime: Runtime) -> gift_card_orders.ReconcileReport:
    return gift_card_orders.reconcile(
        runtime.db,
        runtime.clock,
        runtime.gift_card_orders,
        runtime.vault,
        runtime.settings.tremendous,
    )


def ours(runtime: Runtime, redemption_id: int) -> str:
    """The external id the engine ordered the redemption's card under."""
    with runtime.db.read() as session:
        order = session.get(GiftCardOrder, redemption_id)
        assert order is not None
        return order.external_id


def status(runtime: Runtime, redemption_id: int) -> str:
    with runtime.db.read() as session:
        redemption = session.get(Redemption, redemption_id)
        assert redemption is not None
        return redemption.status


def available(runtime: Runtime, donor_id: int) -> int:
    with runtime.db.read() as session:
        return ledger.balances(session, donor_id).points_available


def transfers(runtime: Runtime, redemption_id: int) -> dict[str, int]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(col(LedgerTransfer.kind), func.count())
            .where(
                col(LedgerTransfer.reference_type) == "redemption",
                col(LedgerTransfer.reference_id) == str(redemption_id),
            )
            .group_by(col(LedgerTransfer.kind))
        ).all()
    return {str(kind): int(count) for kind, count in rows}


def check_books(runtime: Runtime, tremendous: FakeTremendous, redemption_id: int,
                *, refunded: bool) -> None:  # fmt: skip
    """Points taken once, given back once or never, one order at most, ledger verified."""
    moves = transfers(runtime, redemption_id)
    assert moves.get("redemption") == 1
    assert moves.get("refund", 0) == (1 if refunded else 0)
    assert len(tremendous.orders_for(ours(runtime, redemption_id))) <= 1
    verify = CliRunner().invoke(cli, ["ledger", "verify"])
    assert verify.exit_code == 0, verify.output


pytestmark = pytest.mark.usefixtures("item", "cli_env")


def test_a_card_is_ordered_once_delivered_and_its_link_shown_to_its_donor_only(
    runtime: Runtime, tremendous: FakeTremendous, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ana = donor_with(runtime, "ana", 2_500)
    view = redeem(runtime, ana)
    rid = view.redemption.id

    assert view.redemption.status == Status.DELIVERED
    [order] = tremendous.orders_for(ours(runtime, rid))
    link = order["rewards"][0]["delivery"]["link"]
    assert view.code == link  # the donor sees the card
    sent = next(c for c in tremendous.calls if c[0] == "POST")
    assert sent == ("POST", "/api/v2/orders")
    assert [s.to_status for s in view.events] == ["requested", "ordering", "delivered"]
    assert available(runtime, ana) == 1_500
    support_view = redemptions.all_redemptions(runtime.db, status=None, donor_id=ana,
                                               limit=10, cursor=None).items[0]  # fmt: skip
    assert support_view.code is None and support_view.order is not None
    assert support_view.order.order_id == order["id"]
    with runtime.db.read() as session:
        row = session.get(GiftCardOrder, rid)
        assert row is not None and link not in (row.link_encrypted or "")
    assert all(link not in record.getMessage() and link not in str(record.__dict__)
               for record in caplog.records)  # fmt: skip
    assert reconcile(runtime).checked == 0  # delivered: no longer open
    with runtime.db.read() as session:
        told = session.scalars(select(Notification).where(col(Notification.donor_id) == ana))
        card = {"redemption_id": rid, "reward": "Amazon.com $10 (Tremendous)"}
        assert [(n.kind, n.data) for n in told] == [("redemption_fulfilled", card)]
    check_books(runtime, tremendous, rid, refunded=False)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda fake, client: setattr(fake, "balance", 5.0), "Insufficient funds"),
        (lambda fake, client: fake.unavailable.add("AMZN-US"), "product unavailable"),
        (lambda fake, client: setattr(client, "funding_source_id", "FS-OTHER"), "validation"),
    ],
    ids=["insufficient-funds", "product-unavailable", "validation"],
)
def test_a_refused_order_fails_the_redemption_and_refunds_once(
    runtime: Runtime, tremendous: FakeTremendous, setup: Any, reason: str
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    setup(tremendous, runtime.gift_card_orders["tremendous"])
    view = redeem(runtime, ana)
    rid = view.redemption.id

    assert view.redemption.status == Status.FAILED
    assert reason in (view.redemption.note or "")
    assert view.code is None
    assert available(runtime, ana) == 2_500
    assert tremendous.orders_for(ours(runtime, rid)) == []
    for _ in range(2):  # the job and a second pass change nothing
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        reconcile(runtime)
    assert available(runtime, ana) == 2_500
    check_books(runtime, tremendous, rid, refunded=True)


def test_a_repeated_external_id_answers_the_first_order(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    """Tremendous answers a used external_id with the first order (201): a second
    place() of the same redemption makes no second card."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.fail_after_next = [503]  # made, then the answer is an error
    rid = redeem(runtime, ana).redemption.id
    assert status(runtime, rid) == Status.ORDERING
    after = place_again(runtime, rid)
    assert after == Status.DELIVERED
    assert len(tremendous.orders_for(ours(runtime, rid))) == 1
    check_books(runtime, tremendous, rid, refunded=False)


@pytest.mark.parametrize("duplicate_status", [409, 422])
def test_a_duplicate_answered_with_an_error_is_found_not_refunded(
    runtime: Runtime, tremendous: FakeTremendous, duplicate_status: int
) -> None:
    """Undocumented: a provider answering a used external id with 409 or 422. The
    refusal is checked by a look-up first: the order exists, so it is recorded."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.duplicate_status = duplicate_status
    tremendous.fail_after_next = [500]
    rid = redeem(runtime, ana).redemption.id
    tremendous.read_fail_next = [500]  # the job's first look-up fails too
    runtime.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    assert reconcile(runtime).unanswered == 1
    assert status(runtime, rid) == Status.ORDERING
    after = place_again(runtime, rid)
    # 422 is a refusal, checked by a look-up that finds the order; 409 is no answer at
    # all (a conflict may be a concurrent request): the job's look-up finds it.
    assert after == (Status.DELIVERED if duplicate_status == 422 else Status.ORDERING)
    reconcile(runtime)
    assert status(runtime, rid) == Status.DELIVERED
    assert len(tremendous.orders_for(ours(runtime, rid))) == 1
    check_books(runtime, tremendous, rid, refunded=False)


@pytest.mark.parametrize(
    "fault",
    ["5xx-before", "5xx-after", "timeout-after", "reset-after", "reset-before"],
)
def test_an_ambiguous_answer_never_refunds_and_the_job_settles_it(
    runtime: Runtime, tremendous: FakeTremendous, fault: str
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    made = fault.endswith("after")
    if fault == "5xx-before":
        tremendous.fail_next = [502]
    elif fault == "5xx-after":
        tremendous.fail_after_next = [500]
    elif fault == "timeout-after":
        tremendous.hang_next = 1
    elif fault == "reset-after":
        tremendous.fail_after_next = [0]
    else:
        tremendous.reset_next = 1
    view = redeem(runtime, ana)
    rid = view.redemption.id

    assert view.redemption.status == Status.ORDERING  # no answer: no refund, no link
    assert view.code is None
    assert available(runtime, ana) == 1_500
    assert len(tremendous.orders_for(ours(runtime, rid))) == (1 if made else 0)

    report = reconcile(runtime)  # at once: looks up, finds it or waits
    if made:
        assert report.moved == 1 and status(runtime, rid) == Status.DELIVERED
    else:
        assert report.sent == 0 and status(runtime, rid) == Status.ORDERING
        runtime.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
        assert reconcile(runtime).sent == 1  # none found: ordered again, same external id
        assert status(runtime, rid) == Status.DELIVERED
    assert [o["external_id"] for o in tremendous.orders.values()] == [ours(runtime, rid)]
    assert reconcile(runtime).checked == 0
    check_books(runtime, tremendous, rid, refunded=False)


def test_a_crash_between_the_commit_and_the_call_is_recovered_by_the_job(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    view = redemptions._redeem(  # the transaction alone: the process died after commit
        runtime.db, runtime.clock, Actor(id=f"donor:{ana}", role="donor"), ana, ITEM, None,
        idempotency_key=None, auto_fulfil=True, vault=runtime.vault,
        orders=runtime.gift_card_orders, country="US",
    )  # fmt: skip
    rid = view.redemption.id
    assert view.redemption.status == Status.ORDERING and tremendous.orders == {}
    job = find_job("gift-card-orders")  # as the scheduler runs it
    assert job is not None
    assert job.func(runtime)["sent"] == 0  # within the grace minute the caller may call
    runtime.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    assert job.func(runtime)["sent"] == 1
    assert status(runtime, rid) == Status.DELIVERED
    check_books(runtime, tremendous, rid, refunded=False)


def test_an_order_left_unanswered_stays_ordering_after_the_attempts_allowed(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    """The provider never answers: attempts stop at TREMENDOUS_MAX_ATTEMPTS, each with
    the same external id; the points stay taken (support decides), none refunded."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.fail_next = [503] * 20
    rid = redeem(runtime, ana).redemption.id
    for _ in range(10):
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        report = reconcile(runtime)
    assert report.stuck == 1
    with runtime.db.read() as session:
        order = session.get(GiftCardOrder, rid)
        assert order is not None and order.attempts == runtime.settings.tremendous.max_attempts
        assert order.last_error and "503" in order.last_error
    assert status(runtime, rid) == Status.ORDERING and tremendous.orders == {}
    check_books(runtime, tremendous, rid, refunded=False)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_an_order_pending_approval_then_approved_or_rejected(
    runtime: Runtime, tremendous: FakeTremendous, decision: str
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.approval_required = True
    view = redeem(runtime, ana)
    rid = view.redemption.id
    assert view.redemption.status == Status.PENDING_APPROVAL and view.code is None
    assert reconcile(runtime).moved == 0
    [order] = tremendous.orders_for(ours(runtime, rid))
    tremendous.decide(order["id"], decision)
    reconcile(runtime)
    if decision == "approve":
        assert status(runtime, rid) == Status.DELIVERED
        assert available(runtime, ana) == 1_500
    else:
        assert status(runtime, rid) == Status.CANCELLED
        assert available(runtime, ana) == 2_500
    reconcile(runtime)  # again: nothing more
    check_books(runtime, tremendous, rid, refunded=decision == "reject")


def test_a_failed_delivery_is_not_refunded_and_a_resend_delivers(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    """A reward whose delivery FAILED exists and is paid for: the redemption stays
    ordered (support resends or cancels), the link is not shown, nothing is refunded."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.delivery_outcome = "FAILED"
    view = redeem(runtime, ana)
    rid = view.redemption.id
    assert view.redemption.status == Status.ORDERED and view.code is None
    assert view.order is not None and view.order.delivery_status == "FAILED"
    reconcile(runtime)
    assert status(runtime, rid) == Status.ORDERED and available(runtime, ana) == 1_500
    [order] = tremendous.orders_for(ours(runtime, rid))
    tremendous.resend(order["rewards"][0]["id"])
    reconcile(runtime)
    assert status(runtime, rid) == Status.DELIVERED
    check_books(runtime, tremendous, rid, refunded=False)


def test_concurrent_redemptions_of_the_last_points_order_one_card(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    ana = donor_with(runtime, "ana", COST + 500)  # one card's worth
    results: list[object] = []

    def attempt() -> None:
        try:
            results.append(redeem(runtime, ana).redemption.id)
        except Conflict as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ids = [r for r in results if isinstance(r, int)]
    assert len(ids) == 1 and results.count("insufficient_balance") == 3
    assert len(tremendous.orders) == 1 and available(runtime, ana) == 500
    check_books(runtime, tremendous, ids[0], refunded=False)


def test_the_same_idempotency_key_orders_once(runtime: Runtime, tremendous: FakeTremendous) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    first = redeem(runtime, ana, key="r-1")
    again = redeem(runtime, ana, key="r-1")
    assert again.replayed and again.redemption.id == first.redemption.id
    assert len(tremendous.orders) == 1 and available(runtime, ana) == 1_500
    check_books(runtime, tremendous, first.redemption.id, refunded=False)


def test_a_held_donor_is_ordered_once_released(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    rid = redemptions.redeem(
        runtime.db, runtime.clock, Actor(id=f"donor:{ana}", role="donor"), ana, ITEM, None,
        vault=runtime.vault, orders=runtime.gift_card_orders, auto_fulfil=False, country="US",
    ).redemption.id  # fmt: skip
    assert status(runtime, rid) == Status.REQUESTED and tremendous.orders == {}
    assert gift_card_orders.reconcile(
        runtime.db, runtime.clock, runtime.gift_card_orders, runtime.vault,
        runtime.settings.tremendous, auto_fulfil=False,
    ).sent == 0  # fmt: skip
    runtime.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    reconcile(runtime)
    assert status(runtime, rid) == Status.DELIVERED and len(tremendous.orders) == 1
    check_books(runtime, tremendous, rid, refunded=False)


def test_support_cannot_fail_an_order_the_provider_may_hold(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.fail_after_next = [500]
    rid = redeem(runtime, ana).redemption.id
    with pytest.raises(Conflict) as refused:
        redemptions.transition(runtime.db, runtime.clock, Actor(id="support:s", role="support"),
                               rid, Status.FAILED, reason="stuck")  # fmt: skip
    assert refused.value.code == "illegal_transition"
    check_books(runtime, tremendous, rid, refunded=False)


def test_without_tremendous_settings_its_items_are_not_offered(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    ana = donor_with(runtime, "ana", 2_500)
    with pytest.raises(InvalidInput):
        redemptions.redeem(runtime.db, runtime.clock, Actor(id=f"donor:{ana}", role="donor"),
                           ana, ITEM, None, vault=runtime.vault, orders={})  # fmt: skip
    assert available(runtime, ana) == 2_500 and tremendous.orders == {}


def test_through_the_api_the_donor_sees_the_link_and_support_does_not(
    runtime: Runtime, tremendous: FakeTremendous, client: Any, auth: Any
) -> None:
    """POST /v1/redemptions reaches the provider path (the route passes the configured
    providers); the donor's answer carries the link, support's list does not."""
    ana = donor_with(runtime, "ana", 2_500)
    answer = client.post("/v1/redemptions", json={"reward_id": ITEM, "country": "US"},
                         headers={**auth("ana"), "Idempotency-Key": "k-1"})  # fmt: skip
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    [order] = tremendous.orders_for(ours(runtime, body["id"]))
    link = order["rewards"][0]["delivery"]["link"]
    assert body["status"] == "delivered" and body["code"] == link
    mine = client.get("/v1/redemptions", headers=auth("ana")).get_json()["items"]
    assert mine[0]["code"] == link
    queue = client.get(f"/v1/admin/redemptions?donor_id={ana}", headers=auth("agent", "support"))
    assert queue.status_code == 200 and link not in queue.get_data(as_text=True)
    check_books(runtime, tremendous, body["id"], refunded=False)


def test_a_lost_answer_s_link_is_generated_again_and_shown_once_generated(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    """The answer that carried the link was lost; a look-up never shows a link
    (developers.tremendous.com/docs/link-delivery), so one is generated
    (POST /rewards/{id}/generate_link). That call failing leaves the redemption ordered,
    no link shown; the next run generates it and delivers. Only the newest is shown."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.fail_after_next = [0]  # made, the connection reset: the link is lost
    tremendous.link_fail_next = [503]
    rid = redeem(runtime, ana).redemption.id
    reconcile(runtime)
    assert status(runtime, rid) == Status.ORDERED
    assert redemptions.donor_redemption(runtime.db, runtime.vault, ana, rid).code is None
    reconcile(runtime)
    assert status(runtime, rid) == Status.DELIVERED
    [order] = tremendous.orders_for(ours(runtime, rid))
    newest = order["rewards"][0]["delivery"]["link"]
    assert redemptions.donor_redemption(runtime.db, runtime.vault, ana, rid).code == newest
    assert len(tremendous.orders) == 1
    check_books(runtime, tremendous, rid, refunded=False)


def test_a_look_up_that_finds_nothing_orders_again_under_the_same_id_not_twice(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    """Whatever the look-up answers (here: never the order asked for), the card is
    ordered again only with the same external id, and Tremendous answers the first."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.list_filters = False
    tremendous.hang_next = 1  # made, the answer too late
    rid = redeem(runtime, ana).redemption.id
    assert status(runtime, rid) == Status.ORDERING
    runtime.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert reconcile(runtime).sent == 1
    assert status(runtime, rid) == Status.DELIVERED
    posts = [c for c in tremendous.calls if c == ("POST", "/api/v2/orders")]
    assert len(posts) == 2 and len(tremendous.orders) == 1
    check_books(runtime, tremendous, rid, refunded=False)


def test_an_answer_for_another_order_is_not_applied(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    ana = donor_with(runtime, "ana", 5_000)
    first = redeem(runtime, ana).redemption.id
    tremendous.fail_next = [503]
    second = redeem(runtime, ana).redemption.id
    [other] = tremendous.orders_for(ours(runtime, first))
    answer = ProviderOrder(
        order_id=other["id"], external_id=ours(runtime, first), status="CANCELED",
        reward_id=None, delivery_status=None, link=None,
    )  # fmt: skip
    after = gift_card_orders.record(runtime.db, runtime.clock, runtime.vault, second, answer)
    assert after == Status.ORDERING and available(runtime, ana) == 3_000
    check_books(runtime, tremendous, second, refunded=False)


def test_a_provider_that_is_down_ends_the_run_after_three_unanswered_calls(
    runtime: Runtime, tremendous: FakeTremendous
) -> None:
    """Each unanswered call may last the whole timeout: the run stops after three in a
    row instead of holding the job for every open order; the next run starts with the
    orders not yet tried."""
    ana = donor_with(runtime, "ana", 10_000)
    tremendous.fail_after_next = [500] * 5  # five orders made, no answer to any
    ids = [redeem(runtime, ana).redemption.id for _ in range(5)]
    tremendous.read_fail_next = [503] * 3
    first = reconcile(runtime)
    assert (first.checked, first.unanswered, first.moved) == (3, 3, 0)
    second = reconcile(runtime)  # the two left first, then the three again
    assert second.moved == 5 and second.unanswered == 0
    assert {status(runtime, rid) for rid in ids} == {Status.DELIVERED}
    assert len(tremendous.orders) == 5 and available(runtime, ana) == 5_000
    for rid in ids:
        check_books(runtime, tremendous, rid, refunded=False)


def test_two_databases_sharing_one_account_never_see_each_other_s_orders(
    runtime: Runtime,
    tremendous: FakeTremendous,
    settings: Settings,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    """A second installation on the same Tremendous account, or this one's database
    recreated empty, numbers its redemptions from 1 too: its external ids carry its own
    installation id, so Tremendous makes it its own order instead of answering with ours
    (and our donor's link)."""
    ana = donor_with(runtime, "ana", 2_500)
    mine = redeem(runtime, ana).redemption.id
    with database_for_run(tmp_path, "second") as url:
        database = Database(url)
        schema.upgrade_to_head(database.engine)
        database.dispose()
        other = build_runtime(replace(settings, database_url=url), clock=clock)
        try:
            add_item(other)
            bea = donor_with(other, "bea", 2_500)
            theirs = redeem(other, bea).redemption.id
            assert theirs == mine  # both number from the same start
            assert status(other, theirs) == status(runtime, mine) == Status.DELIVERED
            assert ours(other, theirs) != ours(runtime, mine)
            assert len(tremendous.orders) == 2
            their_link = redemptions.donor_redemption(other.db, other.vault, bea, theirs).code
        finally:
            other.close()
    [order] = tremendous.orders_for(ours(runtime, mine))
    my_link = redemptions.donor_redemption(runtime.db, runtime.vault, ana, mine).code
    assert my_link == order["rewards"][0]["delivery"]["link"] != their_link
    check_books(runtime, tremendous, mine, refunded=False)


def test_a_stuck_order_is_retried_by_command_under_the_same_external_id(
    runtime: Runtime, tremendous: FakeTremendous, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its attempts, an order waits for a person; once the cause is fixed,
    ``gift-cards retry-order`` (audited) looks it up, orders it again under the same
    external id, and refuses a second time: the provider has it now."""
    ana = donor_with(runtime, "ana", 2_500)
    tremendous.fail_next = [503] * 20
    rid = redeem(runtime, ana).redemption.id
    for _ in range(10):
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        reconcile(runtime)
    assert reconcile(runtime).stuck == 1 and tremendous.orders == {}
    tremendous.fail_next = []  # the outage is over
    configured = runtime.settings.tremendous
    for name, value in {
        "TREMENDOUS_API_KEY": configured.api_key,
        "TREMENDOUS_BASE_URL": configured.base_url,
        "TREMENDOUS_FUNDING_SOURCE_ID": configured.funding_source_id,
    }.items():
        monkeypatch.setenv(name, str(value))
    command = ["gift-cards", "retry-order", str(rid), "--by", "cli:ops"]
    no_reason = CliRunner().invoke(cli, command)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    retried = CliRunner().invoke(cli, [*command, "--reason", "Tremendous outage over"])
    assert retried.exit_code == 0, retried.output
    assert "ordered again under the same external id" in retried.output
    assert ours(runtime, rid) in retried.output and "now delivered" in retried.output
    [order] = tremendous.orders.values()
    assert order["external_id"] == ours(runtime, rid) and status(runtime, rid) == Status.DELIVERED
    again = CliRunner().invoke(cli, [*command, "--reason", "once more"])
    assert again.exit_code == 1 and "already_ordered" in again.output
    assert len(tremendous.orders) == 1
    with runtime.db.read() as session:
        [record] = session.scalars(
            select(AuditRecord).where(col(AuditRecord.action) == "gift_card_order.retry")
        ).all()
        assert (record.actor_id, record.target_id) == ("cli:ops", str(rid))
        assert record.reason == "Tremendous outage over"
    check_books(runtime, tremendous, rid, refunded=False)
