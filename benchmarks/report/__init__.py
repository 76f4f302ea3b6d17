"""The figures in the docs, generated from the benchmarks' results.

A figures block in README.md or docs/*.md is

    <!-- figures:NAME -->
    (generated: never edit it by hand)
    <!-- /figures -->

NAME is a key of BLOCKS, which names the files of benchmarks/results/ the block reads and
the function that renders them. Every block ends with the date and the machine of each
result it quotes, as the JSON records them.

    python -m benchmarks.report           # rewrite every block from the JSON
    python -m benchmarks.report --check   # change nothing; exit 1 if a block differs

This module holds what every renderer shares: the registry and the formatting helpers.
The renderers live in one module per doc (or part of one); driver.py imports them all,
then reads and rewrites the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Result = dict[str, Any]
Renderer = Callable[..., list[str]]


@dataclass(frozen=True)
class Block:
    sources: tuple[str, ...]  # files of benchmarks/results/, without ".json"
    render: Renderer  # one result per source -> the block's lines


BLOCKS: dict[str, Block] = {}


def block(name: str, *sources: str) -> Callable[[Renderer], Renderer]:
    """Register ``render`` as the block ``name``, reading ``sources`` (default: the result
    file of the same name)."""

    def register(render: Renderer) -> Renderer:
        BLOCKS[name] = Block(sources or (name,), render)
        return render

    return register


# --- formatting ------------------------------------------------------------------------

DATABASES = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
MIB = 2**20
TIMES = "\N{MULTIPLICATION SIGN}"
MINUS = "\N{MINUS SIGN}"


def num(value: float, places: int = 0) -> str:
    """``value`` rounded half up to ``places`` decimals, with thousands separators."""
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{rounded:,}"


def pct(ratio: float, places: int = 0) -> str:
    return f"{num(ratio * 100, places)} %"


def secs(value: float) -> str:
    """Seconds with the digits they need: 37.1, 0.33, 0.057."""
    return num(value, 1 if value >= 1 else 2 if value >= 0.1 else 3)


def mib(size: float) -> str:
    return f"{num(size / MIB)} MiB"


def superscript(power: int) -> str:
    return str(power).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def verdict(target: str, met: bool) -> str:
    return f"{target}: {'met' if met else '**missed**'}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> list[str]:
    """A Markdown table; ``align`` has a letter a column, ``l`` or ``r``."""
    rule = ["---:" if a == "r" else "---" for a in align or "l" * len(header)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def measured(source: str, result: Result) -> str:
    """When and on what machine ``result`` was measured; the commit of the code measured
    and the note on a figure recorded from elsewhere (``source``), where it has them."""
    path = f"`benchmarks/results/{source}.json`"
    machine = result.get("machine")
    if not machine:
        return f"{path}: the date and machine were not recorded."
    line = (
        f"{path}: measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}, {machine['system']}"
    )
    if "commit" in result:
        line += f", code at commit `{result['commit']}`"
    return line + "." + (f" {result['source']}" if "source" in result else "")


def by_database(result: Result) -> dict[str, Result]:
    """The result's parts per database, under their display names."""
    return {label: result[key] for key, label in DATABASES.items() if key in result}


def ms(value: float) -> str:
    """Milliseconds with the digits they need: 0.065, 0.63, 3.95, 10.1, 270, 1,005."""
    return num(value, 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 0.1 else 3)


def millions(count: float) -> str:
    """8.58M, 2.1M, 10M."""
    text = num(count / 1e6, 2 if count < 1e7 else 1 if count < 1e8 else 0)
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "M"


# Last: the driver imports every renderer module, and those import the names above.
from benchmarks.report.driver import main as main  # noqa: E402
from benchmarks.report.driver import regenerate as regenerate  # noqa: E402
