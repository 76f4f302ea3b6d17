"""Faults under load, each checked for nothing lost and nothing done twice: Redis
stopped and restarted during submissions, PostgreSQL restarted during submissions,
the scheduler killed (SIGKILL) during a payout batch and during a wall rebuild.
(Two schedulers started at once: tests/integration/test_scheduler.py.)"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.config import Settings
from rewards_engine.jobs import find_job
from rewards_engine.models import Clip, PayoutBatch, PayoutItem
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import JobBusy, run_job
from rewards_engine.services import ledger, support, wall
from tests.conftest import DEFAULT_NOW, app_for, make_token
from tests.support.console import SEEDER
from tests.support.factories import BOUNTY, body, clip, consenting_donor, load_program
from tests.support.fake_providers import FakePayPal
from tests.support.population import PlannedClip, Population
from tests.support.processes import RedisProcess, serving
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
WALKERS = 25_000  # donors on the rebuilt board: a rebuild lasts long enough to be killed


class Load:
    """Donors submitting 1 to 5 clips per call from threads until stopped. A call that
    gets 503 is resent with the same Idempotency-Key, as the app does."""

    def __init__(self, app: Flask, settings: Settings, donors: list[str]) -> None:
        self.app, self.settings, self.donors = app, settings, donors
        self.statuses: Counter[int] = Counter()
        self.sent_clips = 0  # clips of calls that were finally accepted (201)
        self.accepted: Counter[str] = Counter()  # calls accepted (201), by donor
        self.during: list[tuple[str, int]] = []  # (donor, status) seen while the fault lasted
        self.fault = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(d,)) for d in donors]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, donor: str) -> None:
        client = self.app.test_client()
        headers = {"Authorization": f"Bearer {make_token(self.settings, donor, 'donor', 600)}"}
        n = 0
        while not self._stop.is_set():
            n += 1
            clips = [clip() for _ in range(1 + n % 5)]
            key = {"Idempotency-Key": uuid.uuid4().hex}
            while True:
                status = client.post(
                    "/v1/submissions", json=body(BOUNTY, clips), headers={**headers, **key}
                ).status_code
                with self._lock:
                    self.statuses[status] += 1
                    if self.fault.is_set():
                        self.during.append((donor, status))
                if status != 503:
                    break
                time.sleep(0.1)  # fixed sleep: the client's pause before it resends
            if status == 201:
                with self._lock:
                    self.sent_clips += len(clips)
                    self.accepted[donor] += 1
            time.sleep(0.01)  # fixed sleep: the load's pace, 10 ms between a donor's calls

    def each_accepted(self, since: Counter[str] | None = None, calls: int = 2) -> bool:
        """Whether every donor has had ``calls`` more calls accepted than ``since``."""
        since = since or Counter()
        with self._lock:
            return all(self.accepted[d] >= since[d] + calls for d in self.donors)

    def each_during(self, calls: int = 2) -> bool:
        """Whether every donor has had ``calls`` calls answered while the fault lasted."""
        with self._lock:
            seen = Counter(donor for donor, _ in self.during)
        return all(seen[d] >= calls for d in self.donors)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.accepted)


def accepted_clips(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return session.scalar(select(func.count(Clip.id)).where(Clip.status == "accepted"))


# --- Redis ---------------------------------------------------------------------------------


def test_redis_stopped_and_restarted_during_submissions(settings, tmp_path) -> None:
    server = RedisProcess(tmp_path / "redis").start()
    runtime = build_runtime(replace(settings, redis_url=server.url), clock=FixedClock(DEFAULT_NOW))
    try:
        load_program(runtime)
        names = [f"donor-{n}" for n in range(4)]
        for name in names:
            consenting_donor(runtime, name)
        with Load(app_for(runtime), runtime.settings, names) as load:
            wait_until(load.each_accepted, timeout=60, what="every donor's first calls")
            load.fault.set()
            server.stop()  # Redis gone: no data kept (no persistence)
            # The second of them sent and answered entirely while Redis was down:
            wait_until(load.each_during, timeout=60, what="every donor's calls without Redis")
            server.start()
            load.fault.clear()
            back = load.snapshot()
            wait_until(
                lambda: load.each_accepted(since=back),
                timeout=60,
                what="every donor's calls once Redis is back",
            )
        assert set(load.statuses) == {201}, load.statuses  # every call accepted
        assert len(load.during) >= 4  # and some of them while Redis was down
        assert accepted_clips(runtime) == load.sent_clips  # nothing lost, nothing twice

        run_job(runtime, find_job("wall-drain"))  # the wall catches up from the database
        client = app_for(runtime).test_client()
        for name in names:
            headers = {"Authorization": f"Bearer {make_token(runtime.settings, name, 'donor')}"}
            standing = client.get("/v1/honor-wall/me?board=all-time", headers=headers).get_json()
            donor_id = client.get("/v1/me", headers=headers).get_json()["id"]
            with runtime.db.read() as session:
                mine = session.scalar(
                    select(func.count(Clip.id)).where(
                        Clip.donor_id == donor_id, Clip.status == "accepted"
                    )
                )
            assert standing["clips"] == mine
    finally:
        runtime.close()
        server.stop()


# --- PostgreSQL ----------------------------------------------------------------------------


def _local_cluster() -> list[str] | None:
    """``pg_ctlcluster VERSION main`` when the tests run on this machine's PostgreSQL."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if "127.0.0.1:5432" not in url or not shutil.which("pg_ctlcluster") or not versions:
        return None
    return ["pg_ctlcluster", versions[-1], "main"]


