"""The Honor Wall's rebuild: streamed from the tallies a chunk of donors at a time, the
same board whatever the chunk; and the recount that corrects tallies which drifted from
the clips, out of the rebuild's path (``--recount``, the nightly job)."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.jobs import find_job
from rewards_engine.models import Clip, WallTally
from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import run_job
from rewards_engine.services import donors as donor_service
from rewards_engine.services import holds, submissions, wall
from rewards_engine.services.wall.draining import DonorState
from rewards_engine.services.wall.rebuilding import profile_json
from tests.support.factories import CONSENT, add_campaign, consenting_donor, load_program, sha

SUPPORT = Actor(id="support:rebuild", role="support")
VISIBILITY = ["public", "alias", "hidden", "public", "public", "alias", "public"]


@pytest.fixture
def people(runtime: Runtime, clock) -> list[int]:  # type: ignore[no-untyped-def]
    """Seven donors with 1 to 7 clips: listed, hidden, one on hold, one with none left."""
    load_program(runtime)
    add_campaign(runtime, id="rebuild", starts_at=clock.now() - timedelta(days=30), ends_at=None)
    ids = []
    for n, visibility in enumerate(VISIBILITY):
        donor = consenting_donor(runtime, f"rebuild-{n}")
        donor_service.update_profile(
            runtime.db,
            runtime.clock,
            donor,
            donor_service.ProfileChanges(display_name=f"Zoë O'Neil {n}", visibility=visibility),
        )
        submit(runtime, clock, donor, n + 1)
        clock.advance(timedelta(seconds=5))
        ids.append(donor)
    holds.set_hold(runtime.db, runtime.clock, SUPPORT, ids[3], True, "rebuild test")
    return ids


def submit(runtime: Runtime, clock, donor: int, count: int) -> None:  # type: ignore[no-untyped-def]
    clips = [
        ClipInput(
            sha(), f"e-{sha()[:8]}", "package_theft", "cam", clock.now() - timedelta(minutes=1),
            30.0, False,
        )
        for _ in range(count)
    ]  # fmt: skip
    submissions.submit(
        runtime.db,
        runtime.clock,
        Actor("donor:x", "donor"),
        donor,
        submissions.SubmissionRequest("rebuild", CONSENT, clips),
    )


def board_state(runtime: Runtime, name: str) -> tuple[object, ...]:
    """Everything a rebuild writes for a board: both sets, the versions, the profiles."""
    hall = wall.hall(runtime)
    keys, redis = hall.keys(name), runtime.redis
    return (
        redis.zrevrange(keys.listed, 0, -1, withscores=True),
        sorted(redis.zrange(keys.shadow, 0, -1, withscores=True)),
        redis.hgetall(keys.versions),
        redis.hgetall(hall.profiles_key),
    )


def counted(runtime: Runtime, donor: int) -> int:
    with runtime.db.read() as session:
        return session.scalar(
            select(func.count()).where(Clip.donor_id == donor, Clip.status == "accepted")
        )


def tally(runtime: Runtime, name: str, donor: int) -> int | None:
    with runtime.db.read() as session:
        return session.scalar(
            select(WallTally.clips).where(WallTally.board == name, WallTally.donor_id == donor)
        )


def test_small_chunks_build_the_same_board_as_one_chunk(runtime, people) -> None:
    names = [name for name in wall.live_boards(runtime) if tallied(runtime, name)]
    assert len(names) == 4  # all-time, the campaign, this week and this month
    for name in names:
        live = board_state(runtime, name)
        wall.rebuild(runtime, name)  # one chunk holds every donor
        whole = board_state(runtime, name)
        assert whole[:2] == live[:2]  # the property test's claim, on this population
        runtime.redis.delete(wall.hall(runtime).profiles_key)  # rewritten by the rebuild
        placed: list[tuple[int, int | None]] = []
        result = wall.rebuild(
            runtime,
            name,
            chunk=2,
            on_progress=lambda _step, done, total, into=placed: into.append((done, total)),
        )
        assert board_state(runtime, name) == whole
        assert result["members"] == len(people)
        assert placed == [(2, 7), (4, 7), (6, 7), (7, 7)]  # four chunks of at most two donors


def tallied(runtime: Runtime, name: str) -> int:
    with runtime.db.read() as session:
        return session.scalar(select(func.count()).where(WallTally.board == name))


def test_batches_of_one_row_swap_in_the_same_board(runtime, people) -> None:
    hall = wall.hall(runtime)
    wall.rebuild(runtime, "all-time")
    before = board_state(runtime, "all-time")
    hall.rebuild("all-time", iter([]))  # nothing: the board is emptied, not left as it was
    assert board_state(runtime, "all-time")[:3] == ([], [], {})
    original = hall.rebuild

    def by_one(name, rows, batch=10_000):  # type: ignore[no-untyped-def]
        return original(name, rows, batch=1)

    hall.rebuild = by_one  # type: ignore[method-assign]
    try:
        wall.rebuild(runtime, "all-time", chunk=3)
    finally:
        hall.rebuild = original  # type: ignore[method-assign]
    assert board_state(runtime, "all-time") == before


def test_the_rebuild_reads_the_tallies_and_the_recount_corrects_them(runtime, people) -> None:
    listed = wall.hall(runtime).keys("all-time").listed
    leader, hidden, gone = people[6], people[2], people[0]
    assert counted(runtime, leader) == 7
    with runtime.db.transaction() as uow:  # drift a fault could leave: three ways
        uow.session.execute(
            update(WallTally)
            .where(WallTally.board == "all-time", WallTally.donor_id == leader)
            .values(clips=70)
        )
        uow.session.execute(
            delete(WallTally).where(WallTally.board == "all-time", WallTally.donor_id == hidden)
        )
        uow.session.execute(update(Clip).where(Clip.donor_id == gone).values(status="reversed"))

    plain = wall.rebuild(runtime, "all-time")  # the tallies, as they are: no recount
    assert plain["corrected_tallies"] == 0
    assert int(runtime.redis.zscore(listed, member(leader))) >> 31 == 70
    assert runtime.redis.zscore(listed, member(gone)) is not None  # its tally still says 1
    shadow = wall.hall(runtime).keys("all-time").shadow
    assert runtime.redis.zscore(shadow, member(hidden)) is None  # no tally: not on the board

    recounted = wall.rebuild(runtime, "all-time", recount=True, chunk=2)  # across chunks
    assert recounted["corrected_tallies"] == 3
    assert tally(runtime, "all-time", leader) == 7
    assert tally(runtime, "all-time", hidden) == 3
    assert tally(runtime, "all-time", gone) == 0
    assert int(runtime.redis.zscore(listed, member(leader))) >> 31 == 7
    assert runtime.redis.zscore(listed, member(gone)) is None
    assert int(runtime.redis.zscore(shadow, member(hidden))) >> 31 == 3
    assert wall.rebuild(runtime, "all-time", recount=True)["corrected_tallies"] == 0


def test_a_correction_reaches_redis_through_the_outbox_without_a_rebuild(runtime, people) -> None:
    from rewards_engine.services.wall.rebuilding import recount_tallies

    leader = people[6]
    with runtime.db.transaction() as uow:
        uow.session.execute(
            update(WallTally)
            .where(WallTally.board == "campaign:rebuild", WallTally.donor_id == leader)
            .values(clips=1)
        )
    wall.rebuild(runtime, "campaign:rebuild")
    listed = wall.hall(runtime).keys("campaign:rebuild").listed
    assert int(runtime.redis.zscore(listed, member(leader))) >> 31 == 1
    assert recount_tallies(runtime, "campaign:rebuild", chunk=3) == 1
    assert int(runtime.redis.zscore(listed, member(leader))) >> 31 == 7  # drained at commit


def test_the_nightly_job_recounts_and_the_lost_redis_path_does_not(runtime, people) -> None:
    leader = people[6]
    with runtime.db.transaction() as uow:
        uow.session.execute(
            update(WallTally)
            .where(WallTally.board == "all-time", WallTally.donor_id == leader)
            .values(clips=9)
        )
    runtime.redis.delete(*wall.hall(runtime).keys("all-time").live)  # Redis lost the board
    assert wall.ensure_built(runtime)
    assert tally(runtime, "all-time", leader) == 9  # rebuilt from the tallies as they are
    result = run_job(runtime, find_job("wall-rebuild"))
    assert result["corrected_tallies"] >= 1
    assert tally(runtime, "all-time", leader) == 7


def member(donor: int) -> str:
    from rewards_engine.redis_wall import member_of

    return member_of(donor)


@pytest.mark.parametrize(
    "name", ["Ada", 'Quote " and \\ back', "Zoë «ß» 日本", "line\nbreak\ttab", "\u2028", ""]
)
def test_the_rebuilds_profile_json_is_what_the_drain_writes(name: str) -> None:
    state = DonorState(12, "active", "public", False, name or None, "Alias 7", medals=3)
    profile = state.profile()
    assert profile is not None
    written = profile_json(profile["name"], 3, 12)
    assert written == json.dumps(profile)
    assert "\n" not in written  # the rebuild's line protocol relies on it
