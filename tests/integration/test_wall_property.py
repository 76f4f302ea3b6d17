"""Property: whatever happens, the live Honor Wall equals one rebuilt from the database."""

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards_engine.domain.actors import Actor
from rewards_engine.domain.submissions import ClipInput
from rewards_engine.services import clip_review, holds, submissions, wall
from rewards_engine.services import donors as donor_service
from tests.support.factories import CONSENT, add_campaign, consenting_donor, load_program, sha

SUPPORT = Actor(id="support:prop", role="support")
operation = st.one_of(
    st.tuples(st.just("submit"), st.integers(0, 3), st.integers(1, 3)),
    st.tuples(st.just("reverse"), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("hold"), st.integers(0, 3), st.booleans()),
    st.tuples(
        st.just("visibility"), st.integers(0, 3), st.sampled_from(["public", "alias", "hidden"])
    ),
    st.tuples(st.just("tick"), st.integers(0, 3), st.sampled_from([0, 1, 3600, 86400 * 8])),
)
examples = itertools.count()


def snapshot(runtime, names):  # type: ignore[no-untyped-def]
    hall = wall.hall(runtime)
    result = {}
    for name in names:
        keys = hall.keys(name)
        result[name] = (
            runtime.redis.zrevrange(keys.listed, 0, -1, withscores=True),
            sorted(runtime.redis.zrange(keys.shadow, 0, -1, withscores=True)),
        )
    return result


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_live_board_equals_rebuilt_board(runtime, clock, operations) -> None:
    if next(examples) == 0:
        load_program(runtime)
        add_campaign(runtime, id="prop", starts_at=clock.now() - timedelta(days=400), ends_at=None)
    tag = next(examples)
    ids = [consenting_donor(runtime, f"p{tag}-{n}") for n in range(4)]
    accepted: dict[int, list[int]] = {donor: [] for donor in ids}
    for kind, who, value in operations:
        donor = ids[who]
        if kind == "submit":
            clips = [
                ClipInput(
                    sha(),
                    f"e-{sha()[:8]}",
                    "package_theft",
                    "cam",
                    clock.now() - timedelta(minutes=1),
                    30.0,
                    False,
                )
                for _ in range(value)
            ]
            result = submissions.submit(
                runtime.db,
                runtime.clock,
                Actor("donor:x", "donor"),
                donor,
                submissions.SubmissionRequest("prop", CONSENT, clips),
            )
            accepted[donor] += [o.clip_id for o in result.outcomes if o.status == "accepted"]
        elif kind == "reverse" and accepted[donor]:
            clip_id = accepted[donor].pop(value % len(accepted[donor]))
            clip_review.reverse_clip(runtime.db, runtime.clock, SUPPORT, clip_id, "property test")
        elif kind == "hold":
            holds.set_hold(runtime.db, runtime.clock, SUPPORT, donor, value, "property test")
        elif kind == "visibility":
            donor_service.update_profile(
                runtime.db, runtime.clock, donor, donor_service.ProfileChanges(visibility=value)
            )
        elif kind == "tick":
            clock.advance(timedelta(seconds=value))
    names = wall.live_boards(runtime)
    live = snapshot(runtime, names)
    for name in names:
        wall.rebuild(runtime, name)
    assert snapshot(runtime, names) == live
