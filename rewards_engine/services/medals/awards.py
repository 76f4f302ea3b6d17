"""Granting and revoking, for every part: the unique key decides who races for an
award, and only the insert that won posts the bonus. Count and per-period medals are
decided here, in the transaction that accepts (or reverses) the clips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.db import UnitOfWork, insert, table_of
from rewards_engine.domain import medals as rules
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import POINTS, AccountKind, TransferKind, issue
from rewards_engine.domain.notifications import Kind
from rewards_engine.models import Clip, MedalAward, MedalNotification
from rewards_engine.services import ledger, notifications
from rewards_engine.services.medals._common import (
    donor_tallies,
    end_of_day,
    local_days,
    period_board,
    review_window,
)
from rewards_engine.services.medals.definitions import Catalog, Definition

SYSTEM = Actor.system("medals")
IN_TRANSACTION = ("count", "period")


@dataclass(frozen=True)
class Grant:
    donor_id: int
    definition: Definition
    period_key: str
    evidence: dict[str, Any]
    provisional_until: datetime | None = None


def grant_all(
    session: Session, now: datetime, grants: Sequence[Grant], actor: Actor = SYSTEM
) -> list[str]:
    """Insert awards (or re-grant revoked ones), post bonuses, notify once per donor.

    Returns the codes granted. An award someone else inserted first is skipped: the
    unique key decides, and only the winner posts the bonus. Works in bulk (a
    backfill grants thousands at a time).
    """
    if not grants:
        return []
    table = table_of(MedalAward)
    by_key = {(g.donor_id, g.definition.code, g.period_key): g for g in grants}
    # A bonus vests like the earnings behind the medal: once the longest review window
    # has passed, every clip that earned it has vested or been reversed (and with it,
    # the medal revoked). Held donors' bonuses wait longer (vesting skips them).
    bonus_vests_at = now + review_window(session)
    inserted = session.execute(
        insert(session, table)
        .values(
            [
                {
                    "donor_id": g.donor_id,
                    "code": g.definition.code,
                    "version": g.definition.version,
                    "period_key": g.period_key,
                    "awarded_at": now,
                    "evidence": g.evidence,
                    "provisional_until": g.provisional_until,
                    "grants": 1,
                    "bonus_vests_at": bonus_vests_at if g.definition.bonus_points else None,
                }
                for g in by_key.values()
            ]
        )
        .on_conflict_do_nothing(index_elements=["donor_id", "code", "period_key"])
        .returning(table.c.id, table.c.donor_id, table.c.code, table.c.period_key)
    ).all()
    won: list[tuple[Grant, int, int]] = [
        (by_key[(d, c, k)], award_id, 1) for award_id, d, c, k in inserted
    ]
    for key in set(by_key) - {(d, c, k) for _, d, c, k in inserted}:
        grant = by_key[key]  # it exists: granted again only if it had been revoked
        row = session.execute(
            update(MedalAward)
            .where(
                col(MedalAward.donor_id) == key[0],
                col(MedalAward.code) == key[1],
                col(MedalAward.period_key) == key[2],
                col(MedalAward.revoked_at).is_not(None),
            )
            .values(
                revoked_at=None,
                revoke_reason=None,
                awarded_at=now,
                version=grant.definition.version,
                evidence=grant.evidence,
                provisional_until=grant.provisional_until,
                grants=col(MedalAward.grants) + 1,
                bonus_vests_at=bonus_vests_at if grant.definition.bonus_points else None,
                bonus_vested_at=None,
            )
            .returning(col(MedalAward.id), col(MedalAward.grants))
        ).first()
        if row is not None:
            won.append((grant, row[0], row[1]))
    if not won:
        return []
    per_donor: dict[int, list[tuple[Grant, int, int]]] = defaultdict(list)
    for item in won:
        per_donor[item[0].donor_id].append(item)
    notes = table_of(MedalNotification)
    created = session.execute(
        insert(session, notes)
        .values(
            [
                {
                    "donor_id": donor,
                    "codes": sorted(g.definition.code for g, _, _ in items),
                    "created_at": now,
                }
                for donor, items in per_donor.items()
            ]
        )
        .returning(notes.c.id, notes.c.donor_id)
    ).all()
    note_of = {donor: note_id for note_id, donor in created}
    notifications.notify_many(
        session,
        now,
        [
            (donor, Kind.MEDAL_AWARDED, f"medals:{note_of[donor]}", {
                "medals": [g.definition.name for g, _, _ in items],
                "codes": [g.definition.code for g, _, _ in items],
                "count": len(items),
            })
            for donor, items in per_donor.items()
        ],
    )  # fmt: skip
    session.execute(
        table.update()
        .where(table.c.id == bindparam("award"))
        .values(notification_id=bindparam("note")),
        [{"award": award_id, "note": note_of[g.donor_id]} for g, award_id, _ in won],
    )
    for grant, award_id, times in won:
        if grant.definition.bonus_points:
            ledger.post(
                session,
                now=now,
                kind=TransferKind.BONUS,
                reference=("medal_award", award_id),
                actor=actor,
                idempotency_key=f"medal:{award_id}:grant:{times}",
                legs=issue(
                    grant.donor_id,
                    AccountKind.POINTS_PENDING,
                    POINTS,
                    grant.definition.bonus_points,
                ),
                reason=f"medal {grant.definition.name}",
            )
    return [grant.definition.code for grant, _, _ in won]


def revoke(
    session: Session,
    now: datetime,
    award: MedalAward,
    catalog: Catalog,
    reason: str,
    actor: Actor = SYSTEM,
) -> None:
    # Locked and read afresh: vesting may have moved the bonus meanwhile (then it is
    # taken from available), or another revocation got here first (then nothing to do).
    session.refresh(award, with_for_update=True)
    if award.revoked_at is not None:
        return
    award.revoked_at = now
    award.revoke_reason = reason
    definition = catalog.of(award.code, award.version)
    if definition is not None and definition.bonus_points:
        # Taken back from where it is now: pending until it vested, available after.
        vested = award.bonus_vested_at is not None
        account = AccountKind.POINTS_AVAILABLE if vested else AccountKind.POINTS_PENDING
        ledger.post(
            session,
            now=now,
            kind=TransferKind.REVERSAL,
            reference=("medal_award", award.id),
            actor=actor,
            idempotency_key=f"medal:{award.id}:revoke:{award.grants}",
            legs=issue(award.donor_id, account, POINTS, -definition.bonus_points),
            reason=f"medal {definition.name} revoked: {reason}",
        )


def _qualifies(
    definition: Definition, tallies: dict[str, int], period_key: str
) -> tuple[bool, dict[str, Any]]:
    """Whether tallies meet a count or period rule (for ``period_key``), and the evidence."""
    rule = definition.rule
    if isinstance(rule, rules.CountRule):
        count = tallies.get(rule.tally_key, 0)
        return count >= rule.threshold, {
            "count": count,
            "threshold": rule.threshold,
            "scope": rule.tally_key,
        }
    assert isinstance(rule, rules.PeriodRule)
    count = tallies.get(period_key, 0)
    return count >= rule.threshold, {
        "count": count,
        "threshold": rule.threshold,
        "period": period_key,
    }


def evaluate_donor(
    uow: UnitOfWork,
    now: datetime,
    donor_id: int,
    *,
    touched: Iterable[datetime] = (),
    reason: str | None = None,
    reference: dict[str, Any] | None = None,
) -> list[str]:
    """Grant the count and period medals the donor's tallies now meet, in the caller's
    transaction; with a ``reason`` (a reversal), also revoke those whose evidence fell
    below the threshold of the version that granted them. ``touched`` are the times
    of the clips that changed (their weeks and months are the periods checked)."""
    session = uow.session
    catalog = Catalog.load(session)
    definitions = [d for d in catalog.current if d.rule.kind in IN_TRANSACTION]
    if not definitions and reason is None:
        return []
    tallies = donor_tallies(session, donor_id)
    moments = list(touched) or [now]
    grants = []
    for definition in definitions:
        if isinstance(definition.rule, rules.PeriodRule):
            keys = {period_board(definition.rule, m).name for m in moments}
        else:
            keys = {""}
        for key in keys:
            ok, evidence = _qualifies(definition, tallies, key)
            if ok:
                grants.append(Grant(donor_id, definition, key, {**evidence, **(reference or {})}))
    # Standing awards by (code, period): their keys only, unless a reversal must judge
    # each award (a donor's awards grow with every period they donate in).
    held = {(code, period) for code, period in session.execute(_STANDING, {"donor": donor_id})}
    fresh = [g for g in grants if (g.definition.code, g.period_key) not in held]
    codes = grant_all(session, now, fresh)
    if reason is not None:
        awards = session.scalars(select(MedalAward).where(col(MedalAward.donor_id) == donor_id))
        for award in awards:
            granted_by = catalog.of(award.code, award.version)
            if award.revoked_at is None and granted_by is not None:
                why = _evidence_lost(session, granted_by, award, tallies)
                if why is not None:
                    revoke(session, now, award, catalog, f"{reason}: {why}")
    if codes or reason is not None:
        session.flush()
    return codes


_awards = table_of(MedalAward)
_STANDING = select(_awards.c.code, _awards.c.period_key).where(
    _awards.c.donor_id == bindparam("donor"), _awards.c.revoked_at.is_(None)
)  # built once (every accepted submission reads it); Core: it does not autoflush


def _evidence_lost(
    session: Session, definition: Definition, award: MedalAward, tallies: dict[str, int]
) -> str | None:
    """Why an award no longer stands, judged by the rule of the version that granted it;
    None if it still does. Placements stand: they record a closed period."""
    rule = definition.rule
    if rule.kind in IN_TRANSACTION:
        still, evidence = _qualifies(definition, tallies, award.period_key)
        return None if still else f"{evidence['count']} of {evidence['threshold']} clips left"
    if isinstance(rule, rules.CampaignGoalRule):
        left = tallies.get(f"campaign:{rule.campaign}", 0)
        return None if left else "no accepted clip left in the campaign"
    if isinstance(rule, rules.StreakRule):
        return None if streak_holds(session, award) else "a day of the streak has no clip left"
    return None


def streak_holds(session: Session, award: MedalAward) -> bool:
    """Every day of the award's run still has an accepted clip (in its time zone)."""
    first = date.fromisoformat(award.evidence["first_day"])
    last = date.fromisoformat(award.evidence["last_day"])
    zone = award.evidence.get("timezone")
    zone = None if zone == "UTC" else zone
    times = session.scalars(
        select(col(Clip.accepted_at)).where(
            col(Clip.donor_id) == award.donor_id,
            col(Clip.status) == "accepted",
            col(Clip.accepted_at) >= end_of_day(first - timedelta(days=1), zone),
            col(Clip.accepted_at) < end_of_day(last, zone),
        )
    ).all()
    needed = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    return needed <= local_days(times, zone)
