"""Campaigns and their rules: as donors and staff read them, and as admins write them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from rewards_engine.clock import Clock
from rewards_engine.db import Database, lock_keys, row_view
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.campaigns import CAMPAIGN_FIELDS, check_id, validate_campaign
from rewards_engine.domain.errors import Conflict, NotFound
from rewards_engine.domain.languages import DEFAULT_LANGUAGE, localised
from rewards_engine.domain.notifications import Kind
from rewards_engine.domain.staff_policy import CAMPAIGN_CHANGE
from rewards_engine.models import Campaign, CampaignCounter, Clip
from rewards_engine.pagination import Page, fetch_page
from rewards_engine.services import approvals, audit, notifications, staff_policy
from rewards_engine.services.approvals import ApprovalView
from rewards_engine.services.support import require_reason

# A change to these alone pays nobody differently: no second person needed.
UNGATED_FIELDS = frozenset({"name", "description", "translations"})


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
class CampaignView:
    """A campaign and its paying rules, as donors and staff read them."""

    id: str
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    incident_types: list[str]
    targets: dict[str, int] | None
    stop_at_target: bool
    bounty_cents: int
    currency: str
    points_per_clip: int
    cap_per_camera_per_incident_type: int | None
    cap_paid_per_event: int | None
    daily_cap_per_donor: int | None
    staged_allowed: bool
    min_duration_s: int
    max_duration_s: int
    review_window_days: int
    review_if_older_than_days: int | None
    retention_days: int
    payout_provider: str | None
    requires_upload: bool
    unregistered_cameras: str


@dataclass(frozen=True)
class CampaignDetail:
    campaign: CampaignView
    progress: list[IncidentProgress]


def campaign_view(row: Campaign, language: str = DEFAULT_LANGUAGE) -> CampaignView:
    """The campaign in ``language`` (its name and description)."""
    view = row_view(CampaignView, row)
    english = {"name": view.name, "description": view.description}
    return replace(view, **localised(english, row.translations, language))


def list_campaigns(
    db: Database, *, limit: int, cursor: str | None, language: str = DEFAULT_LANGUAGE
) -> Page[CampaignView]:
    """Newest first by start date."""
    with db.read() as session:
        return fetch_page(
            session,
            select(Campaign),
            kind="campaigns",
            columns=(col(Campaign.starts_at), col(Campaign.id)),
            types=(datetime, str),
            limit=limit,
            cursor=cursor,
        ).map(lambda row: campaign_view(row, language))


def open_campaigns(
    db: Database, now: datetime, language: str = DEFAULT_LANGUAGE, limit: int = 20
) -> list[CampaignView]:
    """The campaigns taking clips now, the newest first."""
    with db.read() as session:
        rows = session.scalars(
            select(Campaign)
            .where(
                col(Campaign.starts_at) <= now,
                or_(col(Campaign.ends_at).is_(None), col(Campaign.ends_at) > now),
            )
            .order_by(col(Campaign.starts_at).desc(), col(Campaign.id))
            .limit(limit)
        )
        return [campaign_view(row, language) for row in rows]


def get_campaign(
    db: Database, campaign_id: str, language: str = DEFAULT_LANGUAGE
) -> CampaignDetail:
    with db.read() as session:
        row = session.get(Campaign, campaign_id)
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}", code="campaign_not_found")
        campaign = campaign_view(row, language)
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
        select(col(CampaignCounter.incident_type), col(CampaignCounter.accepted)).where(
            col(CampaignCounter.campaign_id) == campaign_id
        )
    )
    return {kind: int(count) for kind, count in rows}


def save_campaign(
    db: Database,
    clock: Clock,
    actor: Actor,
    campaign_id: str,
    changes: dict[str, Any],
    reason: str,
    *,
    create: bool,
    idempotency_key: str | None = None,
    approval: int | None = None,
) -> Campaign | ApprovalView:
    """Create a campaign, or change one (audited, with the reason). A change pays the
    clips that come after it; clips already donated keep what they earned. Once a
    campaign has clips its currency stays (their cash is booked in it).

    Changing an existing campaign's paying rules needs a second admin
    (``campaign.change`` in fixtures/approvals.toml): the pending request is returned
    instead; ``approval`` applies an approved one. Its name and description do not."""
    reason = require_reason(reason)
    check_id(campaign_id)
    now = clock.now()
    with db.transaction() as uow:
        session = uow.session
        staff_policy.authorize(session, actor, CAMPAIGN_CHANGE)
        # Two admins at once: one at a time, and the second sees what the first wrote.
        lock_keys(session, "campaign", [campaign_id])
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        if create and campaign is not None:
            raise Conflict(f"campaign {campaign_id!r} exists", code="campaign_exists")
        if not create and campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}", code="campaign_not_found")
        before = None if campaign is None else _campaign_json(campaign)
        merged = validate_campaign({**(_campaign_fields(campaign) if campaign else {}), **changes})
        if campaign is None:
            campaign = Campaign(id=campaign_id, created_at=now, updated_at=now, **merged)
            session.add(campaign)
            opened = {"campaign_id": campaign_id, "campaign": campaign.name}
            notifications.broadcast(session, now, Kind.CAMPAIGN_OPENED, opened)
        else:
            if changes.get("currency", campaign.currency) != campaign.currency and session.scalar(
                select(col(Clip.id)).where(col(Clip.campaign_id) == campaign_id).limit(1)
            ):
                raise Conflict(
                    "the campaign has clips: their cash is booked in its currency",
                    code="currency_locked",
                    details={"currency": campaign.currency},
                )
            # Checked first (above), so a change that cannot apply is refused now,
            # not after a second admin approved it.
            rule_changes = sorted(set(changes) - UNGATED_FIELDS)
            if rule_changes:
                pending = approvals.gate(
                    session,
                    clock,
                    actor,
                    "campaign.change",
                    1,
                    {"campaign_id": campaign_id, "changes": changes},
                    None if approval else idempotency_key,
                    target=("campaign", campaign_id),
                    reason=reason,
                    evidence={"before": {name: (before or {}).get(name) for name in rule_changes}},
                    approval=approval,
                )
                if pending is not None:
                    return pending
            for name, value in changes.items():
                setattr(campaign, name, value)
            campaign.updated_at = now
        session.flush()
        audit.record(
            session,
            clock,
            actor,
            action="campaign.create" if create else "campaign.change",
            target_type="campaign",
            target_id=campaign_id,
            before=before,
            after=_campaign_json(campaign),
            reason=reason,
        )
    return campaign


def _campaign_fields(campaign: Campaign) -> dict[str, Any]:
    return {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}


def _campaign_json(campaign: Campaign) -> dict[str, Any]:
    data = _campaign_fields(campaign)
    for name in ("starts_at", "ends_at"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    return data
