"""The Honor Wall in Redis: one set of sorted sets per board, a projection of the database.

Keys of one board share a hash tag, so that Redis Cluster keeps them in one slot
(multi-key scripts and the rebuild's atomic swap stay legal) while different boards
can live on different shards::

    {ns:wall:<board>}:listed    sorted set: donors shown on public pages
    {ns:wall:<board>}:shadow    sorted set: ranked but not shown (hidden, under review)
    {ns:wall:<board>}:versions  hash: member -> version of the last write applied
    {ns:wall:<board>}:rev       counter: bumped by every change (the ETag)
    {ns:wall:profiles}          hash: member -> what public pages show for the donor

Members are opaque ids derived from the donor id (never a name). Every write sets
a donor's value as computed from the database, guarded by a version: a write older
than the last one applied is ignored, so drains racing each other, retries and
replays can never leave a stale or double-counted value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

MEMBER_BASE = 10**12 - 1  # members sort so that, on equal scores, lower ids come first


class Placement(StrEnum):
    LISTED = "listed"
    SHADOW = "shadow"
    REMOVED = "removed"


def member_of(donor_id: int) -> str:
    return f"{MEMBER_BASE - donor_id:012d}"


def donor_of(member: str) -> int:
    return MEMBER_BASE - int(member)


_APPLY = """
local current = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '-1')
if tonumber(ARGV[2]) <= current then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[3] == 'listed' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif ARGV[3] == 'shadow' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('INCR', KEYS[4])
return 1
"""

# KEYS: temp listed, temp shadow, temp versions, listed, shadow, versions, rev
_SWAP = """
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 3])
  else
    redis.call('DEL', KEYS[i + 3])
  end
end
return redis.call('INCR', KEYS[7])
"""


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
class DonorRead:
    rev: int
    total: int
    listed: bool
    score: float | None  # None: not on the board
    position: int | None  # 0-based among listed donors (where they would be, if unlisted)
    higher_count: int  # listed donors with strictly more clips


class HonorWall:
    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._apply = client.register_script(_APPLY)
        self._swap = client.register_script(_SWAP)

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

    def apply(self, updates: Sequence[Update], profiles: dict[int, dict[str, Any] | None]) -> int:
        """Write updates (guarded by version) and public profiles; returns how many applied."""
        pipe = self.client.pipeline(transaction=False)
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
                client=pipe,
            )
        for donor_id, profile in profiles.items():
            if profile is None:
                pipe.hdel(self.profiles_key, member_of(donor_id))
            else:
                pipe.hset(self.profiles_key, member_of(donor_id), json.dumps(profile))
        results = pipe.execute()
        return sum(1 for result in results[: len(updates)] if result == 1)

    def read_page(self, board: str, offset: int, limit: int) -> PageRead:
        keys = self.keys(board)
        pipe = self.client.pipeline(transaction=False)
        pipe.get(keys.rev)
        pipe.zcard(keys.listed)
        pipe.zrevrange(keys.listed, offset, offset + limit - 1, withscores=True)
        rev, total, rows = pipe.execute()
        entries = [(donor_of(member), score) for member, score in rows]
        first_rank, profiles = None, {}
        if entries:
            first_rank, profiles = self._ranks_and_profiles(keys, entries)
        return PageRead(int(rev or 0), total, entries, first_rank, profiles)

    def _ranks_and_profiles(
        self, keys: BoardKeys, entries: list[tuple[int, float]]
    ) -> tuple[int, dict[int, dict[str, Any]]]:
        from rewards_engine.domain.wall import decode_clips, min_score_for

        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(keys.listed, min_score_for(decode_clips(entries[0][1]) + 1), "+inf")
        pipe.hmget(self.profiles_key, [member_of(donor) for donor, _ in entries])
        higher, raw_profiles = pipe.execute()
        profiles = {
            donor: json.loads(raw)
            for (donor, _), raw in zip(entries, raw_profiles, strict=True)
            if raw is not None
        }
        return higher + 1, profiles

    def read_donor(self, board: str, donor_id: int) -> DonorRead:
        from rewards_engine.domain.wall import decode_clips, min_score_for

        keys = self.keys(board)
        member = member_of(donor_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.get(keys.rev)
        pipe.zcard(keys.listed)
        pipe.zrevrank(keys.listed, member)
        pipe.zscore(keys.listed, member)
        pipe.zscore(keys.shadow, member)
        rev, total, position, listed_score, shadow_score = pipe.execute()
        score = listed_score if listed_score is not None else shadow_score
        if score is None:
            return DonorRead(int(rev or 0), total, False, None, None, 0)
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(keys.listed, min_score_for(decode_clips(score) + 1), "+inf")
        if position is None:  # where they would stand: after every higher score
            pipe.zcount(keys.listed, f"({int(score)}", "+inf")
        results = pipe.execute()
        higher = results[0]
        if position is None:
            position = results[1]
        return DonorRead(int(rev or 0), total, listed_score is not None, score, position, higher)

    def read_range(self, board: str, start: int, stop: int) -> PageRead:
        """Listed entries by position ``start`` to ``stop`` (inclusive), with ranks."""
        keys = self.keys(board)
        rows = self.client.zrevrange(keys.listed, max(start, 0), stop, withscores=True)
        entries = [(donor_of(member), score) for member, score in rows]
        first_rank, profiles = (None, {})
        if entries:
            first_rank, profiles = self._ranks_and_profiles(keys, entries)
        return PageRead(0, 0, entries, first_rank, profiles)

    def rev(self, board: str) -> int:
        return int(self.client.get(self.keys(board).rev) or 0)

    def rebuild(
        self, board: str, rows: Iterable[tuple[int, Placement, float, int]], batch: int = 10_000
    ) -> int:
        """Fill temporary keys from ``(donor, placement, score, version)`` rows and swap
        them in atomically; returns the number of donors written."""
        keys = self.keys(board)
        self.client.delete(keys.temp_listed, keys.temp_shadow, keys.temp_versions)
        count = 0
        pipe = self.client.pipeline(transaction=False)
        listed: dict[str, float] = {}
        shadow: dict[str, float] = {}
        versions: dict[str, int] = {}

        def flush() -> None:
            if listed:
                pipe.zadd(keys.temp_listed, listed)
            if shadow:
                pipe.zadd(keys.temp_shadow, shadow)
            if versions:
                pipe.hset(keys.temp_versions, mapping=versions)
            pipe.execute()
            listed.clear()
            shadow.clear()
            versions.clear()

        for donor_id, placement, score, version in rows:
            member = member_of(donor_id)
            versions[member] = version
            if placement == Placement.LISTED:
                listed[member] = score
            elif placement == Placement.SHADOW:
                shadow[member] = score
            count += 1
            if len(versions) >= batch:
                flush()
        flush()
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

    def remove_profile(self, donor_id: int) -> None:
        self.client.hdel(self.profiles_key, member_of(donor_id))
