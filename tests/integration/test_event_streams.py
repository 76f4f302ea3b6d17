"""The live event stream (``GET /v1/me/events``, docs/notifications.md "Live events"),
over real HTTP: an API node (``rewards-engine serve``, which starts its own stream
process on PORT + 1) and a stream process of its own (``rewards-engine streams``) on
the test's database and Redis. A notification committed by the API node, or by this
test's own process, reaches streams served by the other processes through the Redis
signal; what they send is read from the database."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlmodel import col

from rewards_engine.bootstrap import build_runtime
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.notifications import Kind
from rewards_engine.models import Notification
from rewards_engine.runtime import Runtime
from rewards_engine.services import notifications, support
from tests.conftest import make_token
from tests.support import slow_clients
from tests.support.factories import add_campaign, body, clip, consenting_donor, load_program
from tests.support.processes import (
    RedisProcess,
    api_nodes,
    engine_process,
    free_port,
    stop_processes,
)
from tests.support.waiting import wait_until

GIFT = "gift-card-amazon-10-usd"  # 1,000 points; the program's demo codes
ENV = {
    "STREAM_HEARTBEAT_S": "1",
    "STREAM_STANDING_S": "1",
    "STREAM_CATCH_UP_S": "600",
}  # only the signal wakes them


@dataclass
class Event:
    kind: str  # "notification", "standing", or "comment" for a heartbeat or greeting
    id: int | None = None
    data: Any = None


@dataclass
class EventStream:
    """One SSE connection read in a thread: its status, headers and every event."""

    url: str
    headers: dict[str, str]
    status: int | None = None
    body: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    ended: bool = False
    _response: requests.Response | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> EventStream:
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: self.status is not None, timeout=30, what="the stream's answer")
        return self

    def _read(self) -> None:
        try:
            response = requests.get(self.url, headers=self.headers, stream=True, timeout=60)
        except requests.RequestException:
            self.status, self.ended = -1, True
            return
        self._response = response
        self.response_headers = dict(response.headers)
        if response.status_code != 200:
            self.body = response.json()
            self.status, self.ended = response.status_code, True
            return
        self.status = 200
        fields: dict[str, str] = {}
        comment = False
        try:
            for line in response.iter_lines(decode_unicode=True):
                if line == "":
                    self._dispatch(fields, comment)
                    fields, comment = {}, False
                elif line.startswith(":"):
                    comment = True
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed by the test
        self.ended = True

    def _dispatch(self, fields: dict[str, str], comment: bool) -> None:
        with self._lock:
            if "event" in fields:
                self.events.append(
                    Event(
                        fields["event"],
                        int(fields["id"]) if "id" in fields else None,
                        json.loads(fields["data"]),
                    )
                )
            elif comment:
                self.events.append(Event("comment"))

    def of(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    def count(self, kind: str) -> int:
        return len(self.of(kind))

    def close(self) -> None:
        if self._response is not None:
            self._response.close()


def bearer(settings: Any, subject: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(settings, subject, 'donor')}", **extra}


def ready(base: str) -> bool:
    """Up and subscribed to the live signal: a notification committed from now on
    wakes its streams (before, only the catch-up read would find it)."""
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
            return bool(answer.status == 200 and json.load(answer)["live_signal"])
    except OSError:
        return False


@pytest.fixture
def setting_env(monkeypatch: pytest.MonkeyPatch, cli_env: Any) -> Any:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return cli_env


@pytest.fixture
def node(setting_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An API node and the stream process ``serve`` started beside it (on STREAM_PORT:
    PORT + 1 may be taken on a machine running other tests)."""
    port = free_port()
    monkeypatch.setenv("STREAM_PORT", str(port))
    with api_nodes(1) as bases:
        events = f"http://127.0.0.1:{port}"
        wait_until(lambda: ready(events), timeout=60, what="serve's stream process")
        yield {"api": bases[0], "events": events}


