"""Duplicates: the same video (SHA-256) from several donors, and perceptual hashes a
few bits apart on different cameras (searched with the scan's hash index)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text, union_all
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of
from rewards_engine.domain.fraud import Finding, HashSet, RuleConfig, near_matches, near_pairs
from rewards_engine.models import Clip
from rewards_engine.services.fraud_signals.base import COUNTED, HashIndex, Scope, _new_values

_HASH_COLUMNS = (col(Clip.video_sha256), col(Clip.donor_id), col(Clip.id), col(Clip.status))


def exact_duplicate(
    session: Session, rule: RuleConfig, scope: Scope, _: HashIndex
) -> list[Finding]:
    """The same SHA-256 from several donors: everyone after the first is flagged."""
    if scope.full:
        rows = _shared_hashes(session)
    else:
        hashes = _new_values(session, scope, col(Clip.video_sha256))
        if not hashes:
            return []
        rows = _clips_of_hashes(session, hashes)
    by_hash: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_hash[row.video_sha256].append(row)
    findings = []
    for sha, copies in by_hash.items():
        if len({copy.donor_id for copy in copies}) < 2:
            continue
        first = copies[0]
        later: dict[int, list[int]] = defaultdict(list)
        for copy in copies[1:]:
            if copy.donor_id != first.donor_id:
                later[copy.donor_id].append(copy.id)
        for donor_id, clip_ids in later.items():
            findings.append(
                Finding(
                    rule.code,
                    donor_id,
                    f"sha:{sha}",
                    1.0,
                    float(len(clip_ids)),
                    f"video {sha[:12]}… was donated first by donor {first.donor_id} "
                    f"(clip {first.id})",
                    {
                        "sha256": sha,
                        "first_donor_id": first.donor_id,
                        "first_clip_id": first.id,
                        "clip_ids": clip_ids,
                    },
                    tuple(clip_ids),
                )
            )
    return findings


# The two partial indexes that hold every clip's hash between them: the owner index
# (every clip that is not a duplicate) and the duplicates' own. Literal conditions, so
# that the planner proves each index's predicate in a prepared plan too.
_OWNED = text("clips.status <> 'duplicate'")
_DUPLICATE = text("clips.status = 'duplicate'")


def _shared_hashes(session: Session) -> Sequence[Any]:
    """Every clip of a hash more than one donor sent, by hash then id: all the clips,
    grouped (the nightly full scan).

    One pass over the clips sorted by hash: a hash is shared when its clips' smallest
    and largest donor differ (``count(DISTINCT donor_id) > 1``, which a window cannot
    count). Not the hashes grouped then joined back to the clips: given more
    ``work_mem``, PostgreSQL ran that grouping once in each of its parallel processes."""
    sha = col(Clip.video_sha256)
    clips = select(
        *_HASH_COLUMNS,
        func.min(col(Clip.donor_id)).over(partition_by=sha).label("first_donor"),
        func.max(col(Clip.donor_id)).over(partition_by=sha).label("last_donor"),
    ).subquery()
    return session.execute(
        select(clips.c.video_sha256, clips.c.donor_id, clips.c.id, clips.c.status)
        .where(clips.c.first_donor != clips.c.last_donor)
        .order_by(clips.c.video_sha256, clips.c.id)
    ).all()


def _clips_of_hashes(session: Session, hashes: Sequence[str]) -> list[Any]:
    """Every clip of these hashes, by hash then id, read through the two hash indexes
    (an incremental scan: the new clips' hashes, not a pass over every clip). The caller
    keeps the hashes sent by more than one donor.

    PostgreSQL is told to probe the indexes: for ten thousand hashes on a million clips
    its estimate of the probes' cost reaches that of reading the whole table, and it
    would read it (as the rule did before it had the indexes)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.execute(
        union_all(
            select(*_HASH_COLUMNS).where(one_of(session, col(Clip.video_sha256), hashes), _OWNED),
            select(*_HASH_COLUMNS).where(
                one_of(session, col(Clip.video_sha256), hashes), _DUPLICATE
            ),
        )
    ).all()
    if postgres:  # the scan's other rules plan as usual (the scan never turns it off)
        session.execute(text("SET LOCAL enable_seqscan = on"))
    return sorted(rows, key=lambda row: (row.video_sha256, row.id))


def near_duplicate(
    session: Session, rule: RuleConfig, scope: Scope, index: HashIndex
) -> list[Finding]:
    """Perceptual hashes a few bits apart on different cameras: the later clip's donor
    is flagged. The full scan searches every pair; an incremental one searches only new
    clips against the index of those already scanned."""
    distance = int(rule.param("max_distance"))
    within = bool(rule.param("within_camera"))
    with index.lock:
        if scope.full:
            index.reset()  # start over from the database
            index.extend(session, scope.up_to_id)
            items = HashSet(index.hashes, index.cameras)
            pairs = [
                (int(index.ids[i]), int(index.ids[j]), d, i, j)
                for i, j, d in near_pairs(items, distance, within_group=within)
            ]
        else:
            index.extend(session, scope.after_id)
            rows = index.rows(session, scope.new())
            ids, cameras, hashes = rows
            new = HashSet(hashes, cameras)
            old = HashSet(index.hashes, index.cameras)
            pairs = [
                (int(index.ids[o]), int(ids[q]), d, o, q)
                for q, o, d in near_matches(old, new, distance, within_group=within)
            ]
            pairs += [
                (int(ids[i]), int(ids[j]), d, i, j)
                for i, j, d in near_pairs(new, distance, within_group=within)
            ]
            index.append(rows, scope.up_to_id)
    return _near_findings(session, rule, pairs) if pairs else []


def _near_findings(
    session: Session, rule: RuleConfig, pairs: Sequence[tuple[int, int, int, int, int]]
) -> list[Finding]:
    clip_ids = sorted({c for a, b, *_ in pairs for c in (a, b)})
    clips = {
        row.id: row
        for row in session.execute(
            select(col(Clip.id), col(Clip.donor_id), col(Clip.camera_id), col(Clip.status)).where(
                one_of(session, col(Clip.id), clip_ids)
            )
        )
    }
    findings = []
    for a, b, d, *_ in pairs:
        first, later = sorted((a, b))
        one, two = clips.get(first), clips.get(later)
        if one is None or two is None or two.status not in COUNTED or one.status not in COUNTED:
            continue  # reversed or rejected since the index was built
        findings.append(
            Finding(
                rule.code,
                two.donor_id,
                f"pair:{first}:{later}",
                1.0,
                1.0,
                f"clip {later} (camera {two.camera_id}) is {d} bits from clip {first} "
                f"(donor {one.donor_id}, camera {one.camera_id})",
                {
                    "clip_id": later,
                    "camera_id": two.camera_id,
                    "distance": d,
                    "original_clip_id": first,
                    "original_donor_id": one.donor_id,
                    "original_camera_id": one.camera_id,
                },
                (later,),
            )
        )
    return findings
