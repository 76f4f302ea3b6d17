"""Redis in trouble, with real redis-server processes: stopped (connections refused) or
hung (SIGSTOP: the kernel still accepts connections, nothing ever answers).

Every request spends at most its Redis time budget (``REDIS_BUDGET_MS``) and then
degrades as docs/resilience.md says: submissions are accepted and the wall catches up
from the outbox, rate limits fail open, wall reads answer 503 with ``Retry-After``,
``/readyz`` says Redis is down. The circuit breaker then skips Redis altogether until a
probe gets an answer. The bounds below are behavioural (seconds, not milliseconds);
measured figures are in docs/resilience.md (``python -m benchmarks.redis_hung``).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import FixedClock
from rewards_engine.config import RateLimits
from rewards_engine.jobs import find_job
from rewards_engine.models import WallOutbox
from rewards_engine.redis_client import CircuitBreaker
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import run_job
from rewards_engine.services import wall
from tests.conftest import DEFAULT_NOW, app_for, make_token
from tests.support.factories import BOUNTY, body, clip, consenting_donor, load_program
from tests.support.processes import RedisProcess
from tests.support.waiting import wait_until

GENEROUS_S = 5.0  # before the budget, each of these calls took 18 to 37 s
ERROR_KEYS = {"code", "status", "error", "message", "request_id"}


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisProcess]:  # type: ignore[no-untyped-def]
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture
def runtime_on(settings, redis_server) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    limits = RateLimits()  # the production limits: every request counts in Redis
    runtime = build_runtime(
        replace(settings, redis_url=redis_server.url, rate_limits=limits, redis_budget_ms=300),
        clock=FixedClock(DEFAULT_NOW),
    )
    load_program(runtime)
    consenting_donor(runtime, "ada")
    yield runtime
    runtime.close()


class ManualTicks:
    """A monotonic clock (seconds) for the circuit breaker that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def not_from_the_page_cache(runtime: Runtime, board: str, limit: int) -> None:
    """Wait until the first page of ``board`` with ``limit`` is not in this process's page
    cache (kept ``PAGE_CACHE_S``, 1 s): its next read asks Redis. (A page the test has not
    read yet never is.)"""

    def not_cached() -> bool:
        entry = wall.page_cache(runtime).get((board, 0, limit))
        return entry is None or entry[0] <= time.monotonic()

    wait_until(not_cached, timeout=5, what=f"the cached page {board}?limit={limit} to expire")


def hang(server: RedisProcess) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


def resume(server: RedisProcess) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGCONT)


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def pending_outbox(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return session.scalar(
            select(func.count(WallOutbox.id)).where(WallOutbox.applied_at.is_(None))
        )


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) >= 1
    error = response.get_json()
    assert set(error) >= ERROR_KEYS
    assert error["code"] == 503 and error["error"] == "wall_unavailable"


def test_wall_reads_answer_503_with_retry_after_when_redis_is_refused(
    runtime_on, redis_server
) -> None:
    client = app_for(runtime_on).test_client()
    headers = {"Authorization": f"Bearer {make_token(runtime_on.settings, 'ada', 'donor')}"}
    assert client.get("/v1/honor-wall?board=all-time", headers=headers).status_code == 200
    assert client.get("/v1/honor-wall/me?board=all-time", headers=headers).status_code == 200
    redis_server.stop()
    not_from_the_page_cache(runtime_on, "all-time", limit=7)  # the next page read asks Redis
    assert_unavailable(client.get("/v1/honor-wall?board=all-time&limit=7"))
    assert_unavailable(client.get("/v1/honor-wall/me?board=all-time", headers=headers))
    redis_server.start()  # same port, empty: refusals never opened the breaker
    assert client.get("/v1/honor-wall/me?board=all-time", headers=headers).status_code == 200


