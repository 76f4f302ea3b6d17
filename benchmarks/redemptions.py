"""Redemptions per second on PostgreSQL: 16 concurrent clients on one hot item, then
the same clients spread over 100 items, through the HTTP API (gunicorn).

    python -m benchmarks.redemptions [--seconds 15]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import fresh_database, report, served, settings_for
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.roles import Role
from rewards_engine.models import RewardItem
from rewards_engine.runtime import Runtime
from rewards_engine.services import donors, support
from rewards_engine.tokens import issue_token

CLIENTS = 16
ITEMS = 100
ADDRESS = {
    "name": "Bench",
    "line1": "1 Main St",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}


def prepare(runtime: Runtime) -> list[str]:
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        for n in range(ITEMS):
            uow.session.add(
                RewardItem(
                    id=f"bench-camera-{n:03d}",
                    kind="camera",
                    name=f"Bench camera {n}",
                    point_cost=10,
                    model="B",
                    sku=f"B-{n}",
                    stock=1_000_000,
                    shipping_countries=["US"],
                    created_at=now,
                    updated_at=now,
                )
            )
    return prepare_donors(runtime, CLIENTS)


def prepare_donors(runtime: Runtime, clients: int) -> list[str]:
    """``clients`` donors with points enough for any run, and a token each."""
    tokens = []
    for n in range(clients):
        account = f"bench-donor-{n}"
        donor = donors.ensure_donor(runtime.db, runtime.clock, account)
        support.adjust(
            runtime.db,
            runtime.clock,
            Actor.system("bench"),
            donor.id,
            asset="points",
            amount=50_000_000,
            reason="benchmark funds",
        )
        tokens.append(
            issue_token(
                runtime.settings, account, Role.DONOR, timedelta(hours=1), datetime.now(UTC)
            )
        )
    return tokens


def run(
    base: str,
    tokens: list[str],
    items: list[str],
    seconds: float,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Each token's client redeems ``items`` (at random) for ``seconds``; ``body`` is the
    rest of each request (cameras: their shipping address)."""
    rest = {"shipping_address": ADDRESS} if body is None else body
    done = [0] * len(tokens)
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        rng = random.Random(index)
        while time.monotonic() < stop:
            item = rng.choice(items)
            response = session.post(
                f"{base}/v1/redemptions",
                headers=headers,
                timeout=60,
                json={"reward_id": item, **rest},
            )
            if response.status_code == 201:
                done[index] += 1
            else:
                failures.append(f"{response.status_code} {response.text[:120]}")

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "redemptions": sum(done),
        "seconds": round(elapsed, 2),
        "redemptions_per_s": round(sum(done) / elapsed, 1),
        "errors": len(failures),
        "first_errors": failures[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(
            settings_for(url, "redis://127.0.0.1:6379/0", Path(instance)), clock=SystemClock()
        )
        tokens = prepare(runtime)
        items = [f"bench-camera-{n:03d}" for n in range(ITEMS)]
        with served(runtime.settings, 8792, args.workers) as base:
            run(base, tokens, items[:1], 2)  # warm-up
            hot = run(base, tokens, items[:1], args.seconds)
            spread = run(base, tokens, items, args.seconds)
        runtime.close()
    report(
        "redemptions",
        {
            "clients": CLIENTS,
            "gunicorn_workers": args.workers,
            "one_hot_item": hot,
            "spread_over_100_items": spread,
            "spread_to_hot": round(
                spread["redemptions_per_s"] / max(hot["redemptions_per_s"], 1), 2
            ),
        },
        save=args.seconds >= 15,
    )


if __name__ == "__main__":
    main()
