"""WallStandingSchema writes the standing by hand (the hottest authenticated read): what
it writes must be what its documented fields would dump, in every state and board."""

from __future__ import annotations

import marshmallow as ma
import pytest

from api.schemas.wall import WallStandingSchema
from rewards_engine.domain.actors import Actor
from rewards_engine.services import donors as donor_service
from rewards_engine.services import holds, wall
from tests.support.factories import add_campaign, consenting_donor, donate_ids, load_program

SUPPORT = Actor(id="support:agent", role="support")


@pytest.fixture
def standings(runtime, client, auth, clock):  # type: ignore[no-untyped-def]
    """Standings of ranked, hidden, under-review and unranked donors on three boards."""
    load_program(runtime)
    add_campaign(runtime, id="json-wall")
    for name, count, visibility in (
        ("ana", 3, "public"),
        ("ben", 2, "private"),
        ("cy", 1, "public"),
    ):
        consenting_donor(runtime, name)
        client.patch("/v1/me", json={"display_name": name, "visibility": visibility},
                     headers=auth(name))  # fmt: skip
        donate_ids(client, auth(name), count, campaign="json-wall")
    cy = donor_service.ensure_donor(runtime.db, runtime.clock, "cy")
    holds.set_hold(runtime.db, runtime.clock, SUPPORT, cy.id, True, "velocity check")
    week = f"week:{clock.now():%G-W%V}"
    found = []
    for account in ("ana", "ben", "cy", "nobody"):
        donor = donor_service.ensure_donor(runtime.db, runtime.clock, account)
        for board in ("all-time", "campaign:json-wall", week):
            found.append(wall.read_standing(runtime, board, donor, 2))
    return found


def test_the_hand_written_standing_is_what_the_fields_dump(standings) -> None:  # type: ignore[no-untyped-def]
    schema = WallStandingSchema()
    states = {standing.state for standing in standings}
    assert {"ranked", "hidden", "under_review", "unranked"} <= states
    for standing in standings:
        assert schema.dump(standing) == ma.Schema.dump(schema, standing)
    assert schema.dump(standings, many=True) == ma.Schema.dump(schema, standings, many=True)
