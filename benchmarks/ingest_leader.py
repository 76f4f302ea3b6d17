"""Ingest the real program leader's volume: 201,531 clips from one donor, 500 a call.

Three paths, each into a fresh database of the same schema, in one run:

- ``raw``: SQLAlchemy Core bulk inserts of the same clip rows into the clips table,
  500 rows a transaction (the floor any ingestion path pays);
- ``service``: ``submissions.submit`` called in-process (rules, caps, duplicate
  checks, ledger, idempotency), 500 clips a call;
- ``http``: ``POST /v1/submissions`` through gunicorn with several workers.

The campaign decides clips on their metadata (``requires_upload`` false,
``common.open_campaign``): this measures the decision path, not uploads.

    python -m benchmarks.ingest_leader --backend postgres --backend sqlite
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import insert

from benchmarks.common import fresh_database, open_campaign, report, served, settings_for
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.roles import Role
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.models import Clip, SubmissionBatch
from rewards_engine.runtime import Runtime
from rewards_engine.services import consents, donors, submissions
from rewards_engine.tokens import issue_token

LEADER_CLIPS = 201_531
CALL_SIZE = 500
CAMPAIGN = "leader-benchmark"
CAMERAS = 40
KINDS = ("package_theft", "car_door", "break_in", "vandalism", "loitering", "other")


def leader_clips(total: int, seed: str) -> Iterator[list[ClipInput]]:
    """Deterministic clips over the past year, 40 cameras, a third of them staged."""
    start = datetime.now(UTC) - timedelta(days=365)
    batch: list[ClipInput] = []
    for n in range(total):
        batch.append(
            ClipInput(
                video_sha256=hashlib.sha256(f"{seed}:{n}".encode()).hexdigest(),
                event_id=f"ev-{n}",
                incident_type=KINDS[n % len(KINDS)],
                camera_id=f"LEADER-CAM-{n % CAMERAS:02d}",
                recorded_at=start + timedelta(seconds=n * 150),
                duration_s=20.0 + n % 40,
                staged=n % 3 == 0,
                perceptual_hash=(n * 2654435761) % (1 << 63),
            )
        )
        if len(batch) == CALL_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def prepare(runtime: Runtime) -> int:
    """Fixtures, an open campaign without caps (the leader is not capped), a consenting donor."""
    open_campaign(runtime, CAMPAIGN, "Leader benchmark", list(KINDS), days=400)
    donor = donors.ensure_donor(runtime.db, runtime.clock, "leader")
    consents.grant(runtime.db, runtime.clock, donor.id, "2024-12-01")
    return donor.id


def run_raw(runtime: Runtime, donor_id: int, total: int) -> dict[str, Any]:
    now = runtime.clock.now()
    with runtime.db.transaction() as uow:
        batch = SubmissionBatch(
            donor_id=donor_id,
            campaign_id=CAMPAIGN,
            consent_version="2024-12-01",
            clip_count=0,
            accepted=0,
            points=0,
            cash_cents=0,
            currency="USD",
            created_at=now,
        )
        uow.session.add(batch)
        uow.session.flush()
        batch_id = batch.id
    started = time.perf_counter()
    for chunk in leader_clips(total, secrets.token_hex(4)):
        rows = [
            {
                **clip.__dict__, "batch_id": batch_id, "donor_id": donor_id,
                "campaign_id": CAMPAIGN, "status": "accepted", "reason": None,
                "duplicate_of_id": None, "points": 10, "cash_cents": 5, "currency": "USD",
                "created_at": now, "vests_at": now,
            }
            for clip in chunk
        ]  # fmt: skip
        with runtime.db.transaction() as uow:
            uow.session.execute(insert(Clip.__table__), rows)
    seconds = time.perf_counter() - started
    return {"clips": total, "seconds": round(seconds, 2), "clips_per_s": round(total / seconds)}


def run_service(runtime: Runtime, donor_id: int, total: int) -> dict[str, Any]:
    actor = Actor(id="donor:leader", role="donor")
    started = time.perf_counter()
    accepted = 0
    for chunk in leader_clips(total, secrets.token_hex(4)):
        request = submissions.SubmissionRequest(CAMPAIGN, "2024-12-01", chunk)
        result = submissions.submit(runtime.db, runtime.clock, actor, donor_id, request)
        accepted += result.counts["accepted"]
    seconds = time.perf_counter() - started
    assert accepted == total, f"only {accepted} of {total} accepted"
    return {"clips": total, "seconds": round(seconds, 2), "clips_per_s": round(total / seconds)}


def run_http(runtime: Runtime, total: int, workers: int, clients: int) -> dict[str, Any]:
    settings = runtime.settings
    token = issue_token(settings, "leader", Role.DONOR, timedelta(hours=2), datetime.now(UTC))
    calls = list(leader_clips(total, secrets.token_hex(4)))
    payloads = [
        {
            "campaign_id": CAMPAIGN, "consent_version": "2024-12-01",
            "clips": [
                {**clip.__dict__, "recorded_at": clip.recorded_at.isoformat(),
                 "perceptual_hash": format(clip.perceptual_hash, "016x")}
                for clip in chunk
            ],
        }
        for chunk in calls
    ]  # fmt: skip
    accepted = [0]
    errors: list[str] = []
    lock = threading.Lock()
    with served(settings, port=8790, workers=workers) as base:
        queue = list(enumerate(payloads))
        started = time.perf_counter()

        def client() -> None:
            session = requests.Session()
            headers = {"Authorization": f"Bearer {token}"}
            while True:
                with lock:
                    if not queue:
                        return
                    index, payload = queue.pop(0)
                response = session.post(
                    f"{base}/v1/submissions",
                    json=payload,
                    timeout=120,
                    headers={**headers, "Idempotency-Key": f"leader-{index}"},
                )
                with lock:
                    if response.status_code != 201:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                    else:
                        accepted[0] += response.json()["counts"]["accepted"]

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    assert not errors, errors[:3]
    assert accepted[0] == total, f"only {accepted[0]} of {total} accepted"
    return {
        "clips": total,
        "seconds": round(seconds, 2),
        "clips_per_s": round(total / seconds),
        "gunicorn_workers": workers,
        "client_threads": clients,
    }


def run_backend(backend: str, total: int, workers: int, clients: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for mode in ("raw", "service", "http"):
        with fresh_database(backend) as url, tempfile.TemporaryDirectory() as instance:
            redis_url = "redis://127.0.0.1:6379/0" if backend == "postgres" else "embedded"
            runtime = build_runtime(
                settings_for(url, redis_url, Path(instance)), clock=SystemClock()
            )
            donor_id = prepare(runtime)
            print(f"{backend} {mode} ...", flush=True)
            if mode == "raw":
                results[mode] = run_raw(runtime, donor_id, total)
            elif mode == "service":
                results[mode] = run_service(runtime, donor_id, total)
            else:
                results[mode] = run_http(runtime, total, workers, clients)
            runtime.close()
            if redis_url == "embedded":
                from rewards_engine.redis_server import EmbeddedRedis

                EmbeddedRedis(Path(instance)).stop()
    raw = results["raw"]["clips_per_s"]
    results["service_to_raw"] = round(results["service"]["clips_per_s"] / raw, 3)
    results["http_to_raw"] = round(results["http"]["clips_per_s"] / raw, 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", action="append", choices=["postgres", "sqlite"])
    parser.add_argument("--clips", type=int, default=LEADER_CLIPS)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    figures = {
        backend: run_backend(backend, args.clips, args.workers, args.clients)
        for backend in args.backend or ["postgres", "sqlite"]
    }
    report(
        "ingest_leader", {"clips_per_call": CALL_SIZE, **figures}, save=args.clips == LEADER_CLIPS
    )


if __name__ == "__main__":
    main()
