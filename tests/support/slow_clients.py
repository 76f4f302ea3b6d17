"""Slow clients and an nginx in front of the engine, for tests/integration/test_slow_clients.py
and benchmarks/slow_clients.py. Loopback addresses only; every loop is bounded."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import ROOT, free_port

SITE_CONFIG = ROOT / "deploy" / "nginx-rewards-engine.conf"


def nginx_binary() -> str | None:
    return os.environ.get("NGINX") or shutil.which("nginx") or shutil.which("/usr/sbin/nginx")


@contextmanager
def nginx_in_front(upstream: str, directory: Path) -> Iterator[str]:
    """deploy/nginx-rewards-engine.conf, as shipped, on a free loopback port in front of
    ``upstream`` (host:port); its base URL. Wrapped in a minimal main config that keeps
    every file nginx writes in ``directory``."""
    binary = nginx_binary()
    assert binary, "nginx is not installed"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    port = free_port()
    site = SITE_CONFIG.read_text().replace("@LISTEN@", f"127.0.0.1:{port}")
    (directory / "site.conf").write_text(site.replace("@UPSTREAM@", upstream))
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # the temp files are ours
    (directory / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n"
        f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n  include {directory}/site.conf;\n}}\n"
    )
    command = [binary, "-p", str(directory), "-e", str(directory / "error.log"),
               "-c", str(directory / "nginx.conf")]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)  # the polling interval, until nginx listens
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SlowClients:
    """``count`` connections that each send a POST's headers with ``Content-Length``
    ``length`` and then one byte of the body every ``every`` seconds, for ``rounds``
    rounds at most (then they close): the clients that hold a gthread worker's threads."""

    def __init__(
        self, base: str, path: str = "/v1/submissions", count: int = 40, length: int = 100_000
    ) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        assert host == "127.0.0.1", "loopback only"
        self.address = (host, int(port))
        self.path, self.count, self.length = path, count, length
        self.sockets: list[socket.socket] = []

    def __enter__(self) -> SlowClients:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {self.length}\r\n\r\n"
        ).encode()
        for _ in range(self.count):
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(head)
            self.sockets.append(sock)
        return self

    def drip(self) -> None:
        """One byte on every connection still open."""
        for sock in list(self.sockets):
            try:
                sock.sendall(b" ")
            except OSError:  # the server gave up on it: fine
                self.sockets.remove(sock)
                sock.close()

    def __exit__(self, *_: object) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []


def timed_get(url: str, timeout: float = 30.0) -> tuple[int, float]:
    """Status and seconds of a GET (status 0 when it timed out or was refused)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (TimeoutError, urllib.error.URLError):  # timed out, or nothing listening yet
        status = 0
    return status, time.monotonic() - started
