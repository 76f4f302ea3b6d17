"""Payout batches at scale: 100,000 payees paid through PayPal in 7 batches.

The real ``paypalrestsdk`` talks to the local PayPal server of the tests, run in a
process of its own so that its work and memory are not counted. Measured, in a fresh
process that does only this: building and committing the batches (items, ledger
moves), submitting them, reconciling every item, and that process's peak memory.

    python -m benchmarks.payouts [--payees 100000] [--database postgres|sqlite]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, report, settings_for
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.config import PayPalSettings, Settings
from rewards_engine.db import allocate_ids
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import AccountKind, TransferKind, issue
from rewards_engine.models import Donor
from rewards_engine.runtime import Runtime
from rewards_engine.services import ledger, payouts

REDIS = "redis://127.0.0.1:6379/0"
KEY = "kCv6VvK0ZbS0pZ0tq7w5pGmEo3Y2m8c5xq1sF4u9H2E="  # benchmark only
CHUNK = 10_000


def seed(runtime: Runtime, payees: int) -> None:
    """Payees with a PayPal e-mail set long ago and $10 to $59 available."""
    vault = runtime.vault
    now = runtime.clock.now()
    long_ago = now - timedelta(days=30)
    actor = Actor.system("bench")
    for start in range(0, payees, CHUNK):
        count = min(CHUNK, payees - start)
        with runtime.db.transaction() as uow:
            ids = allocate_ids(uow.session, Donor.__table__, count)
            uow.session.execute(
                Donor.__table__.insert(),
                [
                    {
                        "id": donor_id,
                        "account_id": f"payee-{donor_id}",
                        "visibility": "hidden",
                        "status": "active",
                        "on_hold": False,
                        "wall_version": 0,
                        "payout_kind": "paypal_email",
                        "payout_destination": vault.encrypt(f"payee{donor_id}@example.com"),
                        "payout_masked": "p***@example.com",
                        "payout_changed_at": long_ago,
                        "created_at": long_ago,
                        "updated_at": long_ago,
                    }
                    for donor_id in ids
                ],
            )
            ledger.post_many(
                uow.session,
                now=long_ago,
                actor=actor,
                transfers=[
                    ledger.TransferSpec(
                        TransferKind.ADJUSTMENT,
                        ("donor", donor_id),
                        f"bench-cash:{donor_id}",
                        issue(
                            donor_id, AccountKind.CASH_AVAILABLE, "USD", 1_000 + donor_id % 50 * 100
                        ),
                        "bounties",
                    )
                    for donor_id in ids
                ],
            )


def serve_paypal(port_out: Any) -> None:
    import logging

    from tests.support.fake_providers import FakePayPal
    from tests.support.processes import serving

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    with serving(FakePayPal()) as url:
        port_out.put(url)
        while True:
            time.sleep(3600)


def measure(settings: Settings, out: Any) -> None:
    """The jobs, alone in a fresh process, so that its peak memory is theirs."""
    runtime = build_runtime(settings, clock=SystemClock())
    started_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        t0 = time.perf_counter()
        created = payouts.create_batches(runtime)
        t1 = time.perf_counter()
        sent = payouts.submit_pending(runtime)
        t2 = time.perf_counter()
        reconciled = payouts.reconcile(runtime)
        t3 = time.perf_counter()
        report_lines = payouts.reconciliation_report(runtime)
        verified = ledger.verify(runtime.db)
    finally:
        runtime.close()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    items = created.items
    out.put(
        {
            "batches": len(created.batches),
            "items": items,
            "total_usd": created.total_cents / 100,
            "build_and_commit_s": round(t1 - t0, 2),
            "build_items_per_s": round(items / (t1 - t0)),
            "submit_s": round(t2 - t1, 2),
            "submit_items_per_s": round(items / (t2 - t1)),
            "submitted_batches": sent.submitted,
            "reconcile_s": round(t3 - t2, 2),
            "reconcile_items_per_s": round(items / (t3 - t2)),
            "items_settled": reconciled.items_settled,
            "batches_with_differences": sum(1 for line in report_lines if line.differences),
            "ledger_verified": verified.ok,
            "rss_before_mib": round(started_rss / 1024),
            "peak_rss_mib": round(peak_rss / 1024),
        }
    )


def run(kind: str, payees: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    urls = context.Queue()
    provider = context.Process(target=serve_paypal, args=(urls,), daemon=True)
    provider.start()
    try:
        paypal_url = urls.get(timeout=30)
        with fresh_database(kind) as url, tempfile.TemporaryDirectory() as instance:
            settings = replace(
                settings_for(url, REDIS, Path(instance)),
                encryption_keys=(KEY,),
                paypal=PayPalSettings(
                    client_id="paypal-client",
                    client_secret="paypal-secret",
                    endpoint=paypal_url,
                    timeout_s=120,
                ),
            )
            runtime = build_runtime(settings, clock=SystemClock())
            started = time.perf_counter()
            seed(runtime, payees)
            seeded_s = time.perf_counter() - started
            runtime.close()
            results = context.Queue()
            worker = context.Process(target=measure, args=(settings, results))
            worker.start()
            figures = results.get(timeout=3600)
            worker.join()
            return {"database": kind, "payees": payees, "seed_s": round(seeded_s, 1), **figures}
    finally:
        provider.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payees", type=int, default=100_000)
    parser.add_argument("--database", choices=["postgres", "sqlite", "both"], default="both")
    args = parser.parse_args()
    kinds = ["postgres", "sqlite"] if args.database == "both" else [args.database]
    runs = [run(kind, args.payees) for kind in kinds]
    report("payouts", {"runs": runs}, save=args.payees >= 100_000)


if __name__ == "__main__":
    main()