def test_a_hung_redis_costs_each_request_its_budget_then_nothing(runtime_on, redis_server) -> None:
    client = app_for(runtime_on).test_client()
    donor = {"Authorization": f"Bearer {make_token(runtime_on.settings, 'ada', 'donor')}"}
    refused = {"Authorization": "Bearer not-a-token"}

    def submit() -> Any:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        return client.post("/v1/submissions", json=body(BOUNTY, [clip()]), headers={**donor, **key})

    assert submit().status_code == 201
    assert client.get("/readyz").status_code == 200
    run_job(runtime_on, find_job("wall-drain"))  # marks the row its drain listed applied
    assert pending_outbox(runtime_on) == 0
    hang(redis_server)
    try:
        calls = {
            "submission": (submit, 201),
            "me": (lambda: client.get("/v1/me", headers=donor), 200),
            "refused token": (lambda: client.get("/v1/me", headers=refused), 401),
            "readyz": (lambda: client.get("/readyz"), 503),
            "wall page": (lambda: client.get("/v1/honor-wall?board=all-time&limit=3"), 503),
            "wall me": (lambda: client.get("/v1/honor-wall/me", headers=donor), 503),
        }
        for _ in range(2):  # first while the breaker counts timeouts, then while it is open
            for name, (call, status) in calls.items():
                response, took = timed(call)
                assert response.status_code == status, (name, response.get_data(as_text=True))
                assert took < GENEROUS_S, (name, took)
        assert runtime_on.redis_breaker.state == "open"
        readyz = client.get("/readyz").get_json()  # the probe still asks Redis
        assert readyz["checks"]["redis"].startswith("unavailable")
        assert pending_outbox(runtime_on) == 2  # both hung submissions wait for the drain
    finally:
        resume(redis_server)
    assert client.get("/readyz").status_code == 200  # up as soon as Redis answers
    run_job(runtime_on, find_job("wall-drain"))  # a job: no budget, no breaker
    assert pending_outbox(runtime_on) == 0
    standing = client.get("/v1/honor-wall/me?board=all-time", headers=donor)
    assert standing.status_code == 200 and standing.get_json()["clips"] == 3


def test_the_breaker_lets_one_probe_through_after_its_pause(runtime_on, redis_server) -> None:
    runtime = build_runtime(runtime_on.settings, clock=runtime_on.clock)
    # The breaker takes its clock: its pause passes when the test moves it, not by sleeping.
    ticks = ManualTicks()
    settings = runtime.settings
    runtime.redis_breaker = CircuitBreaker(  # before runtime.redis is first used
        settings.redis_breaker_failures, settings.redis_breaker_open_s, clock=ticks
    )
    client = app_for(runtime).test_client()
    try:
        hang(redis_server)
        try:
            for limit in range(1, 10):  # a new page each time: not from the page cache
                page = f"/v1/honor-wall?limit={limit}"
                response, took = timed(lambda page=page: client.get(page))
                assert response.status_code == 503 and took < GENEROUS_S
                if runtime.redis_breaker.state != "closed":
                    break
        finally:
            resume(redis_server)
        assert runtime.redis_breaker.state == "open"
        response = client.get("/v1/honor-wall?board=all-time&limit=9")  # skipped: 503 at once
        assert response.status_code == 503
        ticks.now += settings.redis_breaker_open_s - 0.01
        assert runtime.redis_breaker.state == "open"  # the whole pause
        ticks.now += 0.02
        assert runtime.redis_breaker.state == "half-open"
        response = client.get("/v1/honor-wall?board=all-time&limit=9")  # the probe: answered
        assert response.status_code == 200
        assert runtime.redis_breaker.state == "closed"
    finally:
        runtime.close()


def test_wall_reads_answer_503_when_redis_answers_with_an_error(runtime_on) -> None:
    """A Redis that answers with an error (here WRONGTYPE; BUSY, OOM or READONLY after a
    failover alike) rather than not at all: still 503, never 500."""
    from rewards_engine.services.wall import hall

    client = app_for(runtime_on).test_client()
    assert client.get("/v1/honor-wall?board=all-time").status_code == 200
    keys = hall(runtime_on).keys("all-time")
    runtime_on.redis.delete(keys.listed, keys.shadow)
    runtime_on.redis.set(keys.listed, "not a sorted set")
    runtime_on.redis.set(keys.shadow, "not a sorted set")
    not_from_the_page_cache(runtime_on, "all-time", limit=9)
    assert_unavailable(client.get("/v1/honor-wall?board=all-time&limit=9"))
