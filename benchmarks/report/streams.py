"""The figures block of docs/performance.md: open live event streams beside the mix."""

from __future__ import annotations

from benchmarks.report import TIMES, Result, block, mib, ms, num, table


@block("event_streams")
def event_streams(result: Result) -> list[str]:
    runs = result["runs"]
    rows = [
        [
            label,
            num(run["requests_per_s"], 1),
            ms(run["p50_ms"]),
            ms(run["p99_ms"]),
            num(run["errors"]),
            " / ".join(num(x, 2) for x in run["load_average_before"]),
        ]
        for label, run in runs.items()
    ]
    ratio = result["ratio_with_to_without"]
    rss = result["stream_process_rss_bytes"]
    events = result["events_received"]
    streams = result["streams"]
    per_stream = (rss["streams_open"] - rss["idle"]) / max(result["streams_opened"], 1)
    return [
        f"Mix: {result['mix']}; {num(result['donors'])} donors; gunicorn "
        f"{result['gunicorn_workers']} workers and the scheduler; `wrk` "
        f"{result['wrk_connections']} connections, {result['seconds_per_run']} s a run; "
        f"PostgreSQL and the Redis server; all on the same 2 cores.",
        "",
        *table(
            [
                "ordinary requests",
                "req/s",
                "p50, ms",
                "p99, ms",
                "non-2xx",
                "load before (1/5/15 min)",
            ],
            rows,
            "lrrrrl",
        ),
        "",
        f"With {num(streams)} streams open against without (the mean of the two runs "
        f"without): p50 {num(ratio['p50'], 2)}{TIMES}, p99 {num(ratio['p99'], 2)}{TIMES}, "
        f"requests per second {num(ratio['requests_per_s'], 2)}{TIMES}.",
        "",
        f"Streams: {num(result['streams_opened'])} of {num(streams)} opened in "
        f"{num(result['seconds_to_open_streams'], 1)} s, {num(result['streams_open_at_end'])} "
        f"still open at the end; they received {num(events.get('standing', 0))} standing and "
        f"{num(events.get('notification', 0))} notification events and "
        f"{num(events.get('heartbeat', 0))} heartbeats (every {result['heartbeat_s']} s). "
        f"The stream process's resident memory: {mib(rss['idle'])} idle, "
        f"{mib(rss['streams_open'])} with the streams open ({num(per_stream / 1024)} KiB a "
        f"stream), {mib(rss['after_the_mix'])} after the mix.",
    ]