@pytest.fixture
def streams(setting_env: Any) -> Iterator[str]:
    """A stream process of its own (``rewards-engine streams``)."""
    port = free_port()
    process = engine_process("streams", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: ready(base) or process.poll() is not None, timeout=60,
                   what="the stream process")  # fmt: skip
        assert process.poll() is None, stop_processes(process)[0].decode(errors="replace")
        yield base
    finally:
        stop_processes(process)


@pytest.fixture
def live(live: Runtime) -> Runtime:
    add_campaign(live, id="open-now", starts_at=live.clock.now() - timedelta(days=5))
    return live


def open_stream(base: str, settings: Any, subject: str, **headers: str) -> EventStream:
    stream = EventStream(f"{base}/v1/me/events", bearer(settings, subject, **headers)).open()
    if stream.status == 200:
        wait_until(lambda: stream.count("comment"), timeout=20, what="the stream's greeting")
    return stream


def notify(runtime: Runtime, donor_id: int, n: int) -> int:
    """A notification written by this test's process (its own runtime): its id."""
    with runtime.db.transaction() as uow:
        notifications.notify(
            uow.session, runtime.clock.now(), donor_id, Kind.CONSENT_CHANGED,
            f"test:{uuid.uuid4().hex}", {"version": f"2025-0{n}-01"},
        )  # fmt: skip
    with runtime.db.read() as session:
        return int(session.scalar(select(func.max(col(Notification.id)))) or 0)


