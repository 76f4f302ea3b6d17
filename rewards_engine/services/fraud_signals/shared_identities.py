"""Shared identities: one payout destination under several donors, one camera under
several accounts without the registry's word for each, or moving between accounts
again and again (every account of a ring flagged, with the whole ring)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, distinct, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import one_of
from rewards_engine.domain.fraud import Finding, RuleConfig
from rewards_engine.models import Camera, Clip, Donor
from rewards_engine.services.fraud_signals.base import (
    HashIndex,
    Scope,
    _clip_ids,
    _counted,
    _new_values,
)


def shared_identity(
    session: Session, rule: RuleConfig, scope: Scope, _: HashIndex
) -> list[Finding]:
    """One payout destination under several donors; one camera under several accounts.

    Every account of a ring is flagged, the first holder of a camera as well as those
    it moved to, each with the whole ring (accounts, their clips, who was first). The
    magnitude is what the ring shares (accounts on a destination, clips on a camera),
    so the evidence is brought up to date as it grows and a dismissed ring is reviewed
    again once it has doubled."""
    findings = []
    shared = (
        select(col(Donor.payout_fingerprint))
        .where(col(Donor.payout_fingerprint).is_not(None))
        .group_by(col(Donor.payout_fingerprint))
        .having(func.count() > 1)
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for fingerprint, donor_id in session.execute(
        select(col(Donor.payout_fingerprint), col(Donor.id))
        .where(col(Donor.payout_fingerprint).in_(shared.scalar_subquery()))
        .order_by(col(Donor.id))
    ):
        assert fingerprint is not None  # the subquery holds only fingerprints that are set
        groups[fingerprint].append(donor_id)
    for fingerprint, donors in groups.items():
        for donor_id in donors:
            others = [d for d in donors if d != donor_id]
            findings.append(
                Finding(
                    rule.code,
                    donor_id,
                    f"payout:{fingerprint[:32]}",
                    float(len(donors)),
                    float(len(donors)),
                    f"the payout destination is also set by donor(s) {others}",
                    {"shared_with": others},
                )
            )
    return findings + _shared_cameras(session, rule, scope)


def _shared_cameras(session: Session, rule: RuleConfig, scope: Scope) -> list[Finding]:
    """One camera under several accounts, unless each donated from it while it was
    registered to them (an attested sale or loan); a camera that keeps moving between
    accounts (``max_moves``), attested or not."""
    max_moves = int(rule.param("max_moves"))
    cameras = select(col(Clip.camera_id)).group_by(col(Clip.camera_id))
    if not scope.full:
        touched = _new_values(session, scope, col(Clip.camera_id))
        if not touched:
            return []
        cameras = cameras.where(one_of(session, col(Clip.camera_id), touched))
    moving = select(col(Camera.serial)).where(col(Camera.moves) >= max_moves)
    cameras = cameras.having(
        or_(
            func.count(distinct(col(Clip.donor_id))) > 1,
            col(Clip.camera_id).in_(moving.scalar_subquery()),
        )
    )
    unattested = func.sum(case((col(Clip.camera_rule) == "registered", 0), else_=1))
    rows = session.execute(
        select(
            col(Clip.camera_id),
            col(Clip.donor_id),
            func.min(col(Clip.id)),
            func.count(),
            unattested,
        )
        .where(col(Clip.camera_id).in_(cameras.scalar_subquery()))
        .group_by(col(Clip.camera_id), col(Clip.donor_id))
        .order_by(col(Clip.camera_id), func.min(col(Clip.id)))
    ).all()
    by_camera: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_camera[row[0]].append(row)
    moves: dict[str, int] = {}
    if by_camera:
        registry = select(col(Camera.serial), col(Camera.moves))
        for serial, moved in session.execute(
            registry.where(one_of(session, col(Camera.serial), list(by_camera)))
        ):
            moves[serial] = moved
    by_camera = {
        camera: users
        for camera, users in by_camera.items()
        if moves.get(camera, 0) >= max_moves or (len(users) > 1 and any(u[4] for u in users))
    }
    findings: list[Finding] = []
    members = [(camera, user[1]) for camera, users in by_camera.items() for user in users]
    ids = _clip_ids(
        session,
        ((donor_id, camera) for camera, donor_id in members),
        [
            _counted(),
            one_of(session, col(Clip.camera_id), sorted(by_camera)),
            one_of(session, col(Clip.donor_id), sorted({donor_id for _, donor_id in members})),
        ],
        [col(Clip.donor_id), col(Clip.camera_id)],
        lambda r: [(r.donor_id, r.camera_id)],
    )
    for camera, users in by_camera.items():
        ring = [
            {"donor_id": donor_id, "clips": clips, "first_clip_id": first_clip}
            for _, donor_id, first_clip, clips, _ in users
        ]
        moved = moves.get(camera, 0)
        total = sum(user["clips"] for user in ring)
        for position, user in enumerate(ring):
            sharers = [f"donor {o['donor_id']} ({o['clips']} clips)" for o in ring if o is not user]
            if not sharers:
                text = f"camera {camera} donated here ({user['clips']} clips)"
            elif position == 0:
                text = f"camera {camera} donated here first ({user['clips']} clips), then under "
            else:
                first = ring[0]
                text = (
                    f"camera {camera} donated here ({user['clips']} clips) after donor "
                    f"{first['donor_id']} first; the camera is also under "
                )
            text += ", ".join(sharers)
            if moved >= max_moves:
                text += f"; registered to one account after another ({moved} moves)"
            findings.append(
                Finding(
                    rule.code,
                    user["donor_id"],
                    f"camera:{camera}"[:200],
                    1.0,
                    float(total),
                    text[:500],
                    {
                        "camera_id": camera,
                        "first_donor_id": ring[0]["donor_id"],
                        "position": position,
                        "clips": user["clips"],
                        "first_clip_id": user["first_clip_id"],
                        "accounts": ring,
                        "total_clips": total,
                        "moves": moved,
                    },
                    ids[(user["donor_id"], camera)],
                )
            )
    return findings
