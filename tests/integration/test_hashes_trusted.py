"""The near-duplicate rule reads only perceptual hashes computed from the video (by the
engine, or the maker's pipeline): a hash an app claims could be chosen to dodge it, or
to frame another donor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rewards_engine.models import FraudFlag
from rewards_engine.runtime import Runtime
from rewards_engine.services import fraud
from rewards_engine.services.fraud.scanning import SETTLE
from tests.support.factories import add_campaign, body, clip, consenting_donor, load_program

SAME = "00ff00ff00ff00ff"
ONE_BIT_OFF = "00ff00ff00ff00fe"


def near_duplicate_flags(runtime: Runtime) -> list[FraudFlag]:
    with runtime.db.read() as session:
        return list(session.scalars(select(FraudFlag).where(FraudFlag.rule == "near_duplicate")))


def test_an_apps_claimed_hash_is_not_evidence_but_a_pipelines_is(
    runtime: Runtime, client: Any, auth: Any, clock: Any
) -> None:
    load_program(runtime)
    campaign = add_campaign(runtime).id  # decided on the app's metadata (imported)
    for account in ("ana", "ben"):
        consenting_donor(runtime, account)
    for account, phash in (("ana", SAME), ("ben", ONE_BIT_OFF)):
        payload = body(campaign, [clip(perceptual_hash=phash)])
        assert (
            client.post("/v1/submissions", json=payload, headers=auth(account)).status_code == 201
        )
    clock.advance(SETTLE * 2)  # a scan leaves the newest clips to settle
    fraud.scan(runtime, full=True)
    assert near_duplicate_flags(runtime) == []

    service = auth("video-pipeline", "service")
    for account, phash in (("ana", SAME), ("ben", ONE_BIT_OFF)):
        reported = clip(perceptual_hash=phash, storage_ref=f"maker://{account}")
        request = {"account_id": account, "campaign_id": campaign, "clips": [reported]}
        assert client.post("/v1/intake/clips", json=request, headers=service).status_code == 201
    clock.advance(SETTLE * 2)
    fraud.scan(runtime, full=True)
    assert [flag.donor_id for flag in near_duplicate_flags(runtime)] != []
