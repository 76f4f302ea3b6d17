"""The Honor Wall in Redis: one set of sorted sets per board, a projection of the database.

Keys of one board share a hash tag, so that Redis Cluster keeps them in one slot
(multi-key scripts and the rebuild's atomic swap stay legal) while different boards
can live on different shards::

    {ns:wall:<board>}:listed    sorted set: donors shown on public pages
    {ns:wall:<board>}:shadow    sorted set: ranked but not shown (hidden, under review)
    {ns:wall:<board>}:versions  hash: member -> version of the last write applied
    {ns:wall:<board>}:rev       counter: bumped by every change (the ETag)
    {ns:wall:profiles}          hash: member -> what public pages show for the donor
    {ns:wall:applied}           list: outbox row ids written after their commit, which
                                the wall-drain job marks applied in the database

Members are opaque ids derived from the donor id (never a name). Every write sets
a donor's value as computed from the database, guarded by a version: a write older
than the last one applied is ignored, so drains racing each other, retries and
replays can never leave a stale or double-counted value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

from rewards_engine.domain.wall import TIME_SPAN
from rewards_engine.redis_client import script_batch
from rewards_engine.redis_wall_scripts import (
    APPLY,
    FILL,
    PAGE,
    PROFILE,
    PROFILES_IF_ABSENT,
    STANDING,
    SWAP,
    TAKE_APPLIED,
)

MEMBER_BASE = 10**12 - 1  # members sort so that, on equal scores, lower ids come first


class Placement(StrEnum):
    LISTED = "listed"
    SHADOW = "shadow"
    REMOVED = "removed"


def member_of(donor_id: int) -> str:
    return f"{MEMBER_BASE - donor_id:012d}"


def donor_of(member: str) -> int:
    return MEMBER_BASE - int(member)


def _pairs(flat: list[Any]) -> list[tuple[int, float]]:
    """``[member, score, member, score, ...]`` as ``(donor id, score)`` pairs."""
    return [(donor_of(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]


@dataclass(frozen=True)
class BoardKeys:
    listed: str
    shadow: str
    versions: str
    rev: str
    temp_listed: str
    temp_shadow: str
    temp_versions: str

    @property
    def live(self) -> list[str]:
        return [self.listed, self.shadow, self.versions, self.rev]


@dataclass(frozen=True)
class Update:
    board: str
    donor_id: int
    version: int
    placement: Placement
    score: float = 0.0


@dataclass(frozen=True)
class PageRead:
    rev: int
    total: int
    entries: list[tuple[int, float]]  # (donor id, score), best first
    first_rank: int | None
    profiles: dict[int, dict[str, Any]]


@dataclass(frozen=True)
class StandingRead:
    rev: int
    total: int  # listed donors
    listed: bool
    score: float | None  # None: not on the board
    position: int | None  # 0-based among listed donors (where they would be, if unlisted)
    higher_count: int  # listed donors with strictly more clips
    window_start: int  # position of the first entry of ``entries``
    entries: list[tuple[int, float]]
    first_rank: int | None
    profiles: dict[int, dict[str, Any]]


class HonorWall:
    """One process's access to the boards; keep one per process (it caches names)."""

    PROFILE_TTL_S = 5.0  # how stale a renamed donor's name may be on public pages
    PROFILE_CACHE_MAX = 200_000
    APPLIED_MAX = 200_000  # bounds the list while the wall-drain job is not running

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._apply = client.register_script(APPLY)
        self._swap = client.register_script(SWAP)
        self._fill = client.register_script(FILL)
        self._profiles_if_absent = client.register_script(PROFILES_IF_ABSENT)
        self._page = client.register_script(PAGE)
        self._standing = client.register_script(STANDING)
        self._profile = client.register_script(PROFILE)
        self._take_applied = client.register_script(TAKE_APPLIED)
        self._profiles: dict[int, tuple[float, dict[str, Any] | None]] = {}

    def keys(self, board: str) -> BoardKeys:
        tag = f"{{{self.namespace}:wall:{board}}}"
        return BoardKeys(
            listed=f"{tag}:listed",
            shadow=f"{tag}:shadow",
            versions=f"{tag}:versions",
            rev=f"{tag}:rev",
            temp_listed=f"{tag}:rebuild:listed",
            temp_shadow=f"{tag}:rebuild:shadow",
            temp_versions=f"{tag}:rebuild:versions",
        )

    @property
    def profiles_key(self) -> str:
        return f"{{{self.namespace}:wall:profiles}}"

    @property
    def applied_key(self) -> str:
        return f"{{{self.namespace}:wall:applied}}"

    def apply(
        self,
        updates: Sequence[Update],
        profiles: dict[int, dict[str, Any] | None],
        outbox_ids: Sequence[int] = (),
    ) -> int:
        """Write updates (guarded by version) and public profiles; returns how many applied.

        ``outbox_ids``, the rows these writes apply, are then listed for
        :meth:`take_applied` (the drain after a commit leaves marking them in the
        database to the job): in a round trip of their own, once every write answered
        without an error, since a pipeline runs the commands after a failed one. The
        list keeps the newest ``APPLIED_MAX``; a row dropped from it is only applied
        again.
        """
        pipe = script_batch(self.client)
        for update in updates:
            keys = self.keys(update.board)
            self._apply(
                keys=[keys.listed, keys.shadow, keys.versions, keys.rev],
                args=[
                    member_of(update.donor_id),
                    update.version,
                    update.placement.value,
                    repr(int(update.score)),
                ],
                client=pipe,  # type: ignore[arg-type]  # ImmediateBatch has what a Script calls
            )
        for donor_id, profile in profiles.items():
            self._profiles.pop(donor_id, None)
            if profile is None:
                pipe.hdel(self.profiles_key, member_of(donor_id))
            else:  # versioned like the boards: an older state never overwrites a newer
                self._profile(
                    keys=[self.profiles_key],
                    args=[member_of(donor_id), json.dumps(profile), profile["v"]],
                    client=pipe,  # type: ignore[arg-type]  # ImmediateBatch has what a Script calls
                )
        results = pipe.execute()
        if outbox_ids:
            listing = self.client.pipeline(transaction=False)  # one key: one slot
            listing.rpush(self.applied_key, *outbox_ids)
            listing.ltrim(self.applied_key, -self.APPLIED_MAX, -1)
            listing.execute()
        return sum(1 for result in results[: len(updates)] if result == 1)

    def take_applied(self, limit: int) -> list[int]:
        """Up to ``limit`` outbox row ids listed by :meth:`apply`, oldest first, removed
        from the list (lost if the caller fails before marking them: applied again)."""
        return [int(i) for i in self._take_applied(keys=[self.applied_key], args=[limit])]

    def profiles(self, donors: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Public profiles of listed donors, from a short-lived cache or Redis."""
        now = time.monotonic()
        found: dict[int, dict[str, Any]] = {}
        missing = []
        for donor in donors:
            cached = self._profiles.get(donor)
            if cached is None or cached[0] <= now:
                missing.append(donor)
            elif cached[1] is not None:
                found[donor] = cached[1]
        if missing:
            if len(self._profiles) > self.PROFILE_CACHE_MAX:
                self._profiles.clear()
            raw = self.client.hmget(self.profiles_key, [member_of(d) for d in missing])
            for donor, value in zip(missing, raw, strict=True):
                profile = None if value is None else json.loads(value)
                self._profiles[donor] = (now + self.PROFILE_TTL_S, profile)
                if profile is not None:
                    found[donor] = profile
        return found

    def read_page(self, board: str, offset: int, limit: int) -> PageRead:
        keys = self.keys(board)
        rev, total, rows, higher = self._page(
            keys=[keys.listed, keys.rev], args=[offset, limit, TIME_SPAN]
        )
        entries = _pairs(rows)
        return PageRead(
            int(rev), int(total), entries, int(higher) + 1, self.profiles([d for d, _ in entries])
        )

    def read_standing(self, board: str, donor_id: int, around: int) -> StandingRead:
        """A donor's place and the listed donors around it, in one round trip.

        The window always reaches one entry above the donor (to tell how many clips
        pass them). Unlisted donors (hidden, under review) get the place they would
        have among the listed ones.
        """
        keys = self.keys(board)
        rev, total, listed, score, position, higher, start, rows, first_higher = self._standing(
            keys=[keys.listed, keys.shadow, keys.rev],
            args=[member_of(donor_id), around, TIME_SPAN],
        )
        entries = _pairs(rows)
        return StandingRead(
            rev=int(rev),
            total=int(total),
            listed=bool(int(listed)),
            score=float(score) if score else None,
            position=int(position) if score else None,
            higher_count=int(higher),
            window_start=int(start),
            entries=entries,
            first_rank=int(first_higher) + 1,
            profiles=self.profiles([d for d, _ in entries]),
        )

    def rank_of(self, board: str, donor_id: int) -> int | None:
        """The donor's competition rank (listed or not), None if not on the board."""
        read = self.read_standing(board, donor_id, 0)
        return None if read.score is None else read.higher_count + 1

    def rev(self, board: str) -> int:
        return int(self.client.get(self.keys(board).rev) or 0)

    def rebuild(
        self,
        board: str,
        rows: Iterable[tuple[int, Placement, float, int, str | None]],
        batch: int = 10_000,
    ) -> int:
        """Fill temporary keys from ``(donor, placement, score, version, profile)`` rows
        and swap them in atomically; listed donors' public profiles (JSON, as ``apply``
        writes them) are written too where missing (they are lost with the boards if
        Redis loses its data). Returns donors written.

        ``rows`` may be a stream of any length: it is written ``batch`` rows at a time,
        two script calls a batch, the previous batch's round trip overlapping the
        packing of the next. Memory is bounded by two batches. Readers keep the old
        board until the swap; a rebuild that dies leaves only temporary keys, which the
        next one deletes first.
        """
        keys = self.keys(board)
        self.client.delete(keys.temp_listed, keys.temp_shadow, keys.temp_versions)
        temp = [keys.temp_listed, keys.temp_shadow, keys.temp_versions]
        count = 0
        lines: list[str] = []
        profiles: list[str] = []
        with ThreadPoolExecutor(1, thread_name_prefix="wall-rebuild-write") as writer:
            sent: Future[None] | None = None
            for donor_id, placement, score, version, profile in rows:
                member = member_of(donor_id)
                if placement == Placement.LISTED:
                    lines.append(f"{member} {version} l {int(score)}")
                    if profile is not None:
                        profiles.append(f"{member} {profile}")
                elif placement == Placement.SHADOW:
                    lines.append(f"{member} {version} s {int(score)}")
                else:
                    lines.append(f"{member} {version} r 0")
                count += 1
                if len(lines) >= batch:
                    if sent is not None:
                        sent.result()  # one batch in flight at most
                    sent = writer.submit(self._write_batch, board, temp, lines, profiles)
                    lines, profiles = [], []
            if sent is not None:
                sent.result()
        self._write_batch(board, temp, lines, profiles)
        self._swap(
            keys=[
                keys.temp_listed,
                keys.temp_shadow,
                keys.temp_versions,
                keys.listed,
                keys.shadow,
                keys.versions,
                keys.rev,
            ],
        )
        return count

    def _write_batch(
        self, board: str, temp: list[str], lines: list[str], profiles: list[str]
    ) -> None:
        """One batch of a rebuild: its lines into the temporary keys, its profiles."""
        pipe = script_batch(self.client)  # a pipeline, or one by one on a cluster
        if lines:
            self._fill(
                keys=temp,
                args=["\n".join(lines)],
                client=pipe,  # type: ignore[arg-type]  # ImmediateBatch has what a Script calls
            )
        if profiles:
            self._profiles_if_absent(
                keys=[self.profiles_key],
                args=["\n".join(profiles)],
                client=pipe,  # type: ignore[arg-type]  # ImmediateBatch has what a Script calls
            )
        results = pipe.execute()
        if lines and results[0] != len(lines):  # a line the script could not read
            raise ValueError(f"rebuild of {board}: {results[0]} of {len(lines)} rows written")

    def expire_in(self, board: str, seconds: int) -> None:
        """Let a board's keys expire (a relative TTL: the engine's clock decides when)."""
        keys = self.keys(board)
        pipe = self.client.pipeline(transaction=False)
        for key in keys.live:
            pipe.expire(key, max(seconds, 1))
        pipe.execute()

    def exists(self, board: str) -> bool:
        keys = self.keys(board)
        return bool(self.client.exists(keys.listed, keys.shadow, keys.rev))
