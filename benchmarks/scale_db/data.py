"""The shape of the generated data: the program's campaign, the heavy donors and the
Pareto tail (clips per donor), clips per call, the payees, the tables the load fills
and the count medals."""

from __future__ import annotations

import numpy as np

CAMPAIGN = "video-donation-program"  # open-ended, points only (fixtures/campaigns.toml)
CONSENT = "2024-12-01"
INCIDENTS = ["package_theft", "car_door", "break_in", "vandalism", "loitering", "other"]
# The leader (as in the program: 201,531 clips), then nine more heavy donors.
HEAVY = [201_531, 90_000, 60_000, 45_000, 30_000, 20_000, 15_000, 12_000, 10_000, 8_000]
TAIL_CAP = 5_000  # the Pareto tail's largest donor
PAYEE_EVERY = 10  # every tenth donor (id % 10 == 3) has a payout destination and cash
LOADED_TABLES = [
    "donors", "submission_batches", "clips", "ledger_accounts", "ledger_transfers",
    "ledger_entries", "wall_tallies", "medal_awards",
]  # fmt: skip
COUNT_MEDALS = [
    ("apprentice", 1), ("watch-10", 10), ("watch-100", 100), ("watch-1000", 1000),
    ("watch-10000", 10_000), ("watch-100000", 100_000),
]  # fmt: skip


def clip_counts(donors: int, clips: int, seed: int = 17) -> np.ndarray:
    """Clips per donor (index 0 is donor 1): the heavy donors, then a Pareto tail of
    mostly a handful each, adding up to ``clips`` exactly."""
    scale = clips / 10_000_000
    heavy = np.array([max(1, int(c * scale)) for c in HEAVY][: donors - 1], dtype=np.int64)
    rest_n = donors - len(heavy)
    target = clips - int(heavy.sum())
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.3, rest_n)  # Lomax: 0 upwards, heavy tailed

    def counts_for(k: float) -> np.ndarray:
        return np.minimum(TAIL_CAP, 1 + np.floor(weights * k)).astype(np.int64)

    low, high = 0.0, 1_000.0
    for _ in range(60):
        middle = (low + high) / 2
        if counts_for(middle).sum() < target:
            low = middle
        else:
            high = middle
    rest = counts_for(low)
    diff = target - int(rest.sum())
    if diff > 0:
        rest[rng.choice(rest_n, size=diff, replace=False)] += 1
    elif diff < 0:
        candidates = np.flatnonzero(rest > 1)
        rest[rng.choice(candidates, size=-diff, replace=False)] -= 1
    counts = np.concatenate([heavy, rest])
    assert int(counts.sum()) == clips and counts.min() >= 1
    return counts


def batch_sizes(counts: np.ndarray) -> np.ndarray:
    """Clips per call: heavy donors send 500 at a time, occasional donors one or two."""
    return np.select(
        [counts >= 20_000, counts >= 2_000, counts >= 200, counts >= 20],
        [500, 100, 25, 5],
        default=2,
    ).astype(np.int64)


def typical_donor(counts: np.ndarray) -> int:
    """A public, active donor, not a payee, with the tail's median number of clips."""
    median = int(np.median(counts[10:]))
    for index in range(5_000, len(counts)):
        donor = index + 1
        ordinary = donor % 10 < 7 and donor % PAYEE_EVERY != 3  # public, not a payee
        ordinary = ordinary and donor % 1000 != 999 and donor % 500 != 250  # active, no hold
        if counts[index] == median and ordinary:
            return donor
    return len(counts)
