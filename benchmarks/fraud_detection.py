"""Fraud detection figures on a two-month synthetic program (docs/fraud.md): which
planted frauds one full scan finds, and which honest donors it flags or holds.

The population is the one ``tests/integration/test_fraud_detection.py`` asserts on
(generators in ``tests/support/population.py``, seed 99), over 60 days:

- 1,000 ordinary donors (1-3 cameras, active about one day in three);
- 100 keen one-camera donors with 100-150 clips in the two months;
- the genuine heavy donor, 550 clips a day on 40 cameras;
- the planted cases of ``tests/integration/test_fraud_scenario.py``.

Run on the code as it is, or on an older commit's checkout (the script only needs the
test helpers), it records the commit it measured.

    python -m benchmarks.fraud_detection [--backend sqlite --backend postgres] [--output NAME]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.common import commit, fresh_database, report
from rewards_engine.clock import FixedClock
from rewards_engine.config import RateLimits, Settings
from rewards_engine.models import Donor, FraudEvidence, FraudFlag
from rewards_engine.services import donors, fraud, payouts
from tests.conftest import DEFAULT_NOW, TEST_ENCRYPTION_KEY, TEST_JWT_SECRET
from tests.integration.test_fraud_scenario import PLANTED, START, plant
from tests.support.factories import add_campaign, load_program
from tests.support.population import Population, heavy_donor, ordinary_donors, steady_donors

try:
    from rewards_engine.bootstrap import build_runtime
except ImportError:  # a checkout from before bootstrap.py (the "before" figures)
    from rewards_engine.runtime import Runtime as build_runtime  # type: ignore[assignment]  # same call

REDIS = "redis://127.0.0.1:6379/0"
DAYS = 60
SEED = 99
ORDINARY, KEEN, KEEN_CLIPS = 1_000, 100, (100, 150)
HEAVY_PER_DAY, HEAVY_CAMERAS = 550, 40
HEAVY = "enthusiast"


def measure(url: str, instance: Path) -> dict[str, Any]:
    settings = Settings(
        environment="test", instance_dir=instance, database_url=url, redis_url=REDIS,
        redis_namespace=f"fraud-detection-{random.randrange(1 << 30)}",
        jwt_secret=TEST_JWT_SECRET, encryption_keys=(TEST_ENCRYPTION_KEY,),
        rate_limits=RateLimits(0, 0, 0, 0),
    )  # fmt: skip
    clock = FixedClock(DEFAULT_NOW)
    runtime = build_runtime(settings, clock=clock)
    clock.set(START + timedelta(days=DAYS + 1))
    load_program(runtime)
    campaign = add_campaign(
        runtime, starts_at=START - timedelta(days=400), ends_at=START + timedelta(days=90)
    )
    population = Population(random.Random(SEED))
    ordinary_donors(population, ORDINARY, START, DAYS)
    steady_donors(population, KEEN, START + timedelta(days=DAYS), DAYS, KEEN_CLIPS)
    heavy_donor(population, HEAVY, START, DAYS, per_day=HEAVY_PER_DAY, cameras=HEAVY_CAMERAS)
    plant(population)
    ids = population.insert(runtime, campaign.id)
    for name in ("payee-a", "payee-b"):
        d = payouts.prepare_destination(runtime, {"kind": "paypal_email", "value": "w@example.com"})
        donors.update_profile(runtime.db, runtime.clock, ids[name], donors.ProfileChanges(payout=d))
    fraud.scan(runtime, full=True)
    names = {v: k for k, v in ids.items()}
    flagged: dict[str, set[str]] = {}
    heavy: dict[str, Any] = {}
    with runtime.db.read() as s:
        for f in s.scalars(select(FraudFlag)):
            flagged.setdefault(names[f.donor_id], set()).add(f.rule)
            if names[f.donor_id] == HEAVY:
                strongest = s.scalars(
                    select(FraudEvidence)
                    .where(FraudEvidence.flag_id == f.id)
                    .order_by(FraudEvidence.score.desc())
                    .limit(1)
                ).one()
                heavy[f.rule] = {
                    "severity": f.severity,
                    "score": round(f.score, 2),
                    "summary": f.summary,
                    "strongest_evidence": strongest.details,
                }
        held = {names[d] for d in s.scalars(select(Donor.id).where(Donor.on_hold.is_(True)))}
    runtime.close()
    honest = ("donor-", "steady-")
    return {
        "planted": len(PLANTED),
        "planted_found": sum(1 for n, rule in PLANTED.items() if rule in flagged.get(n, set())),
        "planted_missed": sorted(
            n for n, rule in PLANTED.items() if rule not in flagged.get(n, set())
        ),
        "honest_donors": ORDINARY + KEEN,
        "honest_flagged": {
            "ordinary": sum(1 for n in flagged if n.startswith("donor-")),
            "keen": sum(1 for n in flagged if n.startswith("steady-")),
        },
        "honest_flagged_by_rule": {
            rule: sum(1 for n, rules in flagged.items() if n.startswith(honest) and rule in rules)
            for rule in sorted(
                {r for n, rules in flagged.items() if n.startswith(honest) for r in rules}
            )
        },
        "honest_held": sum(1 for n in held if n.startswith(honest)),
        "heavy_donor": {"held": HEAVY in held, "flags": heavy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--output", default="fraud_detection", help="the results file's name")
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "commit": commit(),
        "days": DAYS,
        "seed": SEED,
        "population": {
            "ordinary": ORDINARY,
            "keen": KEEN,
            "keen_clips": list(KEEN_CLIPS),
            "heavy_per_day": HEAVY_PER_DAY,
            "heavy_cameras": HEAVY_CAMERAS,
        },
    }
    for backend in args.backend or ["sqlite", "postgres"]:
        with fresh_database(backend) as url, tempfile.TemporaryDirectory() as instance:
            figures[backend] = measure(url, Path(instance))
            print(backend, figures[backend], flush=True)
    report(args.output, figures)


if __name__ == "__main__":
    main()
