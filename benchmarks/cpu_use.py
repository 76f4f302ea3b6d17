"""Where a load's CPU goes on this machine: the app, the database, Redis, the load itself.

A rate of requests a second is bounded by the CPU each request takes across every
process that serves it; on a machine with N cores, R requests a second leave N / R
seconds of CPU per request for all of them. This reads the CPU time (user + system) of
the processes of each role from /proc before and after a load and divides by the
requests served: the cost per request beside that budget, as milliseconds.

Roles, by process name: ``app`` (gunicorn and its workers, and the live event streams'
process ``serve`` starts beside them), ``scheduler`` (``api.cli scheduler``),
``database`` (every ``postgres`` process on the machine: empty on SQLite, whose work is
in the app's), ``redis`` (``redis-server``) and ``load`` (this process's finished
children: wrk). A process's time includes its children that ended (PostgreSQL's
autovacuum workers, Redis's save child): a role's time is its processes' total after,
less their total before. Measure on a quiet machine: any other process with these
names counts.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROLES = ("app", "scheduler", "database", "redis", "load")
_TICKS = os.sysconf("SC_CLK_TCK")


def _role(comm: str, command: str) -> str | None:
    if comm.startswith("postgres"):
        return "database"
    if comm.startswith("redis-server") or "redis-server" in command:
        return "redis"
    if "api.cli scheduler" in command:
        return "scheduler"
    if any(name in command for name in ("gunicorn", "api.cli serve", "api.cli streams")):
        return "app"
    return None


def _by_role() -> dict[str, float]:
    """CPU seconds so far of the live processes of each role, with their ended children."""
    seconds = dict.fromkeys(ROLES, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1]
        role = _role(comm, command)
        if role is not None:  # utime, stime, cutime, cstime: fields 14 to 17 of stat
            seconds[role] += sum(int(ticks) for ticks in fields.split()[11:15]) / _TICKS
    return seconds


def _children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """CPU seconds of each role spent in the block (filled when it ends). A process of a
    role that ended in the block without a parent of the same role is not counted: the
    served processes live through it."""
    before, children = _by_role(), _children()
    spent: dict[str, float] = {}
    yield spent
    after = _by_role()
    spent.update({role: after[role] - before[role] for role in ROLES})
    spent["load"] = _children() - children


def with_cpu(load: Callable[[], dict[str, float]], seconds: int) -> dict[str, Any]:
    """Run ``load`` (a wrk call of ``seconds``: its ``requests_per_s``) and add the CPU
    it took per request, by role and in all, in milliseconds, and the cores it kept
    busy."""
    started = time.monotonic()
    with measured() as spent:
        result = load()
    elapsed = time.monotonic() - started
    requests = result["requests_per_s"] * seconds
    total = sum(spent.values())
    per_request = {role: round(spent[role] / requests * 1000, 2) for role in ROLES}
    return {
        **result,
        "cpu_ms_per_request": per_request | {"total": round(total / requests * 1000, 2)},
        "cores_busy": round(total / elapsed, 2),
    }
