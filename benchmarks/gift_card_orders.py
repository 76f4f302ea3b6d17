"""Gift-card redemptions per second through the provider path (Tremendous, against the
local server of tests/support/tremendous_server.py) beside the inventory path (codes
uploaded in advance), in the same run, on PostgreSQL, through the HTTP API (gunicorn).

A provider redemption is two transactions and an HTTP call between them (record
``ordering`` and take the points; ``POST /orders`` with the redemption id as external
id; record the answer: ``delivered``); an inventory redemption is one transaction that
takes a code. The local server answers at once, so the ratio is the engine's own cost
of the provider path, not Tremendous's latency (add that per redemption in production:
the call is made in the donor's request).

    python -m benchmarks.gift_card_orders [--seconds 15] [--clients 16] [--workers 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, report, served, settings_for
from benchmarks.redemptions import prepare_donors, run
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.config import TremendousSettings
from rewards_engine.domain.actors import Actor
from rewards_engine.models import RewardItem
from rewards_engine.runtime import Runtime
from rewards_engine.services import gift_card_products, rewards

PROVIDER_CARD = "bench-tremendous-10-usd"
INVENTORY_CARD = "bench-inventory-10-usd"
CODES = 40_000  # more than the inventory path redeems in a run on this machine
API_KEY = "TEST_tremendous-key"
FUNDING = "FS-BALANCE"


def _serve_tremendous(port: int) -> None:
    """The local Tremendous server in a process of its own (its threads would otherwise
    share the benchmark clients' interpreter lock)."""
    import logging

    from werkzeug.serving import make_server

    from tests.support.tremendous_server import FakeTremendous

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line a request otherwise

    fake = FakeTremendous(api_key=API_KEY, funding_source_id=FUNDING, balance=1e12)
    make_server("127.0.0.1", port, fake, threaded=True).serve_forever()


def _wait_for(url: str) -> None:
    import requests

    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def prepare_cards(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        for item_id, provider in ((PROVIDER_CARD, "tremendous"), (INVENTORY_CARD, "inventory")):
            uow.session.add(
                RewardItem(
                    id=item_id,
                    kind="gift_card",
                    name=f"Bench card ({provider})",
                    point_cost=10,
                    brand="Amazon",
                    denomination_cents=1000,
                    currency="USD",
                    sku="AMZN-US" if provider == "tremendous" else None,
                    provider=provider,
                    created_at=now,
                    updated_at=now,
                )
            )
    rewards.import_codes(
        runtime.db,
        runtime.clock,
        Actor.system("bench"),
        runtime.vault,
        INVENTORY_CARD,
        (f"BENCH-{n:08d}-CODE" for n in range(CODES)),
    )
    synced = gift_card_products.sync_from_provider(runtime)
    assert synced.get("listed"), synced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tremendous-port", type=int, default=8793)
    args = parser.parse_args()
    base_tremendous = f"http://127.0.0.1:{args.tremendous_port}/api/v2"
    fake = multiprocessing.get_context("spawn").Process(
        target=_serve_tremendous, args=(args.tremendous_port,), daemon=True
    )
    fake.start()
    try:
        _wait_for(f"{base_tremendous}/products")
        tremendous = TremendousSettings(
            api_key=API_KEY, base_url=base_tremendous, funding_source_id=FUNDING, timeout_s=10
        )
        # The served API reads its configuration from the environment (server_env).
        os.environ.update(
            TREMENDOUS_API_KEY=API_KEY,
            TREMENDOUS_BASE_URL=base_tremendous,
            TREMENDOUS_FUNDING_SOURCE_ID=FUNDING,
            TREMENDOUS_TIMEOUT_S="10",
        )
        with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
            settings = settings_for(url, "redis://127.0.0.1:6379/0", Path(instance))
            settings = replace(settings, tremendous=tremendous).with_encryption_key()
            runtime = build_runtime(settings.with_hashing_secrets(), clock=SystemClock())
            prepare_cards(runtime)
            tokens = prepare_donors(runtime, args.clients)
            body: dict[str, Any] = {"country": "US"}
            with served(runtime.settings, 8792, args.workers) as base:
                run(base, tokens, [INVENTORY_CARD], 2, body)  # warm-up, both paths
                run(base, tokens, [PROVIDER_CARD], 2, body)
                inventory = run(base, tokens, [INVENTORY_CARD], args.seconds, body)
                provider = run(base, tokens, [PROVIDER_CARD], args.seconds, body)
            delivered = _delivered(runtime)
            runtime.close()
    finally:
        fake.terminate()
        fake.join(10)
    report(
        "gift_card_orders",
        {
            "database": "postgres",
            "clients": args.clients,
            "gunicorn_workers": args.workers,
            "load_average_1m": round(os.getloadavg()[0], 1),
            "inventory_path": inventory,
            "provider_path": provider,
            "provider_to_inventory": round(
                provider["redemptions_per_s"] / max(inventory["redemptions_per_s"], 1), 2
            ),
            # All provider redemptions of the run (warm-up included) and those delivered.
            "provider_redemptions": delivered[0],
            "provider_delivered": delivered[1],
        },
        save=args.seconds >= 15,
    )


def _delivered(runtime: Runtime) -> tuple[int, int]:
    """Provider redemptions, and those that ended delivered (each ordered once and
    answered at once: every one should be)."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from rewards_engine.models import Redemption

    with runtime.db.read() as session:
        rows = session.execute(
            select(col(Redemption.status), func.count())
            .where(col(Redemption.item_id) == PROVIDER_CARD)
            .group_by(col(Redemption.status))
        ).all()
    counts = {str(status): int(n) for status, n in rows}
    return sum(counts.values()), counts.get("delivered", 0)


if __name__ == "__main__":
    main()
