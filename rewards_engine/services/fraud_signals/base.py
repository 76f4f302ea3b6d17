"""What every fraud signal shares: the scope of a scan, the index of perceptual hashes
kept between scans, a signal's signature, and the helpers that read what new clips
touched and the clips each piece of evidence names."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, LargeBinary, and_, case, func, literal, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.domain.fraud import Finding, RuleConfig
from rewards_engine.models import Clip

log = logging.getLogger(__name__)
COUNTED = ("accepted", "pending_review")  # clips that earn or may earn
CLIP_ID_LIMIT = 5_000  # clips named by one piece of evidence, at most


@dataclass(frozen=True)
class Scope:
    """Which clips a scan reads: all, or those with ``after_id < id <= up_to_id``."""

    full: bool
    after_id: int
    up_to_id: int
    now: datetime | None = None  # the scan's time: rules measured over a window end here

    def new(self) -> ColumnElement[bool]:
        return and_(col(Clip.id) > self.after_id, col(Clip.id) <= self.up_to_id)


Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # clip ids, camera codes, hashes
# Rows read in one statement at most: the hashes come back as one value (PostgreSQL),
# kept well below its 1 GB limit for a value (24 bytes a row).
LOAD_CHUNK = 5_000_000
# PostgreSQL: a load of at least this many ids is split over this many connections at
# once (the server packs each part in a process of its own).
PARALLEL_FROM, LOAD_CONNECTIONS = 200_000, 2
# One row of the packed value: the clip's id, its camera's code, its hash (big-endian).
_PACKED = np.dtype([("id", ">i8"), ("camera", ">i8"), ("hash", ">i8")])


@dataclass
class HashIndex:
    """The perceptual hashes already scanned, kept by the scheduler between scans so an
    incremental scan compares new clips without reading a million old ones again.

    The first scan after a restart reads them all. On PostgreSQL the server packs them
    into one binary value a part (:func:`_packed_rows`), read straight into arrays: no
    Python object a row; the parts of a large load are read on two connections at once.
    """

    up_to_id: int = -1
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cameras: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    camera_codes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _wanted(where: ColumnElement[bool]) -> tuple[ColumnElement[bool], ...]:
        return (
            where,
            col(Clip.perceptual_hash).is_not(None),
            col(Clip.status).in_(COUNTED),
            # Only hashes computed from the video (by the engine, or the maker's
            # pipeline): an app's own claim could be chosen to dodge the rule.
            col(Clip.intake) != "imported",
        )

    def rows(self, session: Session, where: ColumnElement[bool]) -> Rows:
        """The clips of ``where`` whose hash the rule compares: ids, cameras as codes
        (equal for the same camera), hashes as unsigned 64-bit."""
        wanted = self._wanted(where)
        if session.get_bind().dialect.name == "postgresql":
            return _packed_rows(session, wanted)
        result = session.execute(
            select(col(Clip.id), col(Clip.camera_id), col(Clip.perceptual_hash)).where(*wanted)
        ).all()
        codes = self.camera_codes
        ids = np.fromiter((r[0] for r in result), dtype=np.int64, count=len(result))
        cameras = np.fromiter(
            (codes.setdefault(r[1], len(codes)) for r in result), dtype=np.int64, count=len(result)
        )
        hashes = np.fromiter(
            # the query keeps only clips with a hash: the check narrows the type, drops none
            (r[2] & 0xFFFFFFFFFFFFFFFF for r in result if r[2] is not None),
            dtype=np.uint64,
            count=len(result),
        )
        return ids, cameras, hashes

    def reset(self) -> None:
        fresh = HashIndex()
        self.up_to_id, self.ids = fresh.up_to_id, fresh.ids
        self.cameras, self.hashes, self.camera_codes = fresh.cameras, fresh.hashes, {}

    def append(self, rows: Rows, up_to_id: int) -> None:
        ids, cameras, hashes = rows
        self.ids = np.concatenate([self.ids, ids])
        self.cameras = np.concatenate([self.cameras, cameras])
        self.hashes = np.concatenate([self.hashes, hashes])
        self.up_to_id = up_to_id

    def load_behind(self, bind: Engine, up_to_id: int) -> threading.Thread | None:
        """Start reading what this index lacks up to ``up_to_id`` in a thread of its own
        (PostgreSQL), the index's lock held until it is done: the first scan after a
        restart runs its other rules meanwhile, and the near-duplicate rule waits for
        the rest. Best effort: should the read fail, the rule reads what is missing."""
        if up_to_id <= self.up_to_id or bind.dialect.name != "postgresql":
            return None
        self.lock.acquire()

        def load() -> None:
            try:
                with Session(bind) as session:
                    self.extend(session, up_to_id)
            except Exception:
                log.exception("reading the hash index failed: the rule reads it itself")
            finally:
                self.lock.release()

        thread = threading.Thread(target=load, name="fraud-hash-index", daemon=True)
        thread.start()
        return thread

    def extend(self, session: Session, up_to_id: int) -> None:
        """Load what this index lacks, up to ``up_to_id`` (all of it, the first time),
        in parts of at most ``LOAD_CHUNK`` ids."""
        if up_to_id <= self.up_to_id:
            return
        parts = _parts(self.up_to_id, up_to_id)
        bind = session.get_bind()
        if len(parts) == 1 or bind.dialect.name != "postgresql":
            for after, end in parts:
                self.append(self.rows(session, _between(after, end)), end)
            return

        def load(part: tuple[int, int]) -> Rows:
            with Session(bind) as own:  # a connection of its own: a server process too
                return _packed_rows(own, self._wanted(_between(*part)))

        with ThreadPoolExecutor(LOAD_CONNECTIONS) as pool:
            for (_, end), rows in zip(parts, pool.map(load, parts), strict=True):
                self.append(rows, end)


def _between(after: int, end: int) -> ColumnElement[bool]:
    return and_(col(Clip.id) > after, col(Clip.id) <= end)


def _parts(after: int, up_to_id: int) -> list[tuple[int, int]]:
    """``after < id <= up_to_id`` cut into equal parts: at most ``LOAD_CHUNK`` ids each,
    and ``LOAD_CONNECTIONS`` of them for a load of ``PARALLEL_FROM`` ids or more."""
    first = max(after, 0)
    span = up_to_id - first
    count = max(-(-span // LOAD_CHUNK), LOAD_CONNECTIONS if span >= PARALLEL_FROM else 1)
    ends = [first + span * (n + 1) // count for n in range(count)]
    return list(zip([after, *ends[:-1]], ends, strict=True))


def _packed_rows(session: Session, wanted: Sequence[ColumnElement[bool]]) -> Rows:
    """PostgreSQL: the rows as one ``bytea`` the server builds, 24 bytes a row (the id,
    the camera's 64-bit text hash as its code, the perceptual hash), unpacked with
    NumPy. Two cameras would need the same 64-bit hash of their serial to be taken for
    one: about one chance in 10^7 with a million cameras."""
    packed = session.scalar(
        select(
            func.string_agg(
                func.int8send(col(Clip.id))
                .op("||")(func.int8send(func.hashtextextended(col(Clip.camera_id), 0)))
                .op("||")(func.int8send(col(Clip.perceptual_hash))),
                literal(b"", LargeBinary),
            )
        ).where(*wanted)
    )
    rows = np.frombuffer(packed or b"", dtype=_PACKED)
    return (
        rows["id"].astype(np.int64),
        rows["camera"].astype(np.int64),
        rows["hash"].astype(np.int64).view(np.uint64),
    )


Signal = Callable[[Session, RuleConfig, Scope, HashIndex], list[Finding]]


def _counted() -> ColumnElement[bool]:
    return col(Clip.status).in_(COUNTED)


UNREGISTERED = "?unregistered"


def camera_as_counted(camera: Any, rule: Any) -> ColumnElement[Any]:
    """A clip's camera as the camera-counting rules count it: where its campaign
    reviews cameras not registered to their donor, every such serial is one and the
    same unverified camera (serials a donor invents do not add cameras); elsewhere, and
    before the registry, the serial sent."""
    return case((rule == "review", literal(UNREGISTERED)), else_=camera)


def _clip_ids(
    session: Session,
    wanted: Iterable[Hashable],
    where: Sequence[Any],
    columns: Sequence[Any],
    keys_of: Callable[[Any], Iterable[Hashable]],
) -> dict[Hashable, tuple[int, ...]]:
    """The clips each piece of evidence names, read in one query for all of them (not
    one per finding: the leader's 200,000 clips would be read hundreds of times)."""
    found: dict[Hashable, list[int]] = {key: [] for key in wanted}
    if found:
        rows = session.execute(select(col(Clip.id), *columns).where(*where).order_by(col(Clip.id)))
        for row in rows:
            for key in keys_of(row):
                ids = found.get(key)
                if ids is not None and len(ids) < CLIP_ID_LIMIT:
                    ids.append(row.id)
    return {key: tuple(ids) for key, ids in found.items()}


def _new_values(session: Session, scope: Scope, column: Any) -> list[Any]:
    return list(session.scalars(select(column).where(scope.new()).distinct()))


def _earliest_new(session: Session, scope: Scope, column: Any) -> datetime | None:
    """Read the new clips' values, not ``min()``: PostgreSQL would walk the column's
    index from the start, past a million old rows, to find the first new one."""
    values = list(session.scalars(select(column).where(scope.new(), column.is_not(None))))
    return min(values) if values else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bucket_start(text: str, window: str) -> datetime:
    pattern = "%Y-%m-%d %H" if window == "hour" else "%Y-%m-%d"
    return datetime.strptime(text, pattern).replace(tzinfo=UTC)
