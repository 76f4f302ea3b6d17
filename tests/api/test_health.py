"""Liveness, readiness against real servers that the tests stop, and metrics."""

from dataclasses import replace

from api import create_app
from api.context import EXTENSION
from rewards_engine.runtime import Runtime
from tests.support.processes import RedisProcess


def test_healthz_is_always_ok(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_is_ok_when_database_and_redis_answer(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_stopped(settings, tmp_path) -> None:
    server = RedisProcess(tmp_path / "redis").start()
    app = create_app(replace(settings, redis_url=server.url))
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        server.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("unavailable")
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        server.start()  # same port: the app reconnects by itself
        assert client.get("/readyz").status_code == 200
    finally:
        server.stop()
        app.extensions[EXTENSION].close()


def test_readyz_is_503_when_the_database_is_unreachable(settings, tmp_path) -> None:
    if settings.is_sqlite:
        broken = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    else:
        broken = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    app = create_app(replace(settings, database_url=broken))
    runtime: Runtime = app.extensions[EXTENSION]
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["database"].startswith("unavailable")
        assert response.get_json()["checks"]["redis"] == "ok"
    finally:
        runtime.close()


def test_metrics_count_requests_by_route_and_status(client, auth) -> None:
    client.get("/v1/campaigns/a")
    client.get("/v1/campaigns/b")
    client.get("/v1/me")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'http_requests_total{method="GET",route="/v1/campaigns/<string:campaign_id>",'
        'status="404"} 2.0' in text
    )
    assert 'http_requests_total{method="GET",route="/v1/me",status="401"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
