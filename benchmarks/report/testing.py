"""The figures block of docs/testing.md: the whole suite's time."""

from __future__ import annotations

from benchmarks.report import Result, block, num, secs, table, verdict


def clock_time(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


@block("suite_time")
def suite_time(result: Result) -> list[str]:
    labels = {"embedded": "embedded (SQLite, embedded Redis)", "postgres": "PostgreSQL and Redis"}
    target = result["target_s"]
    rows = []
    for run in result["runs"]:
        counts = run["counts"]
        rows.append([
            labels[run["configuration"]],
            f"{counts.get('passed', 0)} passed, {counts.get('skipped', 0)} skipped",
            clock_time(run["pytest_s"]),
            clock_time(run["wall_s"]),
            verdict(f"≤ {clock_time(target)}", run["wall_s"] <= target),
            " / ".join(num(x, 2) for x in run["load_average_before"]),
        ])  # fmt: skip
    slowest = max(result["runs"], key=lambda run: run["pytest_s"])
    steps = [
        f"`{step['test']}` ({step['step']}, {secs(step['seconds'])} s)"
        for step in slowest["slowest"][:5]
    ]
    return [
        f"`python3 dev.py test`, one configuration after the other, {result['workers']} "
        "pytest-xdist workers, nothing else running:",
        "",
        *table(
            [
                "configuration",
                "tests",
                "pytest",
                "whole command",
                "target",
                "load before (1/5/15 min)",
            ],
            rows,
            "llrrll",
        ),
        "",
        f"The slowest steps ({labels[slowest['configuration']]}): " + "; ".join(steps) + ".",
    ]
