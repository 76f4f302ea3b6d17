"""The near-duplicate rule's hash index, read again after a restart: PostgreSQL packs
the hashes into one value a chunk (``fraud_signals.base._packed_rows``), SQLite reads
them row by row. Either way the index holds exactly the hashes the rule compares, a
camera has one code, and the first scan after a restart finds what a warm one finds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from rewards_engine.models import Clip, FraudEvidence
from rewards_engine.services import fraud
from rewards_engine.services.fraud_signals import base
from tests.support.factories import add_campaign, load_program
from tests.support.population import MASK, PlannedClip, Population

START = datetime(2025, 1, 1, tzinfo=UTC)


def populate(runtime, clock) -> tuple[str, Population]:  # type: ignore[no-untyped-def]
    clock.set(START + timedelta(days=30))
    load_program(runtime)
    campaign = add_campaign(runtime, starts_at=START - timedelta(days=30)).id
    population = Population(random.Random(7))
    for n in range(60):
        at = START + timedelta(hours=n)
        clip = PlannedClip(f"donor-{n % 6}", f"CAM-{n % 9}", at, at + timedelta(minutes=5))
        if n % 10 == 3:
            clip.status = "pending_review"  # compared: it may yet earn
        if n % 10 == 7:
            clip.status = "duplicate"  # never compared
        if n % 4 == 0:
            clip.phash = (1 << 63) | (0x0F0F_F0F0_1234 << n % 5)  # the high bit: negative
        population.add(clip)
    population.clips[5].phash = None
    return campaign, population


def compared(runtime) -> dict[int, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """What the rule compares, read plainly: clip id -> (unsigned hash, camera)."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(col(Clip.id), col(Clip.perceptual_hash), col(Clip.camera_id)).where(
                col(Clip.perceptual_hash).is_not(None),
                col(Clip.status).in_(("accepted", "pending_review")),
                col(Clip.intake) != "imported",
            )
        )
        return {row[0]: (row[1] & MASK, row[2]) for row in rows}


def test_a_restart_reads_exactly_the_hashes_the_rule_compares(
    runtime, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, population = populate(runtime, clock)
    ids = population.insert(runtime, campaign)
    with runtime.db.transaction() as uow:  # an app's own claim is never compared
        uow.session.execute(
            update(Clip).where(col(Clip.donor_id) == ids["donor-2"]).values(intake="imported")
        )
    expected = compared(runtime)
    assert 30 < len(expected) < 60
    with runtime.db.read() as session:
        top = session.scalar(select(func.max(col(Clip.id))))
    monkeypatch.setattr(base, "LOAD_CHUNK", 7)  # several chunks, ids past the last
    index = base.HashIndex()
    with runtime.db.read() as session:
        index.extend(session, top + 20)
    assert index.up_to_id == top + 20
    assert index.hashes.dtype == np.uint64 and index.cameras.dtype == np.int64
    found = dict(zip(index.ids.tolist(), index.hashes.tolist(), strict=True))
    assert found == {clip_id: hashed for clip_id, (hashed, _) in expected.items()}
    code_of = dict(zip(index.ids.tolist(), index.cameras.tolist(), strict=True))
    pairs = {(expected[clip_id][1], code) for clip_id, code in code_of.items()}
    assert len(pairs) == len({camera for camera, _ in pairs}) == len({c for _, c in pairs})

    # Rows read later (an incremental scan's new clips) code their cameras the same way.
    later = Population(random.Random(8))
    at = START + timedelta(days=3)
    for camera in ("CAM-1", "CAM-NEW"):
        later.add(PlannedClip("donor-1", camera, at, at + timedelta(minutes=5)))
    later.insert(runtime, campaign)
    with runtime.db.read() as session:
        new_ids, cameras, _ = index.rows(session, col(Clip.id) > top)
    known = dict(pairs)
    in_order = cameras[np.argsort(new_ids)].tolist()  # the clips as inserted
    by_camera = dict(zip(("CAM-1", "CAM-NEW"), in_order, strict=True))
    assert len(new_ids) == 2
    assert by_camera["CAM-1"] == known["CAM-1"]
    assert by_camera["CAM-NEW"] not in known.values()


def scanned_then_copied(runtime, clock, *, flipped: int) -> int:  # type: ignore[no-untyped-def]
    """A population scanned in full, then a re-encoded copy of its first accepted clip
    (its perceptual hash with the ``flipped`` bits changed, on another camera) arriving
    after the scan; the original clip's id."""
    campaign, population = populate(runtime, clock)
    population.insert(runtime, campaign)
    fraud.scan(runtime, full=True)
    with runtime.db.read() as session:
        original = session.execute(
            select(col(Clip.id), col(Clip.perceptual_hash))
            .where(col(Clip.perceptual_hash).is_not(None), col(Clip.status) == "accepted")
            .order_by(col(Clip.id))
        ).first()
    assert original is not None
    copy = Population(random.Random(9))
    at = clock.now() - timedelta(minutes=10)
    copy.add(PlannedClip("re-encoder", "CAM-R", at, at, phash=(original[1] ^ flipped) & MASK))
    copy.insert(runtime, campaign)
    return int(original[0])


def pair_flagged(runtime, original: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether the near-duplicate rule flagged a pair with the original clip."""
    with runtime.db.read() as session:
        keys = set(
            session.scalars(
                select(col(FraudEvidence.key)).where(col(FraudEvidence.rule) == "near_duplicate")
            )
        )
    return any(key.startswith(f"pair:{original}:") for key in keys)


def test_the_first_scan_after_a_restart_finds_what_a_warm_one_finds(runtime, clock) -> None:
    """A re-encoded copy (a few bits from an old clip, on another camera) arrives after
    the last scan: the scan that follows a restart reads every old hash first and flags
    it, as the scheduler's warm index would."""
    original = scanned_then_copied(runtime, clock, flipped=0b101)
    fraud.hash_index(runtime).reset()  # what a restart leaves: an empty index
    clock.advance(timedelta(minutes=1))
    report = fraud.scan(runtime, full=False)
    assert report.clips_in_scope == 1
    assert pair_flagged(runtime, original)
    assert fraud.hash_index(runtime).up_to_id > original


def test_a_failed_read_behind_the_rules_leaves_the_rule_to_read(
    runtime, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the first scan after a restart reads the index in a thread while the
    other rules run; if that read fails, the near-duplicate rule reads what is missing
    itself and finds the same copy."""
    original = scanned_then_copied(runtime, clock, flipped=0b11)
    fraud.hash_index(runtime).reset()
    packed, failures = base._packed_rows, []

    def fails_once(*args):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise RuntimeError("the connection went away")
        return packed(*args)

    monkeypatch.setattr(base, "_packed_rows", fails_once)
    clock.advance(timedelta(minutes=1))
    fraud.scan(runtime, full=False)
    assert pair_flagged(runtime, original)
    assert not fraud.hash_index(runtime).lock.locked()
