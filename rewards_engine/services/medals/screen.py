"""Reading for the donor's medal screen: every medal in force with the donor's awards
and progress, and the notifications of new ones, in as few reads as the app makes calls.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, row_view
from rewards_engine.domain import medals as rules
from rewards_engine.domain.errors import NotFound
from rewards_engine.models import (
    Campaign,
    CampaignCounter,
    Clip,
    Donor,
    MedalAward,
    MedalNotification,
)
from rewards_engine.models.medals import MedalRarity
from rewards_engine.services.medals._common import donor_tallies, local_days, period_board
from rewards_engine.services.medals.art import PLACEHOLDER_ICON, MedalDisplay
from rewards_engine.services.medals.definitions import Catalog, Definition


@dataclass(frozen=True)
class Progress:
    current: int
    target: int
    percent: float
    current_run: int | None = None  # streaks only
    period: str | None = None  # per-period and placement medals


@dataclass(frozen=True)
class AwardView:
    """One award of a medal, as its donor sees it."""

    code: str
    version: int
    period_key: str
    awarded_at: datetime
    evidence: dict[str, Any]
    provisional_until: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None


@dataclass(frozen=True)
class MedalView:
    """A medal on the donor's screen: in their language, with its art and rarity; a
    secret one not earned is a placeholder (no name, rule or progress)."""

    definition: Definition
    awards: list[AwardView]
    progress: Progress | None
    icon_url: str = ""
    icon_locked_url: str = ""
    rarity: float | None = None  # the share of active donors who hold it
    hidden: bool = False

    @property
    def held(self) -> bool:
        return any(award.revoked_at is None for award in self.awards)


@dataclass(frozen=True)
class NotificationView:
    """New medals the donor has not seen yet (or has)."""

    id: int
    codes: list[str]
    created_at: datetime
    read_at: datetime | None


def donor_medals(
    db: Database, clock: Clock, donor_id: int, display: MedalDisplay
) -> list[MedalView]:
    """Every medal in force with the donor's awards and, for those not held now,
    their progress toward it: one read renders the whole medal screen."""
    now = clock.now()
    with db.read() as session:
        rarity = dict(session.execute(select(col(MedalRarity.code), col(MedalRarity.share))).all())
        catalog = Catalog.load(session)
        donor = session.get(Donor, donor_id)
        assert donor is not None
        tallies = donor_tallies(session, donor_id)
        awards: dict[str, list[AwardView]] = defaultdict(list)
        for award in session.scalars(
            select(MedalAward)
            .where(col(MedalAward.donor_id) == donor_id)
            .order_by(col(MedalAward.awarded_at).desc())
        ):
            awards[award.code].append(row_view(AwardView, award))
        views = []
        for definition in catalog.current:
            held = awards.get(definition.code, [])
            progress = _progress(session, definition, donor, tallies, now)
            view = MedalView(definition.in_language(display.language), held, progress)
            views.append(_shown(view, display, rarity.get(definition.code)))
    return sorted(views, key=lambda v: (v.definition.sort_order, v.definition.code))


def _shown(view: MedalView, display: MedalDisplay, rarity: float | None) -> MedalView:
    d = view.definition
    if d.secret and not view.held:
        placeholder = replace(
            d, name=display.placeholder_name, description=display.placeholder_description,
            icon_key=PLACEHOLDER_ICON, bonus_points=0,
        )  # fmt: skip
        locked = display.icon_url(PLACEHOLDER_ICON, locked=True)
        return replace(view, definition=placeholder, progress=None, icon_url=locked,
                       icon_locked_url=locked, rarity=rarity, hidden=True)  # fmt: skip
    return replace(
        view,
        icon_url=display.icon_url(d.icon_key, locked=False),
        icon_locked_url=display.icon_url(d.icon_key, locked=True),
        rarity=rarity,
    )


def _progress(
    session: Session, definition: Definition, donor: Donor, tallies: dict[str, int], now: datetime
) -> Progress | None:
    rule = definition.rule
    if isinstance(rule, rules.CountRule):
        count = tallies.get(rule.tally_key, 0)
        return Progress(
            min(count, rule.threshold), rule.threshold, rules.percent(count, rule.threshold)
        )
    if isinstance(rule, rules.PeriodRule):
        key = period_board(rule, now).name
        count = tallies.get(key, 0)
        return Progress(
            min(count, rule.threshold),
            rule.threshold,
            rules.percent(count, rule.threshold),
            period=key,
        )
    if isinstance(rule, rules.StreakRule):
        zone = donor.timezone
        since = now - timedelta(days=rule.days + 2)
        times = session.scalars(
            select(col(Clip.accepted_at)).where(
                col(Clip.donor_id) == donor.id,
                col(Clip.status) == "accepted",
                col(Clip.accepted_at) >= since,
            )
        )
        today = now.astimezone(ZoneInfo(zone) if zone else UTC).date()
        run = rules.current_run(local_days(times, zone), today)
        return Progress(
            min(run, rule.days), rule.days, rules.percent(run, rule.days), current_run=run
        )
    if isinstance(rule, rules.CampaignGoalRule):
        campaign = session.get(Campaign, rule.campaign)
        if campaign is None or not campaign.targets:
            return None
        counts = dict(
            session.execute(
                select(col(CampaignCounter.incident_type), col(CampaignCounter.accepted)).where(
                    col(CampaignCounter.campaign_id) == rule.campaign
                )
            ).all()
        )
        target = sum(campaign.targets.values())
        reached = sum(min(counts.get(k, 0), t) for k, t in campaign.targets.items())
        return Progress(reached, target, rules.percent(reached, target))
    return None  # placement: decided when the period closes


def notifications(db: Database, donor_id: int, limit: int = 20) -> list[NotificationView]:
    with db.read() as session:
        return [
            row_view(NotificationView, row)
            for row in session.scalars(
                select(MedalNotification)
                .where(col(MedalNotification.donor_id) == donor_id)
                .order_by(col(MedalNotification.id).desc())
                .limit(limit)
            )
        ]


def mark_read(db: Database, clock: Clock, donor_id: int, notification_id: int) -> None:
    with db.transaction() as uow:
        notification = uow.session.get(MedalNotification, notification_id)
        if notification is None or notification.donor_id != donor_id:
            raise NotFound(f"no notification {notification_id}", code="notification_not_found")
        if notification.read_at is None:
            notification.read_at = clock.now()
