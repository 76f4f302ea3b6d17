"""The stream process: an aiohttp server whose one route is ``GET /v1/me/events``.

Why a process of its own, on asyncio: an SSE stream stays open for hours and is idle
nearly all the time. On the API's gunicorn gthread workers each would hold a thread
(16 per node by default), so a few dozen phones would starve ordinary requests. One
event loop holds thousands of idle streams for a few kilobytes each; the rare work (a
database read when a stream is woken, a standing read from Redis) runs in a small
thread pool through the same use cases the API calls, so nothing is rewritten for
asyncio and the API's workers are untouched (docs/performance.md measures it).

A stream's life: the bearer token is verified by the API's ``TokenVerifier`` (donors
only); the donor takes one of their ``STREAM_MAX_PER_DONOR`` slots (429 past it); the
stream sends what the donor missed after ``Last-Event-ID`` (or starts from their newest
notification), then the donor's all-time standing, then waits. It wakes on the Redis
signal published after a notification's commit, on the board's revision moving, on
its catch-up timer (a database read, signal or not) and on its heartbeat (an SSE
comment, and the slot's lease renewed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from aiohttp import web
from werkzeug.http import HTTP_STATUS_CODES

from api.schemas.notifications import InboxNotificationSchema
from rewards_engine.bootstrap import build_runtime
from rewards_engine.config import Settings
from rewards_engine.domain.languages import choose_language
from rewards_engine.domain.roles import Role
from rewards_engine.runtime import Runtime
from rewards_engine.services import donors
from rewards_engine.services.notifications import live
from rewards_engine.tokens import InvalidToken, Principal, TokenVerifier

log = logging.getLogger(__name__)
T = TypeVar("T")

PATH = "/v1/me/events"
# A transaction that took its notification id early may commit after a later one: a
# stream also looks this far back, and drops what it already sent.
LATE_COMMIT = timedelta(minutes=2)
RETRY_MS = 3_000  # how soon an EventSource reconnects (the SSE "retry:" field)
_SCHEMA = InboxNotificationSchema()


class Stream:
    """One open stream: whose, in what language, what it sent."""

    def __init__(self, donor: donors.DonorRef, language: str) -> None:
        self.id = uuid.uuid4().hex
        self.donor = donor
        self.language = language
        self.last_id = 0
        self.sent: dict[int, float] = {}  # recently sent (or already known) ids: monotonic time
        self.standing: tuple[int | None, int, str] | None = None
        self.notified = True  # read the database on the first turn
        self.standing_due = True
        self.wake = asyncio.Event()
        self.wake.set()  # the first turn at once: what was missed, then the standing


class Hub:
    """This process's open streams, by donor (used from the event loop only)."""

    def __init__(self) -> None:
        self.by_donor: dict[int, set[Stream]] = defaultdict(set)
        self.total = 0

    def add(self, stream: Stream) -> None:
        self.by_donor[stream.donor.id].add(stream)
        self.total += 1

    def remove(self, stream: Stream) -> None:
        streams = self.by_donor.get(stream.donor.id)
        if streams and stream in streams:
            streams.discard(stream)
            self.total -= 1
            if not streams:
                del self.by_donor[stream.donor.id]

    def count(self, donor_id: int) -> int:
        return len(self.by_donor.get(donor_id, ()))

    def wake(self, donor_ids: set[int]) -> None:
        for donor_id in donor_ids & self.by_donor.keys():
            for stream in self.by_donor[donor_id]:
                stream.notified = True
                stream.wake.set()

    def wake_all(self, *, standing: bool = False) -> None:
        for streams in self.by_donor.values():
            for stream in streams:
                if standing:
                    stream.standing_due = True
                else:
                    stream.notified = True
                stream.wake.set()


class State:
    """What the process shares: runtime, token verifier, donor lookup, the hub."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime = build_runtime(settings)
        self.tokens = TokenVerifier(settings)
        self.lookup = donors.DonorLookup(self.runtime.db, self.runtime.clock)
        self.hub = Hub()
        self.listener: live.Listener | None = None
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="streams")

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking use case, in the process's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(function, *args, **kwargs))


STATE = web.AppKey("state", State)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
          **extra: Any) -> web.Response:  # fmt: skip
    """The API's error shape (``code``, ``status``, ``error``, ``message``)."""
    body = {"code": status, "status": HTTP_STATUS_CODES.get(status, "Error"), "error": code,
            "message": message, **extra}  # fmt: skip
    return web.json_response(body, status=status, headers=headers)


