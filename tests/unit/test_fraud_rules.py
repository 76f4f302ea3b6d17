"""Fraud statistics and the near-duplicate search, checked against brute force."""

import random

import pytest

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.fraud import (
    HashSet,
    RuleConfig,
    Severity,
    hamming,
    modified_z_scores,
    near_matches,
    near_pairs,
    validate_rule,
)


def test_modified_z_uses_the_median_and_mad() -> None:
    values = [2, 3, 3, 4, 4, 5, 100]
    z = modified_z_scores(values)
    # median 4, deviations 2 1 1 0 0 1 96 -> MAD 1
    assert z[-1] == pytest.approx(0.6745 * 96)
    assert z[3] == 0
    assert sum(1 for s in z if s > 3.5) == 1


def test_modified_z_falls_back_to_the_mean_absolute_deviation() -> None:
    values = [5, 5, 5, 5, 5, 5, 40]  # MAD is 0
    z = modified_z_scores(values)
    mean_ad = 35 / 7
    assert z[-1] == pytest.approx(35 / (1.253314 * mean_ad))
    assert z[0] == 0


def test_a_cohort_without_spread_singles_nobody_out() -> None:
    assert modified_z_scores([7, 7, 7]) == [0.0, 0.0, 0.0]
    assert modified_z_scores([]) == []


def test_severity_rises_with_the_score() -> None:
    rule = RuleConfig("cohort_outlier", severity=Severity.MEDIUM, high_at=20)
    assert rule.severity_for(5) is Severity.MEDIUM
    assert rule.severity_for(20) is Severity.HIGH
    assert rule.param("max_z") == 3.5
    assert RuleConfig("cohort_outlier", params={"max_z": 5}).param("max_z") == 5


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"severity": "extreme"}, "severity"),
        ({"high_at": -1}, "high_at"),
        ({"params": {"nope": 1}}, "params.nope"),
        ({"params": {"min_daily_clips": -5}}, "params.min_daily_clips"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_rule_settings_are_validated(values, field) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_rule("cohort_outlier", values)
    assert caught.value.field == field


def _random_hash(rng: random.Random) -> int:
    return rng.getrandbits(64)


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), bits):
        value ^= 1 << bit
    return value


@pytest.mark.parametrize("max_distance", [3, 5, 7])
def test_near_pairs_equal_brute_force(max_distance: int) -> None:
    rng = random.Random(max_distance)
    hashes, groups = [], []
    for n in range(400):
        base = _random_hash(rng)
        hashes.append(base)
        groups.append(n)
        if n % 4 == 0:  # a near copy on another camera
            hashes.append(_flip(base, rng.randint(0, 8), rng))
            groups.append(rng.choice([n, 10_000 + n]))
    items = HashSet.of(hashes, groups)
    expected = sorted(
        (i, j, hamming(hashes[i], hashes[j]))
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if hamming(hashes[i], hashes[j]) <= max_distance and groups[i] != groups[j]
    )
    assert expected  # the test plants some
    assert near_pairs(items, max_distance) == expected


def test_near_matches_find_new_against_old_only() -> None:
    rng = random.Random(1)
    old = [_random_hash(rng) for _ in range(300)]
    new = [_flip(old[5], 2, rng), _flip(old[7], 6, rng), _random_hash(rng)]
    found = near_matches(HashSet.of(old, range(300)), HashSet.of(new, [900, 901, 902]), 5)
    assert found == [(0, 5, 2)]


def test_one_camera_and_empty_hashes_are_left_out() -> None:
    same_camera = HashSet.of([0x0F0F_F0F0_1234_5678, 0x0F0F_F0F0_1234_5679], [1, 1])
    assert near_pairs(same_camera, 5) == []
    assert near_pairs(same_camera, 5, within_group=True) == [(0, 1, 1)]
    black = HashSet.of([0, 1, 3], [1, 2, 3])  # a black frame hashes to (almost) nothing
    assert near_pairs(black, 5) == []
