"""The daily verification of the audit chain (the ``audit-verify`` job), its outcome
kept in Redis for the API's ``/metrics`` (the scheduler process serves no metrics of
its own) and the head it saw kept there too, as the anchor of the next run.

Redis is outside the database: someone who rewrites the audit log and recomputes its
hashes (no key is needed for that) must also know to rewrite this anchor, or the next
run reports the log cut short or rewritten. The log event ``audit.chain_verified``
carries the same head into the log pipeline, a second copy out of their reach.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import redis

from rewards_engine.runtime import Runtime
from rewards_engine.services.audit import chain

log = logging.getLogger(__name__)
STATUS = "audit:chain"  # one small JSON document


@dataclass(frozen=True)
class ChainStatus:
    """The last scheduled verification, as ``/metrics`` shows it."""

    ok: bool
    checked_at: float  # Unix seconds
    records: int
    broken_record_id: int | None


def run(runtime: Runtime) -> dict[str, Any]:
    """Verify the whole chain against the last anchor; keep the outcome and, when the
    chain is intact, its head as the next anchor."""
    previous = _read(runtime)
    anchor = None
    if previous is not None and previous.get("head_seq"):
        anchor = (int(previous["head_seq"]), str(previous["head_hash"]))
    walk = chain.verify(runtime.db, anchor=anchor)
    status: dict[str, Any] = {
        "ok": walk.ok,
        "checked_at": runtime.clock.now().timestamp(),
        "records": walk.records,
        "broken_record_id": walk.broken_id,
        # A broken chain keeps the anchor that was good, for the next run to hold to.
        "head_seq": walk.head_seq if walk.ok else (anchor or (0, ""))[0],
        "head_hash": walk.head_hash if walk.ok else (anchor or (0, ""))[1],
    }
    try:
        runtime.redis.set(runtime.key(STATUS), json.dumps(status))
    except redis.RedisError:
        log.warning("audit chain status not kept: Redis unavailable")
    return {
        "records": walk.records,
        "erased_values": walk.erased_values,
        "ok": int(walk.ok),
        "broken_record_id": walk.broken_id or 0,
    }


def _read(runtime: Runtime) -> dict[str, Any] | None:
    try:
        raw = runtime.redis.get(runtime.key(STATUS))
    except redis.RedisError:
        log.warning("audit chain anchor not read: Redis unavailable")
        return None
    return None if raw is None else dict(json.loads(raw))


def last_status(runtime: Runtime) -> ChainStatus | None:
    """The last scheduled verification's outcome, or None if none is known."""
    stored = _read(runtime)
    if stored is None:
        return None
    return ChainStatus(
        ok=bool(stored["ok"]),
        checked_at=float(stored["checked_at"]),
        records=int(stored["records"]),
        broken_record_id=stored.get("broken_record_id"),
    )
