"""Telling the donor what became of the video they uploaded: a notification in their
inbox, committed with the decision or not at all, keyed by the claim (``claim:<id>``)
so that no claim is told twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from rewards_engine.domain.notifications import Kind
from rewards_engine.models import ClipClaim
from rewards_engine.services import notifications


def _tell(
    session: Session, now: datetime, claim: ClipClaim, kind: Kind, data: dict[str, Any]
) -> None:
    """The donor learns what became of the video they uploaded."""
    about = {"claim_id": claim.id, "camera": claim.camera_id, "campaign_id": claim.campaign_id}
    notifications.notify(session, now, claim.donor_id, kind, f"claim:{claim.id}", about | data)