def _unauthorized(reason: str) -> web.Response:
    return error(401, "unauthorized", reason,
                 {"WWW-Authenticate": 'Bearer realm="rewards", error="invalid_token"'})  # fmt: skip


def authenticate(state: State, request: web.Request) -> Principal | web.Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("an Authorization: Bearer <token> header is required")
    try:
        principal = state.tokens.verify(token.strip())
    except InvalidToken as exc:
        return _unauthorized(exc.reason)
    if principal.role != Role.DONOR:
        return error(403, "forbidden", "this needs the donor role")
    return principal


def last_event_id(request: web.Request) -> int | None:
    """``Last-Event-ID`` (or ``?last_event_id=``, for clients that cannot set headers);
    ValueError if it is not a notification id."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/me/events``: the calling donor's live events (text/event-stream)."""
    state = request.app[STATE]
    config = state.settings.streams
    principal = authenticate(state, request)
    if isinstance(principal, web.Response):
        return principal
    try:
        resume_after = last_event_id(request)
    except ValueError:
        return error(422, "invalid_input", "Last-Event-ID is a notification id")
    try:
        donor = await state.call(state.lookup.get, principal.subject)
    except donors.AccountErased:
        return _unauthorized("this account was erased at its owner's request")
    if state.hub.total >= config.max_streams:
        return error(503, "streams_full", "this stream process holds all it can; retry",
                     {"Retry-After": "5"})  # fmt: skip
    language = choose_language(donor.locale, request.headers.get("Accept-Language"))
    stream = Stream(donor, language)
    too_many = error(
        429, "too_many_streams",
        f"a donor may hold at most {config.per_donor} event streams at once "
        f"(STREAM_MAX_PER_DONOR); close one, or retry when one has ended",
        {"Retry-After": str(config.heartbeat_s)}, limit=config.per_donor,
    )  # fmt: skip
    if state.hub.count(donor.id) >= config.per_donor:
        return too_many
    state.hub.add(stream)  # reserved before the first await: two at once cannot both pass
    try:
        held = await state.call(
            live.claim_slot, state.runtime, donor.id, stream.id, config.per_donor, _lease(config)
        )
        if held is False:
            return too_many
        # Where the stream starts, read before the client hears 200: a notification
        # committed once it has is newer, and is sent (read after, it would count as known).
        if resume_after is None:
            stream.last_id = await state.call(live.latest_id, state.runtime.db, donor.id)
        else:
            stream.last_id = resume_after
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
                "Content-Language": language,
                "Vary": "Accept-Language",
            }
        )
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n: events for you\n\n".encode())
        await pump(state, stream, response)
        return response
    finally:
        state.hub.remove(stream)
        await state.call(live.release_slot, state.runtime, donor.id, stream.id)


def _lease(config: Any) -> float:
    """How long a stream's slot outlives its last heartbeat (a crashed process's slots
    free themselves after this)."""
    return float(config.heartbeat_s * 3 + 5)


async def pump(state: State, stream: Stream, response: web.StreamResponse) -> None:
    """Send the stream's events, from ``stream.last_id`` on, until the client goes (the
    write fails or aiohttp cancels the handler)."""
    config = state.settings.streams
    runtime = state.runtime
    first = True
    now = time.monotonic()
    heartbeat_at = now + config.heartbeat_s
    catch_up_at = now + config.catch_up_s * random.uniform(0.5, 1.0)  # noqa: S311  # spread
    while True:
        timeout = max(min(heartbeat_at, catch_up_at) - time.monotonic(), 0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream.wake.wait(), timeout)
        stream.wake.clear()  # before reading: a signal arriving meanwhile wakes us again
        now = time.monotonic()
        if now >= catch_up_at:
            stream.notified = True
            catch_up_at = now + config.catch_up_s
        if stream.notified:
            stream.notified = False
            if await send_notifications(state, stream, response, first=first):
                first = False
        if stream.standing_due:
            stream.standing_due = False
            await send_standing(state, stream, response)
        if now >= heartbeat_at:
            await response.write(b": heartbeat\n\n")
            heartbeat_at = now + config.heartbeat_s
            await state.call(
                live.claim_slot, runtime, stream.donor.id, stream.id, config.per_donor,
                _lease(config),
            )  # fmt: skip


