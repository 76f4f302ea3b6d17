"""The fraud rules that count cameras read the registry: an attested sale is not a
camera ring, a camera that keeps moving between accounts is evidence, and serials a
donor invents do not make room for more events in the fan-out rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from rewards_engine.models import FraudEvidence, FraudFlag
from rewards_engine.services import fraud
from tests.support.cameras import register_camera
from tests.support.factories import add_campaign, clip, consenting_donor, donate, load_program


@pytest.fixture(autouse=True)
def program(runtime) -> None:  # type: ignore[no-untyped-def]
    load_program(runtime)


def flags(runtime, rule: str) -> dict[int, FraudFlag]:  # type: ignore[no-untyped-def]
    with runtime.db.read() as session:
        found = session.scalars(select(FraudFlag).where(FraudFlag.rule == rule)).all()
    return {flag.donor_id: flag for flag in found}


def scan(runtime, clock):  # type: ignore[no-untyped-def]
    clock.advance(timedelta(minutes=1))
    return fraud.scan(runtime, full=True)


def test_an_attested_sale_is_not_a_ring_but_an_unattested_share_is(
    client, runtime, auth, clock
) -> None:
    campaign = add_campaign(runtime).id
    donors = {name: consenting_donor(runtime, name) for name in ("seller", "buyer", "friend")}
    register_camera(runtime, "seller", "SN-SOLD")
    donate(client, auth("seller"), 3, campaign=campaign, camera_id="SN-SOLD")
    clock.advance(timedelta(days=2))
    assert register_camera(runtime, "buyer", "SN-SOLD") == "moved"
    donate(client, auth("buyer"), 3, campaign=campaign, camera_id="SN-SOLD")
    # The friend donates from the buyer's camera, which is not registered to the friend.
    register_camera(runtime, "friend", "SN-FRIEND")
    donate(client, auth("friend"), 2, campaign=campaign, camera_id="SN-SOLD")
    scan(runtime, clock)
    ring = flags(runtime, "shared_identity")
    assert set(ring) == set(donors.values())  # the friend's use makes it a ring of three

    # Without the friend, the sale alone is no evidence.
    other = add_campaign(runtime).id
    for name in ("seller-2", "buyer-2"):
        consenting_donor(runtime, name)
    register_camera(runtime, "seller-2", "SN-SOLD-2")
    donate(client, auth("seller-2"), 3, campaign=other, camera_id="SN-SOLD-2")
    clock.advance(timedelta(days=2))
    register_camera(runtime, "buyer-2", "SN-SOLD-2")
    donate(client, auth("buyer-2"), 3, campaign=other, camera_id="SN-SOLD-2")
    scan(runtime, clock)
    with runtime.db.read() as session:
        keyed = session.scalars(
            select(FraudEvidence.key).where(FraudEvidence.rule == "shared_identity")
        ).all()
    assert "camera:SN-SOLD-2" not in keyed and "camera:SN-SOLD" in keyed


def test_a_camera_that_keeps_moving_is_evidence_even_if_each_move_is_attested(
    client, runtime, auth, clock
) -> None:
    campaign = add_campaign(runtime).id
    accounts = ["mover-a", "mover-b", "mover-c"]
    ids = {a: consenting_donor(runtime, a) for a in accounts}
    for turn in range(4):  # a -> b -> c -> a: three moves
        clock.advance(timedelta(hours=1))
        register_camera(runtime, accounts[turn % 3], "SN-HOT")
    donate(client, auth("mover-a"), 2, campaign=campaign, camera_id="SN-HOT")
    scan(runtime, clock)
    found = flags(runtime, "shared_identity")
    assert set(found) == {ids["mover-a"]}  # the only account that donated from it
    with runtime.db.read() as session:
        [evidence] = session.scalars(
            select(FraudEvidence).where(FraudEvidence.flag_id == found[ids["mover-a"]].id)
        ).all()
    assert evidence.details["moves"] == 3
    assert "3 moves" in found[ids["mover-a"]].summary


def test_invented_serials_do_not_make_room_for_more_events_where_they_are_reviewed(
    client, runtime, auth, clock
) -> None:
    """Five events claimed within seconds, each from a new serial: in a campaign that
    reviews unregistered cameras they are one unverified camera (fan-out); where the
    campaign allows them, each serial still counts as a camera."""
    moment = clock.now() - timedelta(hours=1)
    for rule, account in (("review", "inventor"), ("allow", "inventor-allowed")):
        campaign = add_campaign(runtime, unregistered_cameras=rule).id
        consenting_donor(runtime, account)
        burst = [
            clip(recorded_at=moment + timedelta(seconds=5 * n), camera_id=f"FAKE-{account}-{n}",
                 event_id=f"{account}-event-{n}")
            for n in range(5)
        ]  # fmt: skip
        donate(client, auth(account), burst, campaign=campaign)
    scan(runtime, clock)
    fanned = flags(runtime, "staging_fanout")
    [flagged] = fanned.values()
    with runtime.db.read() as session:
        [evidence] = session.scalars(
            select(FraudEvidence).where(FraudEvidence.flag_id == flagged.id)
        ).all()
    assert (evidence.details["events"], evidence.details["cameras"]) == (5, 1)
