"""How long the whole test suite takes: ``python3 dev.py test``, as the README runs it
(embedded: a SQLite file and an embedded Redis) and as CI runs it on real servers
(PostgreSQL and Redis), one after the other, never beside another suite.

Each run records its wall time, pytest's own time (the tests, without the set-up of the
environment), its counts, the load average before and after (a busy machine shows in
them) and its ten slowest steps.

    python -m benchmarks.suite_time [--only embedded|postgres]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from benchmarks.common import POSTGRES, ROOT, report

CONFIGURATIONS = {
    "embedded": {},
    "postgres": {"TEST_DATABASE_URL": POSTGRES, "TEST_REDIS_URL": "redis://127.0.0.1:6379/0"},
}
SUMMARY = re.compile(r"^=*\s*(?P<counts>\d+ passed.*?) in (?P<seconds>[\d.]+)s", re.MULTILINE)
DURATION = re.compile(r"^(?P<seconds>[\d.]+)s (?P<step>call|setup|teardown)\s+(?P<test>\S+)$")


def run_suite(name: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(CONFIGURATIONS[name])
    load_before = os.getloadavg()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "dev.py", "test", "-q", "-p", "no:cacheprovider", "--durations=10"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    summary = SUMMARY.search(done.stdout)
    if done.returncode != 0 or summary is None:
        sys.exit(f"the {name} suite failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    kinds = re.findall(r"(\d+) (passed|skipped|xfailed|deselected)", summary["counts"])
    counts = {kind: int(number) for number, kind in kinds}
    slowest = [
        {"test": m["test"], "step": m["step"], "seconds": float(m["seconds"])}
        for m in map(DURATION.match, done.stdout.splitlines())
        if m
    ]
    return {
        "configuration": name,
        "wall_s": round(wall, 1),
        "pytest_s": float(summary["seconds"]),
        "counts": counts,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "slowest": slowest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(CONFIGURATIONS))
    args = parser.parse_args()
    names = [args.only] if args.only else list(CONFIGURATIONS)
    runs = [run_suite(name) for name in names]
    report("suite_time", {"target_s": 300, "workers": min(4, os.cpu_count() or 1), "runs": runs},
           save=args.only is None)  # fmt: skip


if __name__ == "__main__":
    main()
