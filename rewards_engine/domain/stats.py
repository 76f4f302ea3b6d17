"""Small statistics the services need, on plain numbers."""

from __future__ import annotations

from collections.abc import Mapping


def histogram_median(counts: Mapping[int, int]) -> float:
    """The median of a multiset given as ``{value: how many times}``.

    A database can group a million rows down to a few dozen (value, frequency) pairs;
    the median of those pairs is the median of the rows, exactly.
    """
    total = sum(counts.values())
    if total == 0:
        return 0.0
    middle = [(total - 1) // 2, total // 2]  # 0-based ranks of the one or two middle values
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while len(found) < 2 and middle[len(found)] < seen:
            found.append(value)
        if len(found) == 2:
            break
    return (found[0] + found[1]) / 2
