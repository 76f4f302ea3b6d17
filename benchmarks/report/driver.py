"""The driver: finds the figures blocks of README.md and docs/*.md, renders each from
benchmarks/results/*.json and rewrites or checks them. Importing it imports every renderer
module, so that every block is registered before a doc is read."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import benchmarks.report as package
from benchmarks.report import (
    BLOCKS,
    Result,
    audit,
    capacity,
    capacity_scenarios,
    fraud,
    gift_cards,
    load_cpu,
    measured,
    performance,
    resilience,
    scale_db,
    scale_db_applied,
    scale_db_jobs,
    scale_db_queries,
    scale_db_recommendations,
    streams,
    submission,
    testing,
    verification,
)

# The modules whose @block functions fill BLOCKS: imported for that alone.
RENDERERS = (
    audit,
    capacity,
    capacity_scenarios,
    fraud,
    gift_cards,
    load_cpu,
    performance,
    resilience,
    scale_db,
    scale_db_applied,
    scale_db_jobs,
    scale_db_queries,
    scale_db_recommendations,
    streams,
    submission,
    testing,
    verification,
)

ROOT = Path(__file__).resolve().parents[2]
# A block's markers are lines of their own (a marker quoted in a sentence is not one).
BLOCK = re.compile(
    r"^(?P<open><!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)^(?P<close><!-- /figures -->)$",
    re.DOTALL | re.MULTILINE,
)
OPENING = re.compile(r"^<!-- figures:", re.MULTILINE)


def load_results(directory: Path) -> dict[str, Result]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def render(name: str, results: dict[str, Result]) -> str:
    """The body of the block ``name``: its figures, then when and on what machine each of
    its sources was measured."""
    if name not in BLOCKS:
        raise ValueError(f"no renderer for the figures block {name!r}")
    spec = BLOCKS[name]
    missing = [source for source in spec.sources if source not in results]
    if missing:
        raise ValueError(f"figures block {name!r}: no benchmarks/results/{missing[0]}.json")
    lines = list(spec.render(*(results[source] for source in spec.sources)))
    for source in dict.fromkeys(spec.sources):
        lines += ["", measured(source, results[source])]
    return "\n" + "\n".join(lines) + "\n\n"


def regenerate(text: str, results: dict[str, Result]) -> str:
    """``text`` with every figures block rendered again from ``results``."""
    if len(OPENING.findall(text)) != len(BLOCK.findall(text)):
        raise ValueError("a <!-- figures:NAME --> line without its <!-- /figures --> line")
    return BLOCK.sub(lambda m: m["open"] + render(m["name"], results) + m["close"], text)


def stale_blocks(text: str, fresh: str) -> list[str]:
    old, new = BLOCK.findall(text), BLOCK.findall(fresh)
    return [o[1] for o, n in zip(old, new, strict=True) if o != n]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=package.__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a block differs"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (tests)")
    args = parser.parse_args(argv)
    results = load_results(args.root / "benchmarks" / "results")
    differ = 0
    for path in [args.root / "README.md", *sorted((args.root / "docs").glob("*.md"))]:
        if not path.exists():
            continue
        text = path.read_text()
        name = path.relative_to(args.root)
        try:
            fresh = regenerate(text, results)
        except (KeyError, ValueError) as error:
            print(f"{name}: {error}", file=sys.stderr)
            return 2
        if fresh == text:
            continue
        differ += 1
        blocks = ", ".join(stale_blocks(text, fresh))
        if args.check:
            print(f"{name}: figures {blocks} differ from benchmarks/results/*.json")
        else:
            path.write_text(fresh)
            print(f"{name}: figures {blocks} rewritten")
    if args.check and differ:
        print("run `python -m benchmarks.report` to rewrite them", file=sys.stderr)
        return 1
    return 0
