"""The audit log's hash chain: pure rules, no I/O.

Each audit record carries ``seq`` (1, 2, 3 ... with no gap), ``prev_hash`` (the record
before's ``record_hash``; 64 zeros for the first) and ``record_hash``: SHA-256 over a
canonical encoding of its facts, the digests of its values and ``prev_hash``. Editing,
deleting, inserting or reordering a record therefore breaks the chain at that record.

The values (before, after, reason) are not in the chain themselves, only their
digests: ``HMAC-SHA256(key=nonce, canonical JSON of the value)`` with a random nonce per
value. Erasure deletes a value together with its nonce; the digest stays and the chain
still verifies, and without the nonce nobody can confirm a guess of a short erased value
("reason: fraud by jane@...") against the digest.

The encoding is documented in docs/operations.md so that an auditor can recompute
every hash from an export alone (``version`` 1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VERSION = 1
GENESIS = "0" * 64
VALUE_FIELDS = ("before", "after", "reason")
FACT_FIELDS = ("actor_id", "actor_role", "action", "target_type", "target_id", "request_id")


def canonical(value: Any) -> bytes:
    """One byte string per JSON value: keys sorted, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def new_nonce() -> str:
    return secrets.token_hex(16)


def value_digest(nonce: str, value: Any) -> str:
    """The digest the chain keeps of one value (``value`` as stored: JSON types only)."""
    return hmac.new(bytes.fromhex(nonce), canonical(value), hashlib.sha256).hexdigest()


def timestamp(moment: datetime) -> str:
    """``created_at`` as hashed: UTC, ISO 8601, microseconds (what both backends keep)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(
    *,
    seq: int,
    prev_hash: str,
    created_at: datetime,
    facts: Mapping[str, str | None],
    digests: Mapping[str, str | None],
) -> str:
    """SHA-256 of the canonical JSON of the record's facts, value digests and link."""
    body: dict[str, Any] = {
        "v": VERSION,
        "seq": seq,
        "prev_hash": prev_hash,
        "created_at": timestamp(created_at),
    }
    body.update({name: facts[name] for name in FACT_FIELDS})
    body.update({f"{name}_digest": digests[name] for name in VALUE_FIELDS})
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    """One audit row as the verifier reads it (values ``None`` when absent or erased)."""

    id: int
    seq: int
    prev_hash: str
    record_hash: str
    created_at: datetime
    facts: Mapping[str, str | None]
    values: Mapping[str, Any]
    nonces: Mapping[str, str | None]
    digests: Mapping[str, str | None]


@dataclass
class ChainWalk:
    """Walks the records in ``seq`` order and stops at the first that breaks the chain.

    ``anchor`` is a head (seq, hash) that an earlier walk saw: this walk must meet that
    record unchanged, or the log was cut short or rewritten since.
    """

    anchor: tuple[int, str] | None = None
    records: int = 0
    erased_values: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def finish(self) -> None:
        """After the last record: was the anchor reached?"""
        if self.ok and self.anchor is not None and self.head_seq < self.anchor[0]:
            self.problem = (
                f"the log ends at record {self.head_seq} of the sequence, before record "
                f"{self.anchor[0]} that an earlier verification saw: its end was removed"
            )

    def check(self, row: StoredRecord) -> bool:
        """Check one more record; False (with ``broken_id`` and ``problem``) if it breaks."""
        problem = self._problem(row)
        if problem is not None:
            self.broken_id, self.problem = row.id, problem
            return False
        self.records += 1
        self.head_seq, self.head_hash = row.seq, row.record_hash
        return True

    def _problem(self, row: StoredRecord) -> str | None:
        if row.seq != self.head_seq + 1:
            if row.seq <= self.head_seq:
                return f"sequence number {row.seq} repeated or out of order"
            return f"records {self.head_seq + 1}..{row.seq - 1} of the sequence are missing"
        if row.prev_hash != self.head_hash:
            return "does not link to the record before it (a record was removed or inserted)"
        expected = record_hash(
            seq=row.seq,
            prev_hash=row.prev_hash,
            created_at=row.created_at,
            facts=row.facts,
            digests=row.digests,
        )
        if expected != row.record_hash:
            return "its facts or value digests were changed"
        if (
            self.anchor is not None
            and row.seq == self.anchor[0]
            and (row.record_hash != self.anchor[1])
        ):
            return "differs from the record an earlier verification saw: the log was rewritten"
        for name in VALUE_FIELDS:
            problem = self._value_problem(name, row)
            if problem is not None:
                return problem
        return None

    def _value_problem(self, name: str, row: StoredRecord) -> str | None:
        value, nonce, digest = row.values.get(name), row.nonces.get(name), row.digests.get(name)
        if digest is None:
            return None if value is None and nonce is None else f"{name} was added"
        if nonce is None:
            if value is not None:
                return f"{name} was changed (its nonce is gone)"
            self.erased_values += 1
            return None
        if value is None or not hmac.compare_digest(value_digest(nonce, value), digest):
            return f"{name} was changed"
        return None