@pytest.mark.postgres_only
@pytest.mark.exclusive  # every other test's connections would break with the restart
def test_a_postgresql_restart_fails_requests_cleanly_and_the_app_recovers(
    app, runtime, settings
) -> None:
    cluster = _local_cluster()
    if cluster is None:
        pytest.skip("needs the local PostgreSQL cluster at 127.0.0.1:5432 (pg_ctlcluster)")
    load_program(runtime)
    names = [f"donor-{n}" for n in range(4)]
    for name in names:
        consenting_donor(runtime, name)
    with Load(app, settings, names) as load:
        wait_until(load.each_accepted, timeout=60, what="every donor's first calls")
        load.fault.set()
        subprocess.run([*cluster, "restart", "-m", "fast"], check=True, timeout=60)
        restarted = load.snapshot()
        wait_until(  # the same app serves every donor again, without a restart of its own
            lambda: load.each_accepted(since=restarted),
            timeout=60,
            what="every donor's calls accepted again after the restart",
        )
        load.fault.clear()
    assert set(load.statuses) <= {201, 503}, load.statuses  # an outage is a 503, never a 500
    assert load.statuses[201] > 0
    assert accepted_clips(runtime) == load.sent_clips  # the resent calls applied once
    client = app.test_client()  # the same app, not restarted, serves again
    assert client.get("/readyz").status_code == 200
    headers = {"Authorization": f"Bearer {make_token(settings, names[0], 'donor')}"}
    assert (
        client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers=headers).status_code
        == 201
    )


# --- the scheduler killed mid-job ------------------------------------------------------------


@pytest.fixture
def job_env(cli_env: Settings) -> dict[str, str]:
    """The environment of a ``rewards-engine`` process of this test (short job leases)."""
    return {**os.environ, "JOB_LEASE_S": "2", "LOG_LEVEL": "WARNING"}


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_when_free(runtime: Runtime, job: str) -> dict[str, int]:
    """Run a job once the killed process's lease on it has run out."""

    def ran() -> tuple[dict[str, int]] | None:  # a tuple: true even when the result is {}
        try:
            return (run_job(runtime, find_job(job)),)  # type: ignore[arg-type]
        except JobBusy:
            return None

    return wait_until(
        ran, timeout=30, every=0.2, what=f"the killed process's lease on {job} to run out"
    )[0]


@pytest.fixture
def paypal() -> Iterator[FakePayPal]:
    fake = FakePayPal()
    with serving(fake) as url:
        fake.url = url
        yield fake


