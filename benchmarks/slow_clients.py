"""Forty slow clients (Content-Length: 100000, then one byte every two seconds): how long
/healthz takes meanwhile, straight to ``rewards-engine serve`` (gunicorn gthread, 2
workers x 4 threads) and through nginx with deploy/nginx-rewards-engine.conf in front of
``serve --behind-proxy``. Embedded default (SQLite, embedded Redis), loopback only.

    python -m benchmarks.slow_clients     # figures on stdout and in results/slow_clients.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import machine
from tests.support.processes import ROOT, free_port, wait_until
from tests.support.slow_clients import SlowClients, nginx_in_front, timed_get

RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 4
CLIENTS = 40
CONTENT_LENGTH = 100_000
DRIP_S = 2  # one byte of each body this often
WORKERS, THREADS = 2, 4
TIMEOUT_S = 30  # the /healthz client's timeout: a call this long got no answer


def serve(port: int, instance: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "APP_ENV": "development", "INSTANCE_DIR": str(instance),
           "WEB_THREADS": str(THREADS), "RATE_LIMITS": "off", "LOG_LEVEL": "WARNING"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port),
         "--workers", str(WORKERS), *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_until(lambda: timed_get(f"http://127.0.0.1:{port}/healthz", 1)[0] == 200, 60, 0.3)
    return process


def measure(base: str) -> list[float]:
    """/healthz, one call after another, while a thread keeps the clients dripping."""
    seconds = []
    with SlowClients(base, count=CLIENTS, length=CONTENT_LENGTH) as slow:
        stop = threading.Event()

        def drip() -> None:
            for _ in range(ROUNDS * 3):  # bounded: 24 s at most
                slow.drip()
                if stop.wait(DRIP_S):
                    return

        dripping = threading.Thread(target=drip)
        dripping.start()
        try:
            for _ in range(ROUNDS):
                time.sleep(1)
                status, took = timed_get(f"{base}/healthz", timeout=TIMEOUT_S)
                seconds.append(round(took, 3))
                print(f"  /healthz {status} in {took:.3f} s", flush=True)
        finally:
            stop.set()
            dripping.join()
    return seconds


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    figures = {}
    for name, extra in (("gunicorn directly", ()), ("nginx in front", ("--behind-proxy",))):
        port = free_port()
        process = serve(port, work / "instance", *extra)
        try:
            print(name, flush=True)
            if extra:
                with nginx_in_front(f"127.0.0.1:{port}", work / "nginx") as base:
                    seconds = measure(base)
            else:
                seconds = measure(f"http://127.0.0.1:{port}")
        finally:
            os.killpg(process.pid, 15)
            process.wait(30)
        figures[name] = {"healthz_s": seconds, "median_s": round(statistics.median(seconds), 4)}
    RESULTS.mkdir(exist_ok=True)
    report = {
        "benchmark": "slow_clients",
        "machine": machine(),
        "clients": CLIENTS,
        "content_length": CONTENT_LENGTH,
        "drip_every_s": DRIP_S,
        "rounds": ROUNDS,
        "gunicorn_workers": WORKERS,
        "gunicorn_threads": THREADS,
        "healthz_timeout_s": TIMEOUT_S,
        "figures": figures,
    }
    (RESULTS / "slow_clients.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
