"""1,000 open live event streams beside the mobile traffic mix: what do they cost the
ordinary requests?

``rewards-engine serve`` (gunicorn, 4 workers, the scheduler beside it, and the stream
process it starts on PORT + 1) on PostgreSQL and the Redis server, 1,000 donors as in
``load_mix``. The mix of ``load_mix`` (70 % wall and profile reads, 20 % submissions,
10 % ledger, medals and redemptions) runs through ``wrk`` three times at the same
number of connections, after a warm-up run: without streams, with 1,000 SSE streams
open (one per donor, an asyncio client in this process), and without again. Reported:
requests per second, p50 and p99 of each run, the ratio with / without (against the
mean of the two runs without), the stream process's resident memory idle and with the
streams, the events the streams received (standing changes as the mix's submissions
move the board, heartbeats), and the load average before each run. Everything shares
the 2 cores.

    python -m benchmarks.event_streams                 # 1,000 streams, 20 s a run
    python -m benchmarks.event_streams --streams 100 --seconds 5   # a trial: prints only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import fresh_database, report, served, settings_for, wrk
from benchmarks.load_mix import CAMERAS, CAMPAIGN, CONSENT, DONORS, KINDS, LUA, prepare
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock

PORT = 8795
STREAMS = 1_000
CONNECTIONS = 4  # wrk's connections: past the mix's knee (docs/performance.md, load_mix)


def lua_for(tokens: list[str]) -> str:
    def table(values: list[str]) -> str:
        return json.dumps(values).replace("[", "{").replace("]", "}")

    recorded = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return (
        LUA.replace("{TOKENS}", table(tokens))
        .replace("{RECORDED}", recorded)
        .replace("{CAMPAIGN}", CAMPAIGN)
        .replace("{CONSENT}", CONSENT)
        .replace("{KINDS}", table(KINDS))
        .replace("{CAMERAS}", str(CAMERAS))
    )


def stream_process_pid(port: int) -> int | None:
    """The pid of the ``rewards-engine streams`` process listening on ``port``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streams" in command and str(port).encode() in command:
            return int(entry.name)
    return None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Streams:
    """``count`` SSE streams held open by an asyncio client in a thread of its own."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        self.url = url
        self.tokens = tokens
        self.opened = 0
        self.refused: dict[int, int] = {}
        self.events: dict[str, int] = {"notification": 0, "standing": 0, "heartbeat": 0}
        self.dropped = 0
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))

    def start(self, timeout: float = 120) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while self.opened + sum(self.refused.values()) < len(self.tokens):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.opened} of {len(self.tokens)} streams opened")
            time.sleep(0.2)

    def stop(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tasks = []
            for token in self.tokens:
                tasks.append(asyncio.create_task(self._one(session, token)))
                await asyncio.sleep(0.002)  # a phone fleet reconnecting: not all in one ms
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, session: aiohttp.ClientSession, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with session.get(self.url, headers=headers) as response:
            if response.status != 200:
                self.refused[response.status] = self.refused.get(response.status, 0) + 1
                return
            self.opened += 1
            try:
                async for raw in response.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                        self.events[name] = self.events.get(name, 0) + 1
                    elif line.startswith(": heartbeat"):
                        self.events["heartbeat"] += 1
            except aiohttp.ClientError:
                self.dropped += 1


def run(streams: int, seconds: int, workers: int) -> dict[str, Any]:
    with fresh_database("postgres") as url, tempfile.TemporaryDirectory() as instance:
        settings = settings_for(url, "redis://127.0.0.1:6379/0", Path(instance))
        runtime = build_runtime(settings, clock=SystemClock())
        print(f"preparing {DONORS} donors ...", flush=True)
        tokens = prepare(runtime, DONORS)
        runtime.close()
        lua = lua_for(tokens)
        stream_port = PORT + 1
        os.environ["STREAM_PORT"] = str(stream_port)
        runs: dict[str, Any] = {}
        with served(settings, PORT, workers, scheduler=True) as base:
            wrk(base + "/healthz", seconds=2, connections=2, lua="")  # warm the workers
            pid = stream_process_pid(stream_port)
            assert pid is not None, "no stream process"
            idle_rss = rss_bytes(pid)

            def mix(label: str) -> None:
                load = load_average()
                print(f"{label}: wrk {seconds} s, {CONNECTIONS} connections ...", flush=True)
                result = wrk(base, seconds=seconds, connections=CONNECTIONS, threads=2,
                             lua=lua, timeout_s=30)  # fmt: skip
                runs[label] = {**result, "load_average_before": load}
                print(label, runs[label], flush=True)

            wrk(base, seconds=min(seconds, 10), connections=CONNECTIONS, threads=2, lua=lua,
                timeout_s=30)  # fmt: skip  # warm the caches: the first run would pay for it
            mix("without streams")
            holder = Streams(f"http://127.0.0.1:{stream_port}/v1/me/events", tokens[:streams])
            opened_at = time.monotonic()
            holder.start()
            open_s = time.monotonic() - opened_at
            settled_rss = rss_bytes(pid)
            mix("with streams")
            with_rss = rss_bytes(pid)
            still_open = holder.opened - holder.dropped
            events = dict(holder.events)
            holder.stop()
            mix("without streams, again")
    without = [runs["without streams"], runs["without streams, again"]]
    with_ = runs["with streams"]

    def ratio(key: str) -> float:
        return round(with_[key] / (sum(r[key] for r in without) / 2), 2)

    return {
        "backend": "postgres",
        "gunicorn_workers": workers,
        "scheduler": True,
        "donors": DONORS,
        "streams": streams,
        "streams_opened": holder.opened,
        "streams_refused": holder.refused,
        "streams_open_at_end": still_open,
        "seconds_to_open_streams": round(open_s, 1),
        "wrk_connections": CONNECTIONS,
        "seconds_per_run": seconds,
        "runs": runs,
        "ratio_with_to_without": {
            "p50": ratio("p50_ms"),
            "p99": ratio("p99_ms"),
            "requests_per_s": ratio("requests_per_s"),
        },
        "stream_process_rss_bytes": {
            "idle": idle_rss,
            "streams_open": settled_rss,
            "after_the_mix": with_rss,
        },
        "events_received": events,
        "heartbeat_s": 15,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=STREAMS)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    figures = run(args.streams, args.seconds, args.workers)
    mix = "70% wall/profile reads, 20% submissions of 1-50 clips, 10% ledger/medals/redemptions"
    full = args.streams >= STREAMS and args.seconds >= 20
    report("event_streams", {"mix": mix, **figures}, save=full)


if __name__ == "__main__":
    main()