async def send_notifications(
    state: State, stream: Stream, response: web.StreamResponse, *, first: bool
) -> bool:
    """Send the donor's notifications newer than the last one sent; on the ``first``
    turn, those at or below where the stream starts are only remembered as known.
    False if the database could not be read (the next turn tries again)."""
    runtime = state.runtime
    since = runtime.clock.now() - LATE_COMMIT
    try:
        views = await state.call(
            live.notifications_after, runtime.db, stream.donor.id, stream.last_id,
            stream.language, runtime.settings.fixtures_dir, recent_since=since,
        )  # fmt: skip
    except Exception as exc:  # the database is down: the next turn tries again
        log.warning("stream read failed", extra={"fields": {"error": str(exc)}})
        stream.notified = True
        return False
    now = time.monotonic()
    for view in views:
        if view.id in stream.sent:
            continue
        stream.sent[view.id] = now
        if first and view.id <= stream.last_id:
            continue  # older than where the stream starts: the client has it
        payload = json.dumps(_SCHEMA.dump(view), separators=(",", ":"))
        await response.write(f"id: {view.id}\nevent: notification\ndata: {payload}\n\n".encode())
        stream.last_id = max(stream.last_id, view.id)
    cutoff = now - LATE_COMMIT.total_seconds() * 2
    for known in [i for i, at in stream.sent.items() if at < cutoff]:
        del stream.sent[known]
    return True


async def send_standing(state: State, stream: Stream, response: web.StreamResponse) -> None:
    standing = await state.call(live.standing, state.runtime, stream.donor)
    if standing is None:
        return
    key = (standing.rank, standing.clips, standing.state)
    if key == stream.standing:
        return
    stream.standing = key
    payload = json.dumps(standing.as_dict(), separators=(",", ":"))
    await response.write(f"event: standing\ndata: {payload}\n\n".encode())


async def healthz(request: web.Request) -> web.Response:
    """Alive, with the streams held and whether live signals arrive (Redis subscribed:
    while they do not, streams still get their catch-up reads)."""
    state = request.app[STATE]
    listening = state.listener is not None and state.listener.connected.is_set()
    return web.json_response({"status": "ok", "streams": state.hub.total, "live_signal": listening})


async def watch_board(state: State) -> None:
    """Every ``STREAM_STANDING_S``: if the all-time board's revision moved, every stream
    re-reads its donor's standing (and sends it if the rank or the count changed)."""
    seen: int | None = None
    while True:
        revision = await state.call(live.board_revision, state.runtime)
        if revision is not None and revision != seen:
            seen = revision
            state.hub.wake_all(standing=True)
        await asyncio.sleep(state.settings.streams.standing_s)


async def lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    loop = asyncio.get_running_loop()
    listener = live.Listener(
        state.runtime,
        on_donors=lambda ids: loop.call_soon_threadsafe(state.hub.wake, ids),
        on_reconnect=lambda: loop.call_soon_threadsafe(state.hub.wake_all),
    )
    listener.start()
    state.listener = listener
    watcher = asyncio.create_task(watch_board(state))
    yield
    watcher.cancel()
    await asyncio.to_thread(listener.stop)
    state.executor.shutdown(wait=False, cancel_futures=True)
    state.runtime.close()


def make_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[STATE] = State(settings)
    app.router.add_get(PATH, events)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(lifecycle)
    return app


def run(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; a client's disconnect cancels its handler at once
    (its slot is freed without waiting for a heartbeat). Each stream holds a socket:
    the process may open as many files as the system's hard limit allows."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    web.run_app(
        make_app(settings),
        host=host,
        port=port,
        handler_cancellation=True,
        # Streams never finish by themselves: on SIGTERM they are cut after a second,
        # and apps reconnect (to another process) with Last-Event-ID.
        shutdown_timeout=1,
        access_log=None,
        print=None,
    )
