"""The figures block of docs/fraud.md: what the fraud rules catch among planted cases and
honest donors, before and after a change."""

from __future__ import annotations

from benchmarks.report import Result, block, num, table

PLANTED_CASES = {"camera-first": "the moved camera's first holder"}


def detection(run: Result) -> list[str]:
    """One row of the detection table: one backend's run."""
    missed = [
        f"`{n}`" + (f", {PLANTED_CASES[n]}" if n in PLANTED_CASES else "")
        for n in run["planted_missed"]
    ]
    found = f"{run['planted_found']} / {run['planted']}" + (
        f" ({'; '.join(missed)} missed)" if missed else ""
    )
    flagged = run["honest_flagged"]
    total = flagged["ordinary"] + flagged["keen"]
    rules = ", ".join(f"`{rule}`" for rule in run["honest_flagged_by_rule"])
    honest = f"{num(total)} of {num(run['honest_donors'])}" + (
        f" ({flagged['keen']} keen and {flagged['ordinary']} ordinary; {rules})" if total else ""
    )
    heavy = run["heavy_donor"]

    def shown(rule: str, flag: Result) -> str:
        evidence = flag["strongest_evidence"]
        if evidence.get("measure") == "per_camera_day":
            what = f"{num(evidence['value'], 2)} clips a camera a day"
        elif evidence.get("measure") == "per_camera":
            what = f"{num(evidence['value'])} clips a camera"
        elif "z" in evidence:
            what = f"z {num(evidence['z'], 1)}"
        else:
            what = f"score {num(flag['score'], 1)}"
        return f"`{rule}` {flag['severity']}, {what}"

    flags = sorted(heavy["flags"].items())
    high = [shown(rule, f) for rule, f in flags if f["severity"] == "high"]
    others = [shown(rule, f) for rule, f in flags if f["severity"] != "high"]
    held = f"held ({'; '.join(high)})" if heavy["held"] else "not held"
    return [found, honest, num(run["honest_held"]), "; ".join([held, *others])]


@block("fraud_detection", "fraud_detection_before", "fraud_detection")
def fraud_detection(before: Result, after: Result) -> list[str]:
    people = after["population"]
    if people != before["population"] or after["seed"] != before["seed"]:
        raise ValueError("the before and after detection runs differ in their population")
    keen_low, keen_high = people["keen_clips"]
    rows = [
        [f"before (commit `{before['commit']}`)", *detection(before["sqlite"])],
        [f"after (commit `{after['commit']}`)", *detection(after["sqlite"])],
    ]
    runs = {"before": before, "after": after}
    differ = [
        f"{label}: " + ", ".join(detection(run["postgres"]))
        for label, run in runs.items()
        if detection(run["postgres"]) != detection(run["sqlite"])
    ]
    postgres = (
        "On PostgreSQL " + "; ".join(differ) + "."
        if differ
        else "PostgreSQL gives the same figures, before and after."
    )
    return [
        f"Seed {after['seed']}, {after['days']} days: {num(people['ordinary'])} ordinary donors, "
        f"{people['keen']} keen one-camera donors with {keen_low}-{keen_high} clips in the two "
        f"months, the heavy donor ({people['heavy_per_day']} clips a day on "
        f"{people['heavy_cameras']} cameras) and the planted cases; one full scan, on SQLite.",
        "",
        *table(
            ["", "planted found", "ordinary/keen donors flagged", "ordinary/keen donors held",
             "heavy donor"],
            rows,
        ),
        "",
        postgres,
    ]  # fmt: skip
