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
    "--behind-proxy",
    is_flag=True,
    default=False,
    help="Behind a buffering reverse proxy on this machine (deploy/nginx-rewards-engine.conf):"
    " listen on loopback only and believe one proxy's X-Forwarded-* (TRUSTED_PROXIES=1).",
)
def serve(
    port: int | None, host: str | None, workers: int | None, scheduler: bool, behind_proxy: bool
) -> None:
    """Serve the API with gunicorn (several workers), optionally with the scheduler beside it.

    In production put a buffering proxy in front (``--behind-proxy``): gunicorn's threads
    must never wait on a slow client's body (docs/resilience.md)."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
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

    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
    click.echo(
        f"serving on http://{shown}:{port} with {workers} workers"
        + (" and the scheduler" if scheduler else "")
        + (" (behind a proxy)" if behind_proxy else "")
        + f"\n  docs:    http://{shown}:{port}/docs\n  openapi: http://{shown}:{port}/openapi.json",
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
            time.sleep(0.2)
    finally:
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
