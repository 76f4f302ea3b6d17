"""The engine's app plus one bare route, for the Honor Wall HTTP benchmark.

``/bare/honor-wall`` reads the same sorted-set range as ``GET /v1/honor-wall`` with
nothing else (no validation, ranks, names, schema or ETag): the ceiling the real
route is compared with, in the same gunicorn server.

    gunicorn 'benchmarks.wall_server:app'
"""

from __future__ import annotations

from flask import jsonify

from api import create_app
from api.context import runtime as current_runtime
from rewards_engine.services import wall

app = create_app()


@app.get("/bare/honor-wall")
def bare_wall():  # type: ignore[no-untyped-def]
    runtime = current_runtime()
    keys = wall.hall(runtime).keys("all-time")
    rows = runtime.redis.zrevrange(keys.listed, 0, 24, withscores=True)
    return jsonify([[member, score] for member, score in rows])
