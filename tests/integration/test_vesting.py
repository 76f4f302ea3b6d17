"""Vesting finds the due clips on ``ix_clips_vesting`` alone, then the holds of their
donors by primary key (docs/capacity.md, R4): what it vests must not change."""

from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from rewards_engine.models import Clip, Donor
from rewards_engine.services import ledger, vesting
from tests.support.factories import add_campaign, consenting_donor, donate_ids, load_program


def vested(runtime, clip_ids: list[int]) -> set[int]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        return set(
            session.scalars(
                select(col(Clip.id)).where(
                    col(Clip.id).in_(clip_ids), col(Clip.vested_at).is_not(None)
                )
            )
        )


def test_vesting_takes_the_due_accepted_clips_of_donors_not_on_hold(
    client, runtime, clock, auth
) -> None:
    load_program(runtime)
    campaign = add_campaign(runtime, review_window_days=7, bounty_cents=5).id
    people = {name: consenting_donor(runtime, name) for name in ("ada", "bruno", "cara", "dan")}
    ada = donate_ids(client, auth("ada"), 5, campaign)
    bruno = donate_ids(client, auth("bruno"), 2, campaign)
    dan = donate_ids(client, auth("dan"), 2, campaign)
    clock.advance(timedelta(days=3))
    cara = donate_ids(client, auth("cara"), 2, campaign)  # due 3 days after the others
    reversed_clip, waiting = ada[3], ada[4]
    with runtime.db.transaction() as uow:
        # Reversed and back in review: never vested, though their time has come.
        uow.session.execute(
            update(Clip).where(col(Clip.id) == reversed_clip).values(status="reversed")
        )
        uow.session.execute(
            update(Clip).where(col(Clip.id) == waiting).values(status="pending_review")
        )
        uow.session.execute(
            update(Donor).where(col(Donor.id) == people["bruno"]).values(on_hold=True)
        )
    everyone = ada + bruno + cara + dan

    clock.advance(timedelta(days=5))  # ada's, bruno's and dan's clips are due
    report = vesting.vest_due(runtime.db, runtime.clock)
    assert vested(runtime, everyone) == set(ada[:3] + dan)
    assert (report.donors, report.clips) == (2, 5)
    assert ledger.donor_balances(runtime.db, people["dan"]).points_available == 20
    assert ledger.donor_balances(runtime.db, people["bruno"]).points_available == 0
    assert vesting.vest_due(runtime.db, runtime.clock).clips == 0  # nothing twice

    with runtime.db.transaction() as uow:
        uow.session.execute(
            update(Donor).where(col(Donor.id) == people["bruno"]).values(on_hold=False)
        )
    clock.advance(timedelta(days=3))  # cara's are due; bruno is released
    report = vesting.vest_due(runtime.db, runtime.clock)
    assert vested(runtime, everyone) == set(ada[:3] + dan + bruno + cara)
    assert (report.donors, report.clips) == (2, 4)
