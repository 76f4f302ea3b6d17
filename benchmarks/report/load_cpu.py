"""The figures block of the mobile mix's CPU per request (docs/performance.md, issue 23's
target 1): what each request costs the machine's cores, beside what the target leaves."""

from __future__ import annotations

from benchmarks.report import DATABASES, TIMES, Result, block, by_database, ms, num, table

# Issue 23's target 1: requests per second with p99 under 250 ms.
TARGETS = {"postgres": 600, "sqlite": 400}
SUBMISSIONS = "POST /v1/submissions"


def budget_ms(result: Result, key: str) -> float:
    """The processor time per request the target rate leaves on the machine's cores."""
    return int(result["machine"]["cores"]) * 1000 / TARGETS[key]


def best_step(run: Result) -> Result | None:
    """The step with the highest rate whose p99 stayed under 250 ms (load_mix names it
    by its connections), if any did."""
    return next((s for s in run["steps"] if s["connections"] == run["at_connections"]), None)


@block("load_mix_cpu")
def load_mix_cpu(result: Result) -> list[str]:
    cores = int(result["machine"]["cores"])
    lines = [f"Mix: {result['mix']}; {num(result['donors'])} donors.", ""]
    rows = []
    for key, label in DATABASES.items():
        run = result[key]
        for step in run["steps"]:
            cpu = step["cpu_ms_per_request"]
            cells = [
                f"{label}, {step['connections']}",
                num(step["requests_per_s"], 1),
                f"{ms(step['p99_ms'])} ms",
                num(step["cores_busy"], 2),
                ms(cpu["app"]),
                ms(cpu["database"]) if key == "postgres" else "(in the app)",
                ms(cpu["redis"]),
                ms(cpu["scheduler"] + cpu["load"]),
                ms(cpu["total"]),
            ]
            rows.append([f"**{c}**" for c in cells] if step is best_step(run) else cells)
    lines += table(
        ["database, connections", "req/s", "p99", "cores busy", "app (gunicorn, streams)",
         "database", "Redis", "scheduler and wrk", "all"],
        rows,
    )  # fmt: skip
    lines.append("")
    lines.append(
        "CPU in milliseconds per request; the bold step is the highest rate with p99 "
        "under 250 ms. What the issue's rates leave for every process on "
        f"{cores} cores, beside what the mix took at that step and what a bare route "
        "of the same server took in the same run:"
    )
    lines.append("")
    budget_rows = []
    for key, label in DATABASES.items():
        run = result[key]
        target = TARGETS[key]
        budget = budget_ms(result, key)
        chosen = best_step(run)
        took = chosen["cpu_ms_per_request"]["total"] if chosen else None
        budget_rows.append(
            [
                label,
                f"{num(target)} req/s: {ms(budget)} ms",
                f"{ms(took)} ms ({num(took / budget, 1)}{TIMES} the budget)"
                if took is not None
                else "no step had p99 under 250 ms",
                f"{ms(run['bare_route_cpu_ms_per_request']['total'])} ms",
            ]
        )
    lines += table(
        ["", "the target's budget per request", "the mix took", "a bare route took"],
        budget_rows,
    )
    return lines


@block("mix_costs")
def mix_costs(result: Result) -> list[str]:
    """Each kind of request's app CPU and its part in a mix request's."""
    runs = by_database(result)
    header = ["request", "share of the mix"]
    for label in runs:
        header += [f"{label}: app CPU (statements)", "per mix request"]
    rows = []
    for kind, share in result["shares_percent"].items():
        row = [f"`{kind}`", f"{share} %"]
        for run in runs.values():
            cost = run["requests"][kind]
            part = cost["cpu_ms_mean"] * share / 100
            whole = run["mix_app_cpu_ms_per_request"]
            row += [
                f"{ms(cost['cpu_ms_mean'])} ms ({num(cost['statements_per_request'], 1)})",
                f"{ms(part)} ms ({num(100 * part / whole)} %)",
            ]
        rows.append(row)
    total = ["all, weighted", "100 %"]
    for run in runs.values():
        total += ["", f"{ms(run['mix_app_cpu_ms_per_request'])} ms"]
    rows.append([f"**{cell}**" if cell else cell for cell in total])
    share = result["shares_percent"][SUBMISSIONS] / 100
    parts = []
    for key, label in DATABASES.items():
        if key in result:
            part = result[key]["requests"][SUBMISSIONS]["cpu_ms_mean"] * share
            parts.append(
                f"{label} {ms(part)} ms of the app's processor per mix request, against "
                f"{ms(budget_ms(result, key))} ms for every process at "
                f"{num(TARGETS[key])} requests/s"
            )
    return [*table(header, rows), "", "Submissions alone: " + "; ".join(parts) + "."]
