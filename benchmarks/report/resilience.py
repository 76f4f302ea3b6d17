"""The figures blocks of docs/resilience.md: a hung Redis and slow clients."""

from __future__ import annotations

from benchmarks.report import TIMES, Result, block, secs, table


@block("redis_hung", "redis_hung_before", "redis_hung")
def redis_hung(before: Result, after: Result) -> list[str]:
    def calls(entry: Result) -> str:
        statuses = "/".join(str(s) for s in dict.fromkeys(entry["statuses"]))
        return ", ".join(secs(s) for s in entry["seconds"]) + f" ({statuses})"

    def label(call: str) -> str:
        route, _, note = call.partition(", ")
        return f"`{route}`" + (f", {note}" if note else "")

    count = len(next(iter(after["calls"].values()))["seconds"])
    header = ["call", f"before ({count} calls, s)"]
    header.append(f"after, budget {after['budget_ms']} ms ({count} calls, s)")
    rows = [
        [label(call), calls(before["calls"][call]), calls(entry)]
        for call, entry in after["calls"].items()
    ]
    return table(header, rows)


@block("slow_clients")
def slow_clients(result: Result) -> list[str]:
    labels = {
        "gunicorn directly": "straight to gunicorn",
        "nginx in front": "nginx in front (`serve --behind-proxy`)",
    }
    timeout = result["healthz_timeout_s"]
    rows = [
        [
            labels.get(name, name),
            ", ".join(secs(s) for s in f["healthz_s"]),
            secs(max(f["healthz_s"])),
            sum(1 for s in f["healthz_s"] if s >= timeout),
        ]
        for name, f in result["figures"].items()
    ]
    return [
        f"{result['clients']} slow clients (`Content-Length: {result['content_length']}`, then a "
        f"byte every {result['drip_every_s']} s); gunicorn {result['gunicorn_workers']} workers "
        f"{TIMES} {result['gunicorn_threads']} threads; `/healthz` called {result['rounds']} "
        f"times, one call after another, by a client that waits {timeout} s at most.",
        "",
        *table(
            ["", "`/healthz` while the clients drip, s", "slowest, s", f"no answer in {timeout} s"],
            rows,
            "lrrr",
        ),
    ]
