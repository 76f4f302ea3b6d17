"""Push to phones (docs/push.md).

- ``devices``: the donor's phones (register again to update; a token moving to another
  donor moves), listed and removed; erasure's part.
- ``preferences``: kinds muted and quiet hours, per donor.
- ``delivery``: the ``push`` job: queue a delivery per new notification and device,
  send the due ones under a lease through FCM or APNs, record each answer. Its parts:
  ``queueing`` (deliveries made from the inbox, and purged with it), ``leases`` (taken
  by one run, changed only while held), ``sending`` (judged, collapsed, capped, sent),
  ``outcomes`` (the provider's answer recorded) and ``report`` (what a run did).
"""

from rewards_engine.services.push.delivery import run
from rewards_engine.services.push.devices import (
    DeviceView,
    Registered,
    delete_device,
    erase_donor_push,
    export_devices,
    list_devices,
    register_device,
)
from rewards_engine.services.push.preferences import (
    PreferencesView,
    get_preferences,
    set_preferences,
)
from rewards_engine.services.push.report import PushReport

__all__ = [
    "DeviceView",
    "PreferencesView",
    "PushReport",
    "Registered",
    "delete_device",
    "erase_donor_push",
    "export_devices",
    "get_preferences",
    "list_devices",
    "register_device",
    "run",
    "set_preferences",
]
