"""The Honor Wall's Redis reads beside what Redis itself does with them (issue 23 item 6).

One board of ``--donors`` listed donors in the machine's Redis. ``redis-benchmark`` runs
the exact commands the engine sends: the bare route's range read (``ZREVRANGE`` of 25
with scores) and the donor's standing (``EVALSHA`` of the standing script), with one
client (the same round trip a worker makes) and with 50 (the server's capacity). The
engine's own standing read (``HonorWall.read_standing``: the script, its reply parsed,
names from the profile cache) runs in process on one client beside them. The ratio to
read: the engine's rate against ``redis-benchmark``'s with one client.

    python -m benchmarks.redis_limits [--donors 100000]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_database, report, settings_for
from rewards_engine.bootstrap import build_runtime
from rewards_engine.clock import SystemClock
from rewards_engine.domain import wall as rules
from rewards_engine.redis_wall import TIME_SPAN, member_of
from rewards_engine.services import wall

HOST, PORT = "127.0.0.1", 6379
REQUESTS = 100_000


def seed(runtime: Any, donors: int) -> None:
    """A heavy-tailed board written straight to Redis, with the public profiles."""
    hall = wall.hall(runtime)
    keys = hall.keys(rules.all_time().name)
    rng = random.Random(5)
    now = runtime.clock.now()
    pipe = runtime.redis.pipeline(transaction=False)
    for donor in range(1, donors + 1):
        clips = min(int(rng.paretovariate(1.3)), 50_000)
        pipe.zadd(keys.listed, {member_of(donor): rules.encode(clips, now, rules.all_time())})
        pipe.hset(
            hall.profiles_key, member_of(donor), f'{{"name": "Donor {donor}", "medals": 1, "v": 1}}'
        )
        if donor % 10_000 == 0:
            pipe.execute()
    pipe.execute()


def redis_benchmark(clients: int, *command: str) -> float:
    """Requests per second of ``command`` from ``redis-benchmark`` (Debian redis-tools)."""
    output = subprocess.run(
        ["redis-benchmark", "-h", HOST, "-p", str(PORT), "-c", str(clients),
         "-n", str(REQUESTS if clients > 1 else REQUESTS // 4), "--csv", *command],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = list(csv.reader(io.StringIO(output)))
    return float(rows[-1][1])


def engine_rate(runtime: Any, donors: int, samples: int) -> float:
    hall = wall.hall(runtime)
    rng = random.Random(3)
    ids = [rng.randrange(1, donors + 1) for _ in range(samples)]
    for donor in ids[:500]:
        hall.read_standing(rules.all_time().name, donor, 3)
    started = time.perf_counter()
    for donor in ids:
        hall.read_standing(rules.all_time().name, donor, 3)
    return samples / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--donors", type=int, default=100_000)
    args = parser.parse_args()
    with fresh_database("sqlite") as url, tempfile.TemporaryDirectory() as instance:
        runtime = build_runtime(
            settings_for(url, f"redis://{HOST}:{PORT}/0", Path(instance)), clock=SystemClock()
        )
        seed(runtime, args.donors)
        hall = wall.hall(runtime)
        keys = hall.keys(rules.all_time().name)
        script = hall._standing  # the registered standing script: its SHA
        script(keys=[keys.listed, keys.shadow, keys.rev], args=[member_of(1), 3, TIME_SPAN])
        member = member_of(random.Random(9).randrange(1, args.donors + 1))
        standing = ["EVALSHA", script.sha, "3", keys.listed, keys.shadow, keys.rev,
                    member, "3", str(TIME_SPAN)]  # fmt: skip
        page = ["ZREVRANGE", keys.listed, "0", "24", "WITHSCORES"]
        figures: dict[str, Any] = {"donors": args.donors}
        for clients in (1, 50):
            figures[f"zrevrange_25_clients_{clients}_per_s"] = redis_benchmark(clients, *page)
            figures[f"standing_script_clients_{clients}_per_s"] = redis_benchmark(
                clients, *standing
            )
        figures["engine_standing_one_client_per_s"] = round(
            engine_rate(runtime, args.donors, 20_000)
        )
        figures["engine_to_script_one_client"] = round(
            figures["engine_standing_one_client_per_s"]
            / figures["standing_script_clients_1_per_s"],
            3,
        )
        figures["script_to_range_one_client"] = round(
            figures["standing_script_clients_1_per_s"] / figures["zrevrange_25_clients_1_per_s"], 3
        )
        runtime.redis.delete(keys.listed, hall.profiles_key)
        runtime.close()
    report("redis_limits", figures, save=args.donors == 100_000)


if __name__ == "__main__":
    main()
