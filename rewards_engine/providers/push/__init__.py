"""Push providers (docs/push.md): Firebase Cloud Messaging's HTTP v1 API and Apple's
APNs HTTP/2 API, each behind :class:`PushSender`; ``configured_senders`` builds the ones
the settings name (none: push is off)."""

from __future__ import annotations

from rewards_engine.config import PushSettings
from rewards_engine.providers.push.base import PushMessage, PushSender


def configured_senders(settings: PushSettings) -> dict[str, PushSender]:
    """A sender per configured platform (``fcm``, ``apns``), built once per process."""
    senders: dict[str, PushSender] = {}
    if settings.fcm_configured:
        from rewards_engine.providers.push.fcm import FcmSender

        senders["fcm"] = FcmSender(settings)
    if settings.apns_configured:
        from rewards_engine.providers.push.apns import ApnsSender

        senders["apns"] = ApnsSender(settings)
    return senders


__all__ = ["PushMessage", "PushSender", "configured_senders"]
