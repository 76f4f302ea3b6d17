"""The app's home screen in one read: balances, standing on the all-time board, the
medal closest to being earned, the unread count and the open campaigns. The standing
needs Redis: when the wall cannot answer, the home screen still does (standing null)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rewards_engine.domain.errors import Unavailable
from rewards_engine.runtime import Runtime
from rewards_engine.services import campaigns, ledger, medals, notifications, wall
from rewards_engine.services.campaigns import CampaignView
from rewards_engine.services.ledger import Balances
from rewards_engine.services.medals.screen import MedalView
from rewards_engine.services.wall.read import Viewer, WallStanding

log = logging.getLogger(__name__)
MAIN_BOARD = "all-time"


@dataclass(frozen=True)
class Home:
    balances: Balances
    standing: WallStanding | None
    next_medal: MedalView | None
    unread: int
    campaigns: list[CampaignView]


def home(runtime: Runtime, donor: Viewer, language: str) -> Home:
    db, now = runtime.db, runtime.clock.now()
    with db.read() as session:
        balances = ledger.balances(session, donor.id)
    try:
        standing: WallStanding | None = wall.read_standing(runtime, MAIN_BOARD, donor, 0)
    except Unavailable:
        log.warning("home: the wall is unavailable; answered without a standing")
        standing = None
    return Home(
        balances=balances,
        standing=standing,
        next_medal=next_medal(
            medals.donor_medals(
                db, runtime.clock, donor.id, medals.medal_display(runtime.settings, language)
            )
        ),
        unread=notifications.unread_count(db, donor.id),
        campaigns=campaigns.open_campaigns(db, now, language),
    )


def next_medal(views: list[MedalView]) -> MedalView | None:
    """The medal not held whose progress is furthest along (then the catalog's order)."""
    candidates = [
        view
        for view in views
        if view.progress is not None and view.progress.percent < 100 and not view.held
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda v: (v.progress.percent if v.progress else 0, -v.definition.sort_order),
    )
