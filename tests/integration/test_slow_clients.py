"""Slow clients cannot hold the workers: the documented production setup, nginx with
deploy/nginx-rewards-engine.conf in front of ``rewards-engine serve --behind-proxy``.

Forty clients each announce ``Content-Length: 100000`` and then send one byte every two
seconds. Straight to gunicorn (gthread) they hold every thread and ``/healthz`` waits
6-10 s (docs/resilience.md, ``python -m benchmarks.slow_clients``); through nginx, which
reads bodies whole before it calls gunicorn, ``/healthz`` answers at once and a normal
submission goes through. Needs nginx (``dev.py test`` installs Debian's as root)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from rewards_engine.bootstrap import build_runtime
from rewards_engine.runtime import Runtime
from tests.conftest import make_token
from tests.support.factories import add_campaign, body, clip, consenting_donor, load_program
from tests.support.processes import engine_process, free_port, stop_process, wait_until
from tests.support.slow_clients import SlowClients, nginx_binary, nginx_in_front, timed_get

pytestmark = pytest.mark.skipif(
    nginx_binary() is None,
    reason="no nginx here (dev.py test installs Debian's nginx when run as root)",
)
ROUNDS = 4  # bytes each slow client sends, two seconds apart: the test ends by itself
GENEROUS_S = 3.0  # straight to gunicorn the same /healthz took 6-10 s


@pytest.fixture
def behind_nginx(cli_env, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    server = engine_process(
        "serve", "--behind-proxy", "--port", str(port), "--workers", "2", RATE_LIMITS="off"
    )
    try:
        wait_until(lambda: timed_get(f"http://127.0.0.1:{port}/healthz", 1)[0] == 200, 60, 0.3)
        with nginx_in_front(f"127.0.0.1:{port}", tmp_path / "nginx") as base:
            yield base
    finally:
        stop_process(server)


@pytest.fixture
def live(cli_env) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    runtime = build_runtime(cli_env)
    load_program(runtime)
    add_campaign(runtime, id="open-now", starts_at=runtime.clock.now() - timedelta(days=5))
    consenting_donor(runtime, "ada")
    yield runtime
    runtime.close()


def test_forty_slow_clients_do_not_hold_the_workers_behind_nginx(
    behind_nginx, live, cli_env
) -> None:
    headers = {
        "Authorization": f"Bearer {make_token(cli_env, 'ada', 'donor')}",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    payload = body("open-now", [clip(recorded_at=live.clock.now() - timedelta(hours=1))])
    with SlowClients(behind_nginx, count=40, length=100_000) as slow:
        for _ in range(ROUNDS):
            slow.drip()
            time.sleep(2)  # fixed sleep: the slow clients' pace, a byte every 2 s, is tested
            status, took = timed_get(f"{behind_nginx}/healthz", timeout=20)
            assert status == 200 and took < GENEROUS_S, (status, took)
        assert len(slow.sockets) == 40  # all still uploading, none refused
        answer = requests.post(
            f"{behind_nginx}/v1/submissions", json=payload, headers=headers, timeout=20
        )
        assert answer.status_code == 201, answer.text
    assert timed_get(f"{behind_nginx}/readyz", timeout=20)[0] == 200
