"""Telling a donor what became of a video they claimed: verified and decided, refused,
or never arrived. Written with the claim's decision (same transaction) and keyed by the
claim (``claim:<id>``): a claim is decided once, and told once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rewards_engine.domain.notifications import Kind
from rewards_engine.models import ClipClaim
from rewards_engine.services.notifications.inbox import notify


def tell_claim(
    session: Session, now: datetime, claim: ClipClaim, kind: Kind, data: dict[str, Any]
) -> None:
    about = {"claim_id": claim.id, "camera": claim.camera_id, "campaign_id": claim.campaign_id}
    notify(session, now, claim.donor_id, kind, f"claim:{claim.id}", about | data)
