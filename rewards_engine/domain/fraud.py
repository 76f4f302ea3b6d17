"""Fraud rules: their configuration, robust statistics and the near-duplicate search.

Rules only ever open flags. A high-severity flag puts the donor on hold (not paid, not
on the wall, earnings kept pending); a person confirms or dismisses it. Nothing here
rejects, reverses or bans on its own.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import combinations
from typing import Any

import numpy as np

from rewards_engine.domain.errors import InvalidInput


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high").index(self.value)


class FlagStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


# Each rule, with the parameters it understands and their defaults (the fixtures and
# admins override them). Thresholds are data; the code only knows their meaning.
RULE_PARAMETERS: dict[str, dict[str, float]] = {
    "velocity": {"max_utilisation": 1.0, "max_clips_per_camera_day": 0},
    "cohort_outlier": {"min_daily_clips": 50, "max_z": 3.5},
    "exact_duplicate": {},
    "near_duplicate": {"max_distance": 5, "within_camera": 0},
    "staging_fanout": {"window_s": 30, "min_events": 3},
    "shared_identity": {"max_moves": 3},
    "backfill_dump": {"min_age_days": 30, "min_clips": 100},
    "staged_share": {
        "min_clips": 30,
        "min_share": 0.6,
        "min_clips_per_camera_day": 5,
        "window_days": 30,
        "max_z": 3.5,
    },
}


@dataclass(frozen=True)
class RuleConfig:
    """One rule as configured: which version, how severe, and its thresholds.

    ``high_at``: a finding scoring at least this is high severity (and holds the
    donor) whatever the base severity. ``dismissal_covers``: once a flag is dismissed,
    later evidence of the same kind is covered up to this multiple of what was
    dismissed (a genuine heavy donor is not flagged again every day for the same
    volume); without it only the same evidence is covered.
    """

    code: str
    version: int = 1
    enabled: bool = True
    severity: Severity = Severity.MEDIUM
    high_at: float | None = None
    dismissal_covers: float | None = None
    params: Mapping[str, float] = field(default_factory=dict)

    def severity_for(self, score: float) -> Severity:
        if self.high_at is not None and score >= self.high_at:
            return Severity.HIGH
        return self.severity

    def param(self, name: str) -> float:
        return float(self.params.get(name, RULE_PARAMETERS[self.code][name]))


def validate_rule(code: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's settings checked and normalised, or :class:`InvalidInput` naming the
    field (an admin edits them through the API)."""
    if code not in RULE_PARAMETERS:
        raise InvalidInput(f"no fraud rule {code!r}", code="unknown_rule", field="code")
    out: dict[str, Any] = {}
    if "severity" in values:
        try:
            out["severity"] = Severity(values["severity"]).value
        except ValueError:
            raise InvalidInput("severity is low, medium or high", field="severity") from None
    for name in ("high_at", "dismissal_covers"):
        if name in values:
            value = values[name]
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise InvalidInput(f"{name} is a positive number or null", field=name)
            out[name] = value
    if "enabled" in values:
        if not isinstance(values["enabled"], bool):
            raise InvalidInput("enabled is true or false", field="enabled")
        out["enabled"] = values["enabled"]
    if "params" in values:
        params = values["params"] or {}
        known = RULE_PARAMETERS[code]
        for name, value in params.items():
            if name not in known:
                raise InvalidInput(
                    f"{code} has no parameter {name!r} (it has: {', '.join(known) or 'none'})",
                    field=f"params.{name}",
                )
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InvalidInput("a parameter is a number >= 0", field=f"params.{name}")
        if code == "near_duplicate" and params.get("max_distance", 5) > MAX_DISTANCE:
            raise InvalidInput(
                f"max_distance is at most {MAX_DISTANCE}", field="params.max_distance"
            )
        out["params"] = dict(params)
    return out


# --- robust statistics ------------------------------------------------------------------


def modified_z_scores(values: Sequence[float]) -> list[float]:
    """Iglewicz and Hoaglin's modified z-score, 0.6745·(x - median)/MAD; when MAD is 0
    (most of the cohort alike), (x - median)/(1.253314·MeanAD). A cohort with no spread
    at all singles nobody out."""
    if not values:
        return []
    median = statistics.median(values)
    deviations = [abs(v - median) for v in values]
    mad = statistics.median(deviations)
    if mad > 0:
        return [0.6745 * (v - median) / mad for v in values]
    mean_ad = sum(deviations) / len(deviations)
    if mean_ad > 0:
        return [(v - median) / (1.253314 * mean_ad) for v in values]
    return [0.0] * len(values)


# --- near-duplicate search (multi-index hashing) -----------------------------------------

# 64-bit perceptual hashes are cut into three bands. Two hashes within distance d differ
# in at most floor(d/3) bits in at least one band (pigeonhole), so probing each band's
# exact value and its one-bit neighbours finds every pair within 5 bits; the bands are
# long enough (21-22 bits) that a probe meets few strangers up to millions of hashes.
BANDS = ((0, 21), (21, 21), (42, 22))
MAX_DISTANCE = 8  # radius 2 per band: 254 probes a band, slower but exact
MIN_SET_BITS, MAX_SET_BITS = 8, 56  # near-constant hashes (black frames) match anything


