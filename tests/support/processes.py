"""Real server processes that a test starts and stops (no mocks stand in for them)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from werkzeug.serving import make_server

from rewards_engine.redis_server import redis_server_binary
from tests.support.waiting import wait_until as wait_until  # re-exported: imported from here

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def serving(app: Callable[..., Any]) -> Iterator[str]:
    """A WSGI app on a free loopback port, in a thread, until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A redis-server on a loopback port, owned by one test."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the polling interval, until Redis answers
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def engine_process(*args: str, log: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
    """``rewards-engine ARGS`` in a process group of its own, on the test's environment
    (see the ``cli_env`` fixture), rate limits off; its stderr is kept for the test: in
    the file ``log`` if given (the test can read it while the process runs), else in a
    pipe that ``stop_processes`` reads."""
    defaults = {"RATE_LIMITS": "off", "LOG_LEVEL": "INFO", "WEB_THREADS": "2"}
    with open(log, "wb") if log else contextlib.nullcontext(subprocess.PIPE) as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env={**os.environ, **defaults, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


def stop_processes(*processes: subprocess.Popen[bytes]) -> list[bytes]:
    """SIGTERM every group at once (so that none outlives another and takes over its
    work meanwhile), SIGKILL after 30 s; what each wrote on stderr (nothing for those
    that wrote to a log file)."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    written = []
    for process in processes:
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, errors = process.communicate()
        written.append(errors or b"")
    return written


def stop_process(process: subprocess.Popen[bytes]) -> bytes:
    return stop_processes(process)[0]


@contextmanager
def api_nodes(count: int = 1, workers: int = 2) -> Iterator[list[str]]:
    """``count`` API nodes (``rewards-engine serve``: gunicorn with ``workers``
    workers), ready, on the test's database and Redis; their base URLs."""
    ports: list[int] = []
    while len(ports) < count:  # distinct, though the system may hand a port out twice
        port = free_port()
        if port not in ports:
            ports.append(port)
    servers = [engine_process("serve", "--port", str(p), "--workers", str(workers)) for p in ports]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base, server in zip(bases, servers, strict=True):
            deadline = time.monotonic() + 90  # two cores shared with the database
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/readyz", timeout=2):
                        break
                except OSError as exc:
                    if server.poll() is not None or time.monotonic() > deadline:
                        said = stop_process(server).decode(errors="replace")[-3000:]
                        raise AssertionError(f"the node at {base} did not start:\n{said}") from exc
                    time.sleep(0.3)  # the polling interval, until the node is ready
        yield bases
    finally:
        stop_processes(*servers)
