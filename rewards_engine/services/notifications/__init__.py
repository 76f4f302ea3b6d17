"""The donor's inbox (docs/notifications.md): notifications written in the same
transaction as their event, exactly once; read, marked read and deleted by the donor;
broadcasts fanned out by a job; rank news on the boards a donor follows; old ones
purged."""

from rewards_engine.services.notifications.broadcasts import broadcast, fan_out
from rewards_engine.services.notifications.claims import tell_claim
from rewards_engine.services.notifications.inbox import (
    NotificationView,
    delete_notification,
    list_notifications,
    mark_all_read,
    mark_read,
    notify,
    notify_many,
    purge_old,
    unread_count,
)
from rewards_engine.services.notifications.standings import (
    FollowView,
    follow,
    follows,
    tell_standings,
    unfollow,
)

__all__ = [
    "FollowView",
    "NotificationView",
    "broadcast",
    "delete_notification",
    "fan_out",
    "follow",
    "follows",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "notify",
    "notify_many",
    "purge_old",
    "tell_claim",
    "tell_standings",
    "unfollow",
    "unread_count",
]