def test_the_scheduler_killed_during_a_payout_batch(job_env, settings, paypal) -> None:
    env = {
        **job_env,
        "PAYPAL_CLIENT_ID": paypal.client_id,
        "PAYPAL_CLIENT_SECRET": paypal.client_secret,
        "PAYPAL_ENDPOINT": paypal.url,
        "PAYOUT_TIMEOUT_S": "60",
        "PAYOUT_COOLING_OFF_HOURS": "0",
    }
    live = replace(  # the real clock, as the spawned process has
        settings,
        payout_cooling_off_hours=0,
        job_lease_s=2.0,
        paypal=paypal.client_settings(timeout_s=5.0, webhook_id=None),
    )
    runtime = build_runtime(live)
    try:
        load_program(runtime)
        app = app_for(runtime).test_client()
        for n in range(3):
            name = f"payee-{n}"
            consenting_donor(runtime, name)
            headers = {"Authorization": f"Bearer {make_token(live, name, 'donor')}"}
            payout = {"kind": "paypal_email", "value": f"{name}@example.com"}
            assert app.patch("/v1/me", json={"payout": payout}, headers=headers).status_code == 200
            donor_id = app.get("/v1/me", headers=headers).get_json()["id"]
            support.adjust(
                runtime.db, runtime.clock, SEEDER, donor_id,
                asset="cash", currency="USD", amount=2_500 + n, reason="earned",
            )  # fmt: skip
        paypal.hang_next, paypal.hang_s = 1, 30.0  # PayPal stores the batch, answers late
        job = spawn(env, "jobs", "run", "payout-batch")
        wait_until(
            lambda: len(paypal.batches) == 1,
            timeout=30,
            every=0.01,
            what="PayPal to store the batch",
        )
        job.kill()  # SIGKILL while the call is in flight: its answer is never stored
        job.wait(10)
        assert job.returncode == -9
        with runtime.db.read() as session:
            [batch] = session.scalars(select(PayoutBatch)).all()
        assert batch.status == "submitting" and batch.sender  # the dead process's claim

        def claim_ran_out() -> bool:  # nobody else sends it until the lease runs out
            with runtime.db.read() as session:
                until = session.scalar(select(PayoutBatch.sender_lease_until))
            return until is None or until < runtime.clock.now()

        wait_until(claim_ran_out, timeout=30, every=0.1, what="the dead sender's claim to run out")
        run_when_free(runtime, "payout-batch")  # the rerun resends the same batch id:
        run_when_free(runtime, "payout-reconcile")
        receivers = Counter(
            item["payout_item"]["receiver"]
            for sent in paypal.batches.values()
            for item in sent["items"]
        )
        assert len(paypal.batches) == 1  # PayPal answered the resend "already exists"...
        assert dict(receivers) == {f"payee-{n}@example.com": 1 for n in range(3)}  # paid once
        with runtime.db.read() as session:
            statuses = set(session.scalars(select(PayoutItem.status)))
        assert statuses == {"succeeded"}
        assert ledger.verify(runtime.db).ok
    finally:
        runtime.close()


def test_the_scheduler_killed_during_a_wall_rebuild(job_env, runtime, settings) -> None:
    load_program(runtime)
    start = datetime(2025, 1, 10, tzinfo=UTC)
    population = Population(random.Random(7))
    for n in range(WALKERS):
        moment = start + timedelta(minutes=n % 5_000)
        population.add(PlannedClip(f"walker-{n:05d}", f"CAM-W{n}", moment, moment))
    population.insert(runtime, BOUNTY)
    wall.rebuild(runtime, "all-time")
    keys = wall.hall(runtime).keys("all-time")
    redis = runtime.redis
    before = redis.zcard(keys.listed)
    assert before == WALKERS
    sample = redis.zrange(keys.listed, 0, 4, withscores=True)
    drifted = sample[0][0]
    redis.zadd(keys.listed, {drifted: 1.0})  # a drifted score the rebuild must correct

    job = spawn(job_env, "wall", "rebuild", "--board", "all-time")
    wait_until(
        lambda: redis.exists(keys.temp_listed) or job.poll() is not None,
        timeout=60,
        every=0.01,
        what="the rebuild to start writing its temporary board",
    )
    job.kill()
    job.wait(10)
    assert job.returncode == -9, job.stderr.read() if job.stderr else ""  # killed mid-rebuild
    assert redis.zcard(keys.listed) == before  # readers still see the whole old board
    assert redis.zscore(keys.listed, drifted) == 1.0

    wall.rebuild(runtime, "all-time")  # the rerun: correct, and no temporary keys left
    assert redis.zcard(keys.listed) == before
    assert redis.zscore(keys.listed, drifted) == sample[0][1]
    assert not redis.exists(keys.temp_listed, keys.temp_shadow, keys.temp_versions)
