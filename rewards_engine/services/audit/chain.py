"""Verifying and exporting the audit log's hash chain.

``verify`` walks every record in ``seq`` order (keyset chunks: constant memory on any
size of log) and stops at the first that breaks the chain. A chain that verifies can
still have lost its newest records, or be rewritten whole, by someone who recomputed
the hashes (they need no key): so each verification may be given the head a previous
one saw (``anchor``, kept outside the database by the scheduled job, see
``services.audit.alerts``), and the walk fails if that record is gone or changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import Database
from rewards_engine.domain import audit_chain as rules
from rewards_engine.models import AuditRecord

log = logging.getLogger(__name__)
CHUNK = 5_000

Progress = Callable[[str, int, int | None], None]


def _stored(row: AuditRecord) -> rules.StoredRecord:
    return rules.StoredRecord(
        id=row.id,
        seq=row.seq,
        prev_hash=row.prev_hash,
        record_hash=row.record_hash,
        created_at=row.created_at,
        facts={name: getattr(row, name) for name in rules.FACT_FIELDS},
        values={name: getattr(row, name) for name in rules.VALUE_FIELDS},
        nonces={name: getattr(row, f"{name}_nonce") for name in rules.VALUE_FIELDS},
        digests={name: getattr(row, f"{name}_digest") for name in rules.VALUE_FIELDS},
    )


def _in_order(session: Session, *where: Any, chunk: int = CHUNK) -> Iterator[AuditRecord]:
    """Every record ``where`` selects, in ``seq`` order, ``chunk`` rows per query."""
    after = None
    while True:
        query = select(AuditRecord).where(*where).order_by(col(AuditRecord.seq)).limit(chunk)
        if after is not None:
            query = query.where(col(AuditRecord.seq) > after)
        rows = list(session.scalars(query))
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].seq
        session.expunge_all()  # keep memory flat on a long log


def verify(
    db: Database,
    *,
    anchor: tuple[int, str] | None = None,
    on_progress: Progress | None = None,
    chunk: int = CHUNK,
) -> rules.ChainWalk:
    """Walk the whole chain; log ``audit.chain_broken`` (ERROR, with the first broken
    record's id) or ``audit.chain_verified`` (with the head: seq and hash)."""
    walk = rules.ChainWalk(anchor=anchor)
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
        for row in _in_order(session, chunk=chunk):
            if not walk.check(_stored(row)):
                break
            if on_progress and (walk.records % 1_000 == 0 or walk.records == total):
                on_progress("audit records", walk.records, total)
    walk.finish()
    if walk.ok:
        log.info(
            "audit.chain_verified",
            extra={"fields": {"records": walk.records, "erased_values": walk.erased_values,
                              "head_seq": walk.head_seq, "head_hash": walk.head_hash}},
        )  # fmt: skip
    else:
        log.error(
            "audit.chain_broken",
            extra={"fields": {"record_id": walk.broken_id, "problem": walk.problem,
                              "records_verified": walk.records}},
        )  # fmt: skip
    return walk


def export(
    db: Database,
    out: TextIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Progress | None = None,
) -> int:
    """Write the records created in [since, until) as JSON lines, in ``seq`` order: the
    facts, value digests, links and hashes, and each value with its nonce unless erased
    (docs/operations.md says how an auditor recomputes the chain from this alone)."""
    where = []
    if since is not None:
        where.append(col(AuditRecord.created_at) >= since)
    if until is not None:
        where.append(col(AuditRecord.created_at) < until)
    written = 0
    with db.read() as session:
        for row in _in_order(session, *where):
            out.write(json.dumps(export_line(row), sort_keys=True, ensure_ascii=False) + "\n")
            written += 1
            if on_progress and written % 1_000 == 0:
                on_progress("audit records", written, None)
    if on_progress:
        on_progress("audit records", written, written)
    return written


def export_line(row: AuditRecord) -> dict[str, Any]:
    line: dict[str, Any] = {
        "v": rules.VERSION,
        "id": row.id,
        "seq": row.seq,
        "prev_hash": row.prev_hash,
        "record_hash": row.record_hash,
        "created_at": rules.timestamp(row.created_at),
    }
    line.update({name: getattr(row, name) for name in rules.FACT_FIELDS})
    for name in rules.VALUE_FIELDS:
        for suffix in ("", "_nonce", "_digest"):
            line[name + suffix] = getattr(row, name + suffix)
    return line
