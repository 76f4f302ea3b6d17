"""Detection figures on a two-month synthetic program (see docs/fraud.md)."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from rewards_engine.models import Donor, FraudFlag
from rewards_engine.services import donors, fraud, payouts
from tests.integration.test_fraud_scenario import PLANTED, START, plant
from tests.support.factories import add_campaign, load_program
from tests.support.population import Population, heavy_donor, ordinary_donors, steady_donors

DAYS = 60


@pytest.mark.slow
def test_detection_figures_over_two_months(runtime, clock) -> None:  # type: ignore[no-untyped-def]
    """The figures of docs/fraud.md: every planted case found, no ordinary or keen
    one-camera donor flagged or held, the heavy donor held by the cohort outlier only."""
    clock.set(START + timedelta(days=DAYS + 1))
    load_program(runtime)
    campaign = add_campaign(
        runtime, starts_at=START - timedelta(days=400), ends_at=START + timedelta(days=90)
    )
    population = Population(random.Random(99))
    ordinary_donors(population, 1_000, START, DAYS)
    steady_donors(population, 100, START + timedelta(days=DAYS), DAYS, (100, 150))
    heavy_donor(population, "enthusiast", START, DAYS, per_day=550, cameras=40)
    plant(population)
    ids = population.insert(runtime, campaign.id)
    for name in ("payee-a", "payee-b"):
        d = payouts.prepare_destination(runtime, {"kind": "paypal_email", "value": "w@example.com"})
        donors.update_profile(runtime.db, runtime.clock, ids[name], donors.ProfileChanges(payout=d))
    fraud.scan(runtime, full=True)
    names = {v: k for k, v in ids.items()}
    flagged, held = {}, set()
    with runtime.db.read() as s:
        for f in s.scalars(select(FraudFlag)):
            flagged.setdefault(names[f.donor_id], set()).add((f.rule, f.severity))
        held = {names[d] for d in s.scalars(select(Donor.id).where(Donor.on_hold.is_(True)))}
    found = sum(1 for n, r in PLANTED.items() if r in {x for x, _ in flagged.get(n, set())})
    ordinary = sorted(n for n in flagged if n.startswith(("donor-", "steady-")))
    keen_held = [n for n in held if n.startswith(("donor-", "steady-"))]
    print(f"\nfound {found} of {len(PLANTED)}; flagged {len(ordinary)}, held {len(keen_held)}")
    assert found == len(PLANTED)
    assert ordinary == [] and keen_held == []
    assert {rule for rule, severity in flagged["enthusiast"] if severity == "high"} == {
        "cohort_outlier"
    }
