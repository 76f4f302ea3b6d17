"""The ``rewards-engine`` console script: the engine's commands plus ``serve``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import click

from rewards_engine.cli import cli
from rewards_engine.config import ConfigError, Settings
from rewards_engine.redis_server import EmbeddedRedis


@cli.command()
@click.option("--port", type=int, default=None, help="Port (default: PORT or 8000).")
@click.option("--host", default=None, help="Address to bind (default: HOST or 127.0.0.1).")
@click.option("--workers", type=int, default=None, help="gunicorn workers (default: 2 per CPU).")
@click.option("--scheduler/--no-scheduler", default=False, help="Also run the scheduler.")
@click.option(
    "--streams/--no-streams",
    default=True,
    help="Also run the live event stream process (GET /v1/me/events) on STREAM_PORT"
    " (default: PORT + 1).",
)
@click.option(
    "--behind-proxy",
    is_flag=True,
    default=False,
    help="Behind a buffering reverse proxy on this machine (deploy/nginx-rewards-engine.conf):"
    " listen on loopback only and believe one proxy's X-Forwarded-* (TRUSTED_PROXIES=1).",
)
def serve(
    port: int | None,
    host: str | None,
    workers: int | None,
    scheduler: bool,
    streams: bool,
    behind_proxy: bool,
) -> None:
    """Serve the API with gunicorn (several workers), optionally with the scheduler beside it.

    In production put a buffering proxy in front (``--behind-proxy``): gunicorn's threads
    must never wait on a slow client's body (docs/resilience.md)."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    _check_secrets(settings)
    port = port or settings.port
    host = host or settings.host
    workers = workers or settings.web_worker_count()
    if behind_proxy and host not in ("127.0.0.1", "::1", "localhost"):
        raise click.ClickException(
            f"--behind-proxy listens on loopback only (the proxy forwards to it), not {host}"
        )

    _check_port_free(host, port)
    embedded = EmbeddedRedis(settings.instance_dir) if settings.redis_is_embedded else None
    started_redis = embedded.ensure_running() if embedded else False

    env = dict(os.environ)
    # The workers build their settings from the environment: upload URLs and video links
    # must name the port and host this server listens on.
    env["HOST"], env["PORT"] = host, str(port)
    # One folder per server: two nodes sharing an instance folder (the multi-node test)
    # must not delete each other's metrics as they start.
    metrics_dir = settings.instance_dir / "prometheus" / str(port)
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if behind_proxy:
        env.setdefault("TRUSTED_PROXIES", "1")
        env["REWARDS_BEHIND_PROXY"] = "1"  # api.gunicorn_conf: timeouts for a proxy's peer

    commands = [
        [
            sys.executable, "-m", "gunicorn",
            "--config", "python:api.gunicorn_conf",
            "--bind", f"{host}:{port}",
            "--workers", str(workers),
            "api:create_app()",
        ]
    ]  # fmt: skip
    if scheduler:
        commands.append([sys.executable, "-m", "api.cli", "scheduler"])
    children = [subprocess.Popen(command, env=env) for command in commands]  # noqa: S603
    stream_port = settings.streams.port_for(port)
    events = _StreamProcess(host, stream_port, env) if streams else None
    if events is not None and not events.start():
        events = None

    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
    click.echo(
        f"serving on http://{shown}:{port} with {workers} workers"
        + (" and the scheduler" if scheduler else "")
        + (" (behind a proxy)" if behind_proxy else "")
        + f"\n  docs:    http://{shown}:{port}/docs\n  openapi: http://{shown}:{port}/openapi.json"
        + (f"\n  events:  http://{shown}:{stream_port}/v1/me/events" if events else ""),
        err=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            if events is not None:
                events.keep_running()
            time.sleep(0.2)
    finally:
        if events is not None:
            events.stop()
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if started_redis and embedded is not None:
            embedded.stop()
    failed = [child.returncode for child in children if child.returncode not in (0, -15, None)]
    if failed and not stopping:
        raise click.ClickException(f"a child process exited with {failed[0]}")


class _StreamProcess:
    """The live event stream process beside the API (``rewards-engine streams``): its
    streams are long-lived, so they never run on gunicorn's workers. Not vital to the
    API: if its port is taken it is not started (said once), and if it dies it is
    started again a second later (open streams reconnect by themselves)."""

    def __init__(self, host: str, port: int, env: dict[str, str]) -> None:
        self.host, self.port, self.env = host, port, env
        self.child: subprocess.Popen[bytes] | None = None
        self.restart_at = 0.0

    def start(self) -> bool:
        try:
            _check_port_free(self.host, self.port)
        except click.ClickException as exc:
            click.echo(f"live event streams not started: {exc.message}", err=True)
            return False
        command = [sys.executable, "-m", "api.cli", "streams",
                   "--host", self.host, "--port", str(self.port)]  # fmt: skip
        self.child = subprocess.Popen(command, env=self.env)  # noqa: S603
        return True

    def keep_running(self) -> None:
        if self.child is None or self.child.poll() is None:
            return
        now = time.monotonic()
        if not self.restart_at:
            click.echo(
                f"the live event stream process exited with {self.child.returncode}; "
                "starting it again",
                err=True,
            )
            self.restart_at = now + 1.0
        elif now >= self.restart_at:
            self.restart_at = 0.0
            command = self.child.args
            self.child = subprocess.Popen(command, env=self.env)  # noqa: S603

    def stop(self) -> None:
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.child.kill()


@cli.command("streams")
@click.option("--port", type=int, default=None, help="Port (default: STREAM_PORT or PORT + 1).")
@click.option("--host", default=None, help="Address to bind (default: HOST or 127.0.0.1).")
def streams_command(port: int | None, host: str | None) -> None:
    """Serve the live event stream (GET /v1/me/events, Server-Sent Events) alone: one
    asyncio process holds thousands of open streams (``serve`` starts it beside the API)."""
    from api.streams.server import run
    from rewards_engine.logs import configure_logging

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)
    host = host or settings.host
    port = port or settings.streams.port_for(settings.port)
    _check_port_free(host, port)
    run(settings, host, port)


def _check_secrets(settings: Settings) -> None:
    """Refuse to start on a database whose erasure salt the configuration does not name
    (``rewards-engine secrets``, docs/operations.md)."""
    from rewards_engine.cli_secrets import refuse_unsafe_secrets
    from rewards_engine.runtime import Runtime

    runtime = Runtime(settings)
    try:
        refuse_unsafe_secrets(runtime)
    finally:
        runtime.close()


def _check_port_free(host: str, port: int) -> None:
    """Say so at once, in one line, if another process holds the port (gunicorn would
    otherwise retry for a while and the banner would claim we are serving)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror}; stop what holds it or set PORT"
            ) from exc


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
