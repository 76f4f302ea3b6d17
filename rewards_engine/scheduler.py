"""The scheduler process: APScheduler runs the jobs, a Redis lease picks who runs them.

Several scheduler processes may run (one per node, or two by mistake). Each keeps a
heartbeat that tries to take or renew a leader lease in Redis; only the holder runs
jobs. Each job run also takes a per-job mutex, so that a run still going on a
former leader never overlaps a run on the new one. Jobs are idempotent anyway, so a
rare repeat after a failover does no harm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from apscheduler.schedulers.background import BackgroundScheduler

from rewards_engine.runtime import Runtime

log = logging.getLogger(__name__)

JobResult = Mapping[str, Any]
JobFunction = Callable[[Runtime], JobResult]

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: its name (also its CLI name), function and APScheduler trigger."""

    name: str
    func: JobFunction
    trigger: Mapping[str, Any]
    description: str


class RedisLease:
    """A lease in Redis that one owner holds at a time and must keep renewing."""

    def __init__(self, client: redis.Redis, key: str, ttl_s: float, owner: str | None = None):
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lease, or renew it if we already hold it."""
        return bool(self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.owner])


class JobBusy(RuntimeError):
    """Another process is running this job now."""


class _LeaseKeeper(threading.Thread):
    """Renews a job's lease while the job runs, so the lease can be short: a process
    killed mid-job (OOM, deploy, kill -9) blocks the next run for seconds, not hours."""

    def __init__(self, lease: RedisLease, every_s: float) -> None:
        super().__init__(name=f"lease:{lease.key}", daemon=True)
        self.lease, self.every_s = lease, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            try:
                if not self.lease.acquire():
                    log.warning("job lease lost", extra={"fields": {"key": self.lease.key}})
            except redis.RedisError as exc:
                log.warning("job lease not renewed", extra={"fields": {"error": str(exc)}})


def run_job(
    runtime: Runtime, spec: JobSpec, *, use_lock: bool = True, lease_s: float | None = None
) -> JobResult:
    """Run one job once, under its mutex, and log what it did with its counts.

    The mutex is a short lease (``JOB_LEASE_S``) renewed while the job runs: a process
    killed mid-job blocks the next run for seconds, not hours."""
    lease_s = lease_s or runtime.settings.job_lease_s
    lease = RedisLease(runtime.redis, runtime.key("sched", "job", spec.name), lease_s)
    if use_lock and not lease.acquire():
        raise JobBusy(f"job {spec.name} is already running elsewhere")
    keeper = _LeaseKeeper(lease, lease_s / 3)
    if use_lock:
        keeper.start()
    started = time.perf_counter()
    try:
        result = dict(spec.func(runtime))
    except Exception as exc:  # the caller reports it (the scheduler with its traceback)
        log.error("job failed", extra={"fields": {"job": spec.name, "error": type(exc).__name__}})
        raise
    finally:
        if use_lock:
            keeper.stopped.set()
            keeper.join()
            lease.release()
    seconds = round(time.perf_counter() - started, 3)
    # A run that found nothing to do (every count zero) is routine: DEBUG, so that an
    # idle scheduler is quiet at INFO; one that did something says what, with counts.
    did = any(value for value in result.values() if isinstance(value, int | float))
    log.log(
        logging.INFO if did else logging.DEBUG,
        "job finished",
        extra={"fields": {"job": spec.name, "seconds": seconds, **result}},
    )
    return result


@dataclass
class Scheduler:
    """One scheduler process: APScheduler plus the leader lease."""

    runtime: Runtime
    jobs: list[JobSpec]
    heartbeat_s: float = 5.0
    lease_ttl_s: float = 15.0
    is_leader: bool = False
    runs: list[str] = field(default_factory=list)  # names of jobs this process ran
    _lease: RedisLease | None = None
    _scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        self._lease = RedisLease(
            self.runtime.redis, self.runtime.key("sched", "leader"), self.lease_ttl_s
        )
        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        scheduler.add_job(self.heartbeat, "interval", seconds=self.heartbeat_s, id="_heartbeat")
        for spec in self.jobs:
            scheduler.add_job(
                self._run_if_leader, kwargs={"spec": spec}, id=spec.name, **spec.trigger
            )
        self.heartbeat()
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduler started",
            extra={"fields": {"jobs": len(self.jobs), "owner": self._lease.owner}},
        )

    def heartbeat(self) -> None:
        assert self._lease is not None
        try:
            leader = self._lease.acquire()
        except redis.RedisError as exc:
            leader = False
            log.warning("scheduler cannot reach redis", extra={"fields": {"error": str(exc)}})
        if leader != self.is_leader:
            log.info("scheduler leadership changed", extra={"fields": {"leader": leader}})
        self.is_leader = leader

    def _run_if_leader(self, spec: JobSpec) -> None:
        if not self.is_leader:
            return
        try:
            run_job(self.runtime, spec)
            self.runs.append(spec.name)
        except JobBusy:
            log.info("job skipped: still running elsewhere", extra={"fields": {"job": spec.name}})
        except Exception:  # the scheduler keeps going; on call gets the traceback
            log.exception("scheduled job raised", extra={"fields": {"job": spec.name}})

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self._lease is not None and self.is_leader:
            with contextlib.suppress(redis.RedisError):
                self._lease.release()
        self.is_leader = False

    def run_forever(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