def test_a_notification_from_an_api_node_reaches_a_stream_of_another_process(
    node, streams, live, cli_env
) -> None:
    donor_id = consenting_donor(live, "ada")
    support.adjust(
        live.db, live.clock, Actor(id="support:seed", role="support"), donor_id,
        asset="points", amount=1_000, reason="a gift card",
    )  # fmt: skip
    french = open_stream(streams, cli_env, "ada", **{"Accept-Language": "fr"})
    english = open_stream(node["events"], cli_env, "ada")
    assert french.response_headers["Content-Type"].startswith("text/event-stream")
    assert french.response_headers["Content-Language"] == "fr"

    redeemed = requests.post(
        f"{node['api']}/v1/redemptions",
        json={"reward_id": GIFT},
        headers={**bearer(cli_env, "ada"), "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert redeemed.status_code == 201, redeemed.text
    for stream in (french, english):
        wait_until(lambda s=stream: s.of("notification"), timeout=20, what="the notification")
    inbox = {
        language: requests.get(
            f"{node['api']}/v1/me/notifications",
            headers=bearer(cli_env, "ada", **{"Accept-Language": language}),
            timeout=30,
        ).json()["items"]
        for language in ("fr", "en")
    }
    [sent_fr] = french.of("notification")
    [sent_en] = english.of("notification")
    assert sent_fr.data == inbox["fr"][0]  # the same JSON as the inbox's item
    assert sent_en.data == inbox["en"][0]
    assert sent_fr.id == sent_en.id == inbox["en"][0]["id"]
    assert sent_en.data["kind"] == "redemption_fulfilled"
    assert sent_fr.data["title"] != sent_en.data["title"]
    french.close()
    english.close()


def test_last_event_id_resumes_with_exactly_the_missed_ones_in_order(
    streams, live, cli_env
) -> None:
    donor_id = consenting_donor(live, "ada")
    ids = [notify(live, donor_id, n) for n in range(1, 5)]
    stream = open_stream(streams, cli_env, "ada", **{"Last-Event-ID": str(ids[1])})
    wait_until(lambda: stream.count("notification") >= 2, timeout=20, what="the missed ones")
    heartbeats = stream.count("comment")  # the greeting, maybe a heartbeat
    wait_until(lambda: stream.count("comment") >= heartbeats + 2, timeout=20, what="heartbeats")
    assert [e.id for e in stream.of("notification")] == ids[2:]
    later = notify(live, donor_id, 5)  # and then the live ones
    wait_until(lambda: stream.count("notification") == 3, timeout=20, what="the new one")
    assert [e.id for e in stream.of("notification")] == [*ids[2:], later]
    stream.close()

    fresh = open_stream(streams, cli_env, "ada")  # no Last-Event-ID: only what comes next
    heartbeats = fresh.count("comment")
    wait_until(lambda: fresh.count("comment") >= heartbeats + 2, timeout=20, what="heartbeats")
    assert fresh.of("notification") == []
    fresh.close()


def test_another_donor_never_sees_it_and_heartbeats_arrive(streams, live, cli_env) -> None:
    ada = consenting_donor(live, "ada")
    consenting_donor(live, "bob")
    adas, bobs = open_stream(streams, cli_env, "ada"), open_stream(streams, cli_env, "bob")
    mine = notify(live, ada, 1)
    wait_until(lambda: adas.of("notification"), timeout=20, what="ada's notification")
    seen = bobs.count("comment")
    wait_until(lambda: bobs.count("comment") >= seen + 3, timeout=20, what="bob's heartbeats")
    assert [e.id for e in adas.of("notification")] == [mine]
    assert bobs.of("notification") == []
    adas.close()
    bobs.close()


def test_a_donor_holds_three_streams_across_processes_and_the_fourth_gets_429(
    node, streams, live, cli_env
) -> None:
    consenting_donor(live, "ada")
    held = [open_stream(streams, cli_env, "ada"), open_stream(streams, cli_env, "ada"),
            open_stream(node["events"], cli_env, "ada")]  # fmt: skip
    assert [s.status for s in held] == [200, 200, 200]
    for base in (streams, node["events"]):
        refused = open_stream(base, cli_env, "ada")
        assert refused.status == 429
        assert refused.body["error"] == "too_many_streams"
        assert refused.body["limit"] == 3
        assert "at most 3 event streams" in refused.body["message"]
        assert refused.response_headers["Retry-After"]
    held[0].close()  # a slot is freed when its client goes
    again = wait_until(
        lambda: (s := open_stream(streams, cli_env, "ada")).status == 200 and s,
        timeout=20,
        what="a slot freed by the closed stream",
    )
    for stream in [*held, again]:
        stream.close()
    assert open_stream(streams, cli_env, "nobody-" + uuid.uuid4().hex[:6]).status == 200
    anonymous = EventStream(f"{streams}/v1/me/events", {}).open()
    assert anonymous.status == 401
    support_token = {"Authorization": f"Bearer {make_token(cli_env, 'agent', 'support')}"}
    assert EventStream(f"{streams}/v1/me/events", support_token).open().status == 403


def test_standing_changes_arrive_as_the_board_moves(node, live, cli_env) -> None:
    consenting_donor(live, "ada")
    stream = open_stream(node["events"], cli_env, "ada")
    first = wait_until(lambda: stream.of("standing"), timeout=20, what="the first standing")[0]
    assert first.data["board"] == "all-time"
    assert first.data["clips"] == 0
    donated = requests.post(
        f"{node['api']}/v1/submissions",
        json=body("open-now", [clip(recorded_at=live.clock.now() - timedelta(hours=1))]),
        headers={**bearer(cli_env, "ada"), "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert donated.status_code == 201, donated.text
    moved = wait_until(
        lambda: [e for e in stream.of("standing") if e.data["clips"] == 1],
        timeout=30,
        what="the standing after an accepted clip",
    )[0]
    assert moved.data["rank"] == 1
    assert moved.data["state"] in ("ranked", "hidden")
    stream.close()


def test_ordinary_requests_still_answer_while_many_streams_are_open(node, live, cli_env) -> None:
    accounts = [f"many-{n}" for n in range(20)]
    for account in accounts:
        consenting_donor(live, account)
    opened = [
        open_stream(node["events"], cli_env, account) for account in accounts for _ in (1, 2, 3)
    ]
    assert all(s.status == 200 for s in opened)
    assert requests.get(f"{node['events']}/healthz", timeout=10).json()["streams"] == 60
    for account in accounts[:8]:
        me = requests.get(f"{node['api']}/v1/me", headers=bearer(cli_env, account), timeout=30)
        assert me.status_code == 200
    wall = requests.get(f"{node['api']}/v1/honor-wall?board=all-time", timeout=30)
    assert wall.status_code == 200
    assert requests.get(f"{node['api']}/readyz", timeout=30).status_code == 200
    assert all(not s.ended for s in opened)  # the streams are still open
    for stream in opened:
        stream.close()


@pytest.mark.skipif(not slow_clients.nginx_binary(), reason="nginx is not installed")
def test_the_shipped_nginx_passes_events_on_unbuffered(
    streams, live, cli_env, tmp_path, monkeypatch
) -> None:
    donor_id = consenting_donor(live, "ada")
    shipped = slow_clients.SITE_CONFIG.read_text()
    assert "server 127.0.0.1:8001;" in shipped  # the stream process's default address
    site = tmp_path / "site.conf"
    site.write_text(shipped.replace("127.0.0.1:8001", streams.removeprefix("http://")))
    monkeypatch.setattr(slow_clients, "SITE_CONFIG", site)
    with slow_clients.nginx_in_front(streams.removeprefix("http://"), tmp_path / "nginx") as base:
        stream = open_stream(base, cli_env, "ada")
        assert stream.status == 200
        mine = notify(live, donor_id, 1)  # one event, alone: a buffering proxy would hold it
        wait_until(lambda: stream.of("notification"), timeout=20, what="the event through nginx")
        seen = stream.count("comment")
        wait_until(lambda: stream.count("comment") >= seen + 2, timeout=20, what="heartbeats")
        assert [e.id for e in stream.of("notification")] == [mine]
        stream.close()


def test_a_redis_outage_pauses_the_signal_but_neither_the_api_nor_the_streams(
    cli_env, tmp_path, monkeypatch
) -> None:
    """A Redis of this test's own, killed while a stream is open: the redemption still
    answers 201, the stream keeps its heartbeats and gets the notification from its
    catch-up read; Redis restarted on the same port, the signal works again."""
    own = RedisProcess(tmp_path / "redis").start()
    servers = [own]
    settings = replace(cli_env, redis_url=own.url)
    for name, value in {**ENV, "REDIS_URL": own.url, "STREAM_CATCH_UP_S": "2"}.items():
        monkeypatch.setenv(name, value)
    runtime = build_runtime(settings)
    try:
        load_program(runtime)
        donor_id = consenting_donor(runtime, "ada")
        support.adjust(
            runtime.db, runtime.clock, Actor(id="support:seed", role="support"), donor_id,
            asset="points", amount=2_000, reason="two gift cards",
        )  # fmt: skip
        port = free_port()
        monkeypatch.setenv("STREAM_PORT", str(port))
        with api_nodes(1) as bases:
            events = f"http://127.0.0.1:{port}"
            wait_until(lambda: ready(events), timeout=60, what="serve's stream process")
            stream = open_stream(events, settings, "ada")
            own.stop()

            def redeem() -> requests.Response:
                return requests.post(
                    f"{bases[0]}/v1/redemptions",
                    json={"reward_id": GIFT},
                    headers={**bearer(settings, "ada"), "Idempotency-Key": uuid.uuid4().hex},
                    timeout=30,
                )

            assert redeem().status_code == 201
            wait_until(lambda: stream.count("notification") == 1, timeout=30,
                       what="the notification from the catch-up read")  # fmt: skip
            seen = stream.count("comment")
            wait_until(lambda: stream.count("comment") >= seen + 2, timeout=20,
                       what="heartbeats during the outage")  # fmt: skip
            assert not stream.ended
            assert requests.get(f"{bases[0]}/v1/me", headers=bearer(settings, "ada"),
                                timeout=30).status_code == 200  # fmt: skip

            servers.append(RedisProcess(tmp_path / "redis", port=own.port).start())
            assert redeem().status_code == 201
            wait_until(lambda: stream.count("notification") == 2, timeout=30,
                       what="the notification after Redis came back")  # fmt: skip
            ids = [e.id for e in stream.of("notification")]
            assert ids == sorted(ids) and len(set(ids)) == 2
            stream.close()
    finally:
        runtime.close()
        for server in servers:
            server.stop()
