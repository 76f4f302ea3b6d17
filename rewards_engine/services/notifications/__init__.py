"""The donor's inbox (docs/notifications.md): notifications written in the same
transaction as their event, exactly once; read, marked read and deleted by the donor;
broadcasts fanned out by a job; old ones purged."""

from rewards_engine.services.notifications.broadcasts import broadcast, fan_out
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

__all__ = [
    "NotificationView",
    "broadcast",
    "delete_notification",
    "fan_out",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "notify",
    "notify_many",
    "purge_old",
    "unread_count",
]
