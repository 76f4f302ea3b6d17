"""Campaigns and their rules, as donors and staff read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rewards_engine.db import Database
from rewards_engine.domain.errors import NotFound
from rewards_engine.models import Campaign, CampaignCounter
from rewards_engine.pagination import Page, fetch_page


@dataclass(frozen=True)
class IncidentProgress:
    incident_type: str
    accepted: int
    target: int | None

    @property
    def percent(self) -> float | None:
        if not self.target:
            return None
        return round(min(100.0, 100.0 * self.accepted / self.target), 2)


@dataclass(frozen=True)
class CampaignDetail:
    campaign: Campaign
    progress: list[IncidentProgress]


def list_campaigns(db: Database, *, limit: int, cursor: str | None) -> Page[Campaign]:
    """Newest first by start date."""
    with db.read() as session:
        return fetch_page(
            session,
            select(Campaign),
            kind="campaigns",
            columns=(Campaign.starts_at, Campaign.id),
            types=(datetime, str),
            limit=limit,
            cursor=cursor,
        )


def get_campaign(db: Database, campaign_id: str) -> CampaignDetail:
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}", code="campaign_not_found")
        accepted = accepted_counts(session, campaign_id)
    targets = campaign.targets or {}
    progress = [
        IncidentProgress(kind, accepted.get(kind, 0), targets.get(kind))
        for kind in campaign.incident_types
    ]
    return CampaignDetail(campaign, progress)


def accepted_counts(session: Session, campaign_id: str) -> dict[str, int]:
    """Accepted clips per incident type, from the counters kept with every change."""
    rows = session.execute(
        select(CampaignCounter.incident_type, CampaignCounter.accepted).where(
            CampaignCounter.campaign_id == campaign_id
        )
    )
    return {kind: int(count) for kind, count in rows}
