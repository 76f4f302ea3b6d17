"""Live events (docs/notifications.md, "Live events"): what the stream process needs.

- **The signal.** ``notify_many`` notes, on its session, the donors it wrote to; once
  that transaction commits, the donors' ids are published on one Redis pub/sub channel
  of the namespace (``publish``). Nothing is published for a transaction that rolls
  back. The signal only wakes streams: what they send is read from the database, so
  a signal lost (Redis down, a stream process restarting) delays a notification until
  the stream's next catch-up read, and never loses it.
- **The listener.** Each stream process subscribes to the channel in a thread of its
  own (``Listener``), reconnecting after a Redis outage (and then waking every stream,
  since signals were missed meanwhile).
- **The reads.** ``notifications_after`` (what a stream sends: rendered in the donor's
  language like the inbox), ``latest_id``, ``board_revision`` and ``standing`` (the
  donor's place on the all-time board: a stream re-reads it when the board's revision
  counter moved).
- **Stream slots.** A donor holds at most ``STREAM_MAX_PER_DONOR`` streams across every
  stream process: each open stream keeps a lease in a Redis sorted set
  (``claim_slot``/``release_slot``), renewed with its heartbeats.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import Database
from rewards_engine.models import Notification
from rewards_engine.services import wall

if TYPE_CHECKING:
    from rewards_engine.runtime import Runtime
    from rewards_engine.services.notifications.inbox import NotificationView

log = logging.getLogger(__name__)

ALL_TIME = "all-time"
_NOTIFIED = "rewards_engine.live.notified"  # session.info: donors notified in this transaction
_RUNTIMES: dict[int, weakref.ref[Runtime]] = {}

# KEYS: the donor's stream leases (member: stream id, score: expiry in ms).
# ARGV: stream id, now (ms), expiry (ms), limit. 1: the stream holds a slot; 0: full.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) - tonumber(ARGV[2]))
return 1
"""


# --- the signal ---------------------------------------------------------------------


def attach(runtime: Runtime) -> None:
    """Publish the signal for the notifications that ``runtime``'s transactions commit
    (``bootstrap.build_runtime`` calls it for every runtime)."""
    key = id(runtime)
    _RUNTIMES[key] = weakref.ref(runtime, lambda _gone: _RUNTIMES.pop(key, None))


def note_notified(session: Session, donor_ids: Iterable[int]) -> None:
    """Remember, on the session, donors who were notified in its transaction."""
    session.info.setdefault(_NOTIFIED, set()).update(donor_ids)


def channel(runtime: Runtime) -> str:
    return runtime.key("live", "notified")


def publish(runtime: Runtime, donor_ids: Iterable[int]) -> bool:
    """Signal that these donors have new notifications; False if Redis did not take it
    (the streams' catch-up reads find them anyway)."""
    try:
        runtime.redis.publish(channel(runtime), json.dumps({"donors": sorted(donor_ids)}))
        return True
    except Exception as exc:  # Redis down or hung: a delay for live streams, nothing lost
        log.warning("live signal not sent", extra={"fields": {"error": str(exc)}})
        return False


def _runtime_of(session: Session) -> Runtime | None:
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return None
    for ref in list(_RUNTIMES.values()):
        runtime = ref()
        # Only a runtime whose database exists can own this session; the pool tells which.
        if runtime is not None and "db" in runtime.__dict__ and runtime.db.engine.pool is bind.pool:
            return runtime
    return None


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    donors = session.info.pop(_NOTIFIED, None)
    if not donors:
        return
    try:
        runtime = _runtime_of(session)
    except Exception:  # a commit is never undone by its signal
        log.exception("live signal: no runtime")
        return
    if runtime is not None:
        publish(runtime, donors)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_NOTIFIED, None)


class Listener:
    """Hears the signal in a thread of its own: ``on_donors(ids)`` for every message,
    ``on_reconnect()`` after the subscription was lost and made again (signals may
    have been missed meanwhile). Both are called from the listener's thread."""

    RETRY_S = (0.5, 1.0, 2.0, 5.0)

    def __init__(
        self,
        runtime: Runtime,
        on_donors: Callable[[set[int]], object],
        on_reconnect: Callable[[], object],
    ) -> None:
        self.runtime = runtime
        self.on_donors = on_donors
        self.on_reconnect = on_reconnect
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                pubsub = self.runtime.redis.pubsub(ignore_subscribe_messages=True)
                try:
                    pubsub.subscribe(channel(self.runtime))
                    if failures:
                        log.info("live signal: listening again")
                        self.on_reconnect()
                    failures = 0
                    self.connected.set()
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message and message.get("type") == "message":
                            self._deliver(message["data"])
                finally:
                    self.connected.clear()
                    pubsub.close()
            except Exception as exc:  # Redis down: streams pause live signals, not catch-ups
                delay = self.RETRY_S[min(failures, len(self.RETRY_S) - 1)]
                if not failures:
                    log.warning("live signal: not listening", extra={"fields": {"error": str(exc)}})
                failures += 1
                self._stop.wait(delay)

    def _deliver(self, data: Any) -> None:
        try:
            donors = {int(d) for d in json.loads(data)["donors"]}
        except (ValueError, KeyError, TypeError):
            log.warning("live signal: a message that is not ours was ignored")
            return
        self.on_donors(donors)