@dataclass(frozen=True)
class HashSet:
    """Hashes with their owners' group (the camera): pairs within a group are skipped."""

    hashes: np.ndarray  # uint64
    groups: np.ndarray  # int64

    @classmethod
    def of(cls, hashes: Sequence[int], groups: Sequence[int]) -> HashSet:
        return cls(
            np.array([h & 0xFFFFFFFFFFFFFFFF for h in hashes], dtype=np.uint64),
            np.array(groups, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.hashes)


def informative(hashes: np.ndarray) -> np.ndarray:
    """Hashes with enough bits set either way to mean something."""
    bits = np.bitwise_count(hashes)
    keep: np.ndarray = (bits >= MIN_SET_BITS) & (bits <= MAX_SET_BITS)
    return keep


def _probe_masks(width: int, radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(width), r)]
    return np.array(masks, dtype=np.uint64)


def _band(hashes: np.ndarray, start: int, width: int) -> np.ndarray:
    return (hashes >> np.uint64(start)) & np.uint64((1 << width) - 1)


def _matches(
    index: np.ndarray, queries: np.ndarray, max_distance: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Candidate (query, index) position pairs sharing a band up to the probe radius.

    Each band's values address a table of 2^21-2^22 buckets directly (index positions
    grouped by bucket, with each bucket's start and size), so a probe is two array
    gathers, not a search.
    """
    radius = max_distance // len(BANDS)
    for start, width in BANDS:
        keys = _band(index, start, width).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        sizes = np.bincount(keys, minlength=1 << width)
        starts = np.cumsum(sizes) - sizes
        query_keys = _band(queries, start, width)
        for mask in _probe_masks(width, radius):
            probe = (query_keys ^ mask).astype(np.int64)
            counts = sizes[probe]
            total = int(counts.sum())
            if not total:
                continue
            hit = np.flatnonzero(counts)
            counts, first = counts[hit], starts[probe[hit]]
            query_pos = np.repeat(hit, counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            yield query_pos, order[np.repeat(first, counts) + offsets]


def _close(
    a: np.ndarray, b: np.ndarray, query: HashSet, index: HashSet, d: int, within: bool
) -> np.ndarray:
    distance = np.bitwise_count(query.hashes[a] ^ index.hashes[b])
    keep: np.ndarray = distance <= d
    if not within:
        keep &= query.groups[a] != index.groups[b]
    return keep


def near_pairs(
    items: HashSet, max_distance: int, *, within_group: bool = False
) -> list[tuple[int, int, int]]:
    """Every pair (i, j, distance), i < j, of informative hashes at most ``max_distance``
    apart, of different groups unless ``within_group``."""
    usable = np.flatnonzero(informative(items.hashes))
    subset = HashSet(items.hashes[usable], items.groups[usable])
    found: set[tuple[int, int]] = set()
    for a, b in _matches(subset.hashes, subset.hashes, max_distance):
        keep = (a < b) & _close(a, b, subset, subset, max_distance, within_group)
        found.update(zip(usable[a[keep]].tolist(), usable[b[keep]].tolist(), strict=True))
    return sorted((i, j, _distance(items, i, items, j)) for i, j in found)


def near_matches(
    index: HashSet, queries: HashSet, max_distance: int, *, within_group: bool = False
) -> list[tuple[int, int, int]]:
    """Every (query position, index position, distance) within ``max_distance``: new
    clips against those already scanned, without comparing the old ones again."""
    q_usable = np.flatnonzero(informative(queries.hashes))
    i_usable = np.flatnonzero(informative(index.hashes))
    q = HashSet(queries.hashes[q_usable], queries.groups[q_usable])
    i = HashSet(index.hashes[i_usable], index.groups[i_usable])
    found: set[tuple[int, int]] = set()
    for a, b in _matches(i.hashes, q.hashes, max_distance):
        keep = _close(a, b, q, i, max_distance, within_group)
        found.update(zip(q_usable[a[keep]].tolist(), i_usable[b[keep]].tolist(), strict=True))
    return sorted((qi, ii, _distance(queries, qi, index, ii)) for qi, ii in found)


def _distance(left: HashSet, i: int, right: HashSet, j: int) -> int:
    return int(np.bitwise_count(left.hashes[i] ^ right.hashes[j]))


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


@dataclass(frozen=True)
class Finding:
    """One piece of evidence against one donor, as a scan found it.

    ``key`` identifies the evidence (the same key never flags the donor twice);
    ``magnitude`` is what a dismissal covers; ``clip_ids`` are the clips a
    confirmation reverses (none for purely statistical evidence).
    """

    rule: str
    donor_id: int
    key: str
    score: float
    magnitude: float
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    clip_ids: tuple[int, ...] = ()


def tier(count: float) -> int:
    """The doubling a count has reached (64-127 -> 6). Evidence that keeps growing (a
    day's clips as the day goes on) is keyed by it: the same evidence at the same scale
    is not news, twice as much is."""
    return max(int(count), 1).bit_length() - 1


# Rules whose flag score is how many pieces of evidence it holds (copies found), not the
# largest single score.
COUNTING_RULES = frozenset({"exact_duplicate", "near_duplicate"})
