"""Redis: a private ``redis-server`` on a socket of its own, so that its CPU and
command counters are this benchmark's alone, and the meter that reads them."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this run's own on a socket, without persistence."""
    directory = Path(tempfile.mkdtemp(prefix="scale-redis-"))
    sock = directory / "redis.sock"
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", "0", "--unixsocket", str(sock),
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"unix://{sock}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


class RedisMeter:
    """The private server's CPU seconds and commands between two readings."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def reading(self) -> tuple[float, int]:
        cpu = self.client.info("cpu")
        stats = self.client.info("commandstats")
        calls = sum(int(v["calls"]) for v in stats.values())
        return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), calls

    @contextmanager
    def measure(self, out: dict[str, Any], operations: int) -> Iterator[None]:
        cpu0, calls0 = self.reading()
        yield
        cpu1, calls1 = self.reading()
        calls = calls1 - calls0 - 2  # the INFO calls of the reading itself
        out["redis_cpu_us_per_op"] = round((cpu1 - cpu0) * 1e6 / operations, 1)
        out["redis_commands_per_op"] = round(calls / operations, 2)
