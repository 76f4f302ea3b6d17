"""Several schedulers may run; one leader runs each job, once per tick."""

import threading
import time
from collections import Counter

import pytest

from rewards_engine.bootstrap import build_runtime
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import JobBusy, JobSpec, RedisLease, Scheduler, run_job
from tests.support.waiting import wait_until


@pytest.fixture
def ticks() -> Counter:
    return Counter()


def counting_job(ticks: Counter, lock: threading.Lock) -> JobSpec:
    def tick(runtime: Runtime) -> dict[str, int]:
        with lock:
            ticks[int(time.time())] += 1
        return {"ticked": 1}

    return JobSpec("tick", tick, {"trigger": "interval", "seconds": 1}, "counts ticks")


def test_two_schedulers_run_each_job_once_per_tick_and_fail_over(
    runtime: Runtime, settings, ticks: Counter
) -> None:
    lock = threading.Lock()
    spec = counting_job(ticks, lock)
    second_runtime = build_runtime(settings)  # another process would have its own runtime
    first = Scheduler(runtime, [spec], heartbeat_s=0.3, lease_ttl_s=1.5)
    second = Scheduler(second_runtime, [spec], heartbeat_s=0.3, lease_ttl_s=1.5)
    first.start()
    second.start()
    try:
        assert first.is_leader != second.is_leader  # exactly one leads
        wait_until(lambda: len(first.runs) + len(second.runs) >= 4, what="four runs of the job")
        leader, follower = (first, second) if first.is_leader else (second, first)
        assert follower.runs == []
        assert max(ticks.values()) == 1  # never two runs in one second

        leader.stop()  # the leader dies (its lease is released or expires)
        before = len(follower.runs)
        wait_until(
            lambda: follower.is_leader and len(follower.runs) >= before + 2,
            what="the follower to lead and run the job twice",
        )
    finally:
        first.stop()
        second.stop()
        second_runtime.close()


def test_a_job_runs_under_its_mutex(runtime: Runtime) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(_: Runtime) -> dict[str, int]:
        started.set()
        release.wait(5)
        return {"done": 1}

    spec = JobSpec("slow", slow, {"trigger": "interval", "seconds": 60}, "slow")
    worker = threading.Thread(target=run_job, args=(runtime, spec))
    worker.start()
    started.wait(5)
    with pytest.raises(JobBusy):
        run_job(runtime, spec)
    release.set()
    worker.join(5)
    assert run_job(runtime, spec) == {"done": 1}  # free again once the first run ended


def test_a_lease_is_held_by_one_owner_until_released(runtime: Runtime) -> None:
    key = runtime.key("sched", "test-lease")
    one = RedisLease(runtime.redis, key, ttl_s=5, owner="one")
    two = RedisLease(runtime.redis, key, ttl_s=5, owner="two")
    assert one.acquire()
    assert one.acquire()  # renewing
    assert not two.acquire()
    two.release()  # not the owner: no effect
    assert not two.acquire()
    one.release()
    assert two.acquire()


def test_a_running_job_keeps_its_short_lease_and_a_killed_one_frees_it_soon(
    runtime: Runtime,
) -> None:
    """The job's lease outlives its TTL while the job runs (it is renewed), and a run
    that died without releasing it (kill -9) blocks the job only until the TTL ends."""
    started, release = threading.Event(), threading.Event()

    def slow(_: Runtime) -> dict[str, int]:
        started.set()
        release.wait(5)
        return {"done": 1}

    spec = JobSpec("long", slow, {"trigger": "interval", "seconds": 60}, "long")
    worker = threading.Thread(target=run_job, args=(runtime, spec), kwargs={"lease_s": 0.6})
    worker.start()
    assert started.wait(5)
    time.sleep(1.5)  # fixed sleep: proves a non-event (2.5 TTLs on, the lease is still held)
    with pytest.raises(JobBusy):
        run_job(runtime, spec, lease_s=0.6)
    release.set()
    worker.join(5)

    key = runtime.key("sched", "job", "long")
    dead = RedisLease(runtime.redis, key, ttl_s=0.6, owner="killed-process")
    assert dead.acquire()  # taken, never released nor renewed: its process died
    with pytest.raises(JobBusy):
        run_job(runtime, spec, lease_s=0.6)
    wait_until(lambda: runtime.redis.get(key) is None, timeout=3, what="the dead lease to expire")
    assert run_job(runtime, spec, lease_s=0.6) == {"done": 1}