# --- the reads ----------------------------------------------------------------------


def notifications_after(
    db: Database,
    donor_id: int,
    after_id: int,
    language: str,
    fixtures_dir: Path,
    *,
    recent_since: datetime | None = None,
    page: int = 50,
) -> list[NotificationView]:
    """The donor's notifications with an id above ``after_id``, oldest first, exactly as
    the inbox renders them (read through ``list_notifications``, newest first, until
    older ones come). With ``recent_since``, also older ids created since then: a
    transaction that took its id early may commit after a later one (the caller drops
    those it already sent)."""
    from rewards_engine.services.notifications.inbox import list_notifications

    found: list[NotificationView] = []
    cursor = None
    while True:
        batch = list_notifications(db, donor_id, language, fixtures_dir, limit=page, cursor=cursor)
        wanted = [
            view
            for view in batch.items
            if view.id > after_id or (recent_since is not None and view.created_at >= recent_since)
        ]
        found += wanted
        if len(wanted) < len(batch.items) or batch.next_cursor is None:
            return sorted(found, key=lambda view: view.id)
        cursor = batch.next_cursor


def latest_id(db: Database, donor_id: int) -> int:
    """The donor's newest notification id (0 for none): where a new stream starts."""
    with db.read() as session:
        found = session.scalar(
            select(func.max(col(Notification.id))).where(col(Notification.donor_id) == donor_id)
        )
        return int(found or 0)


@dataclass(frozen=True)
class Standing:
    """The donor's place on the all-time board, as a ``standing`` event tells it."""

    board: str
    state: str  # ranked, hidden, under_review, unranked
    rank: int | None
    clips: int
    percentile: float | None
    clips_to_pass_next: int | None
    ranked_donors: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "state": self.state,
            "rank": self.rank,
            "clips": self.clips,
            "percentile": self.percentile,
            "clips_to_pass_next": self.clips_to_pass_next,
            "ranked_donors": self.ranked_donors,
        }


def board_revision(runtime: Runtime) -> int | None:
    """The all-time board's revision (bumped by every change to it); None if Redis
    cannot say."""
    try:
        return wall.hall(runtime).rev(ALL_TIME)
    except Exception as exc:  # Redis down: standings pause
        log.warning("live standings paused", extra={"fields": {"error": str(exc)}})
        return None


def standing(runtime: Runtime, donor: wall.Viewer) -> Standing | None:
    """The donor's all-time standing; None while the wall cannot answer."""
    try:
        read = wall.read_standing(runtime, ALL_TIME, donor, 0)
    except Exception as exc:  # Redis down (503 in the API): nothing to tell yet
        log.warning("live standing unavailable", extra={"fields": {"error": str(exc)}})
        return None
    return Standing(
        ALL_TIME, read.state, read.rank, read.clips, read.percentile, read.clips_to_pass_next,
        read.ranked_donors,
    )  # fmt: skip


# --- stream slots -------------------------------------------------------------------


def _slots_key(runtime: Runtime, donor_id: int) -> str:
    return runtime.key(f"streams:{donor_id}")


def claim_slot(
    runtime: Runtime, donor_id: int, stream_id: str, limit: int, ttl_s: float
) -> bool | None:
    """Take (or renew) one of the donor's ``limit`` stream slots for ``ttl_s`` seconds:
    True if held, False if the donor already holds ``limit`` elsewhere, None if Redis
    cannot say (the caller then counts its own process's streams only)."""
    now_ms = int(time.time() * 1000)
    try:
        held = runtime.redis.eval(
            _CLAIM, 1, _slots_key(runtime, donor_id),
            stream_id, now_ms, now_ms + int(ttl_s * 1000), limit,
        )  # fmt: skip
    except Exception as exc:
        log.warning("stream slots unavailable", extra={"fields": {"error": str(exc)}})
        return None
    return bool(int(held))


def release_slot(runtime: Runtime, donor_id: int, stream_id: str) -> None:
    try:
        runtime.redis.zrem(_slots_key(runtime, donor_id), stream_id)
    except Exception as exc:  # its lease runs out by itself
        log.warning("stream slot not released", extra={"fields": {"error": str(exc)}})
