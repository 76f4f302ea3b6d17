"""The Honor Wall: keeping the Redis boards true to the database, and reading them.

A board in Redis is a projection: the database decides, Redis shows. The parts:

- ``outbox``: writes inside the caller's transaction. Use cases call ``record_*``;
  tallies, the donor's ``wall_version`` and an outbox row commit with their change.
- ``draining``: the placements are read before the commit and written to Redis after
  it; if Redis is down the rows wait for the ``wall-drain`` job, so nothing is lost.
- ``rebuilding``: recounts boards from the clips, for drift or a Redis that lost them.
- ``archive``: periods; closed weeks and months become snapshots in the database.
- ``read``: pages and standings, from Redis for live boards, from the archive after.
- ``boards``: what they share (which clips count, which boards are live, the client).

Callers use the names below (``wall.record_accepted(...)``); a test that patches an
internal patches the module that owns it.
"""

from rewards_engine.services.wall.archive import rollover
from rewards_engine.services.wall.boards import LIVE_GRACE, hall, is_live, page_cache
from rewards_engine.services.wall.draining import (
    DrainReport,
    WallPrepared,
    drain,
    handle_events,
    prepare_events,
    purge_outbox,
)
from rewards_engine.services.wall.outbox import (
    WallChanged,
    boards_of_acceptance,
    record_accepted,
    record_donor_changed,
    record_donors_changed,
    record_reversed,
    type_key,
)
from rewards_engine.services.wall.read import (
    MAX_AROUND,
    Viewer,
    WallEntry,
    WallPage,
    WallStanding,
    all_time_rank,
    read_page,
    read_standing,
)
from rewards_engine.services.wall.rebuilding import ensure_built, live_boards, rebuild, rebuild_live

__all__ = [
    "LIVE_GRACE",
    "MAX_AROUND",
    "DrainReport",
    "Viewer",
    "WallChanged",
    "WallEntry",
    "WallPage",
    "WallPrepared",
    "WallStanding",
    "all_time_rank",
    "boards_of_acceptance",
    "drain",
    "ensure_built",
    "hall",
    "handle_events",
    "is_live",
    "live_boards",
    "page_cache",
    "prepare_events",
    "purge_outbox",
    "read_page",
    "read_standing",
    "rebuild",
    "rebuild_live",
    "record_accepted",
    "record_donor_changed",
    "record_donors_changed",
    "record_reversed",
    "rollover",
    "type_key",
]
