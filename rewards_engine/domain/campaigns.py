"""What makes a campaign's rules coherent, whoever writes them (fixtures or an admin)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rewards_engine.domain.currencies import validate_currency
from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.languages import validate_translations

CAMPAIGN_FIELDS = (
    "name",
    "description",
    "starts_at",
    "ends_at",
    "incident_types",
    "targets",
    "stop_at_target",
    "bounty_cents",
    "currency",
    "points_per_clip",
    "cap_per_camera_per_incident_type",
    "cap_paid_per_event",
    "daily_cap_per_donor",
    "staged_allowed",
    "min_duration_s",
    "max_duration_s",
    "review_window_days",
    "review_if_older_than_days",
    "retention_days",
    "payout_provider",
    "requires_upload",
    "unregistered_cameras",
    "translations",
)
PAYOUT_PROVIDERS = ("paypal", "stripe", "manual")
UNREGISTERED_CAMERA_RULES = ("allow", "review", "reject")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def check_id(campaign_id: str) -> str:
    if not _ID.match(campaign_id):
        raise InvalidInput(
            "a campaign id is 1 to 64 lower-case letters, digits and dashes", field="id"
        )
    return campaign_id


def validate_campaign(data: dict[str, Any]) -> dict[str, Any]:
    """Check a whole campaign (the stored one with the changes applied); raise
    :class:`InvalidInput` naming the first field that breaks a rule."""
    for required in ("name", "starts_at", "incident_types"):
        if data.get(required) in (None, "", []):
            raise InvalidInput(f"a campaign needs {required}", field=required)
    starts, ends = data["starts_at"], data.get("ends_at")
    for name, moment in (("starts_at", starts), ("ends_at", ends)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            raise InvalidInput(f"{name} is a date-time with a UTC offset", field=name)
    if ends is not None and ends <= starts:
        raise InvalidInput("ends_at comes after starts_at", field="ends_at")
    kinds = data["incident_types"]
    if not all(isinstance(k, str) and _KIND.match(k) for k in kinds) or len(set(kinds)) != len(
        kinds
    ):
        raise InvalidInput("incident_types are distinct snake_case names", field="incident_types")
    targets = data.get("targets") or {}
    stray = sorted(set(targets) - set(kinds))
    if stray:
        raise InvalidInput(f"targets name unknown incident types {stray}", field="targets")
    if any(not isinstance(v, int) or v < 1 for v in targets.values()):
        raise InvalidInput("a target is a whole number of clips above zero", field="targets")
    if data.get("stop_at_target") and not targets:
        raise InvalidInput("stop_at_target needs targets", field="stop_at_target")
    for name in ("bounty_cents", "points_per_clip"):
        if data.get(name, 0) < 0:
            raise InvalidInput(f"{name} cannot be negative", field=name)
    for name in ("cap_per_camera_per_incident_type", "cap_paid_per_event", "daily_cap_per_donor"):
        if data.get(name) is not None and data[name] < 1:
            raise InvalidInput(f"{name} is 1 or more, or null", field=name)
    if not 1 <= data.get("min_duration_s", 1) <= data.get("max_duration_s", 600):
        raise InvalidInput("min_duration_s is 1 or more and at most max_duration_s",
                           field="min_duration_s")  # fmt: skip
    validate_currency(data.get("currency", "USD"))
    if data.get("payout_provider") not in (None, *PAYOUT_PROVIDERS):
        raise InvalidInput(
            f"payout_provider is one of {', '.join(PAYOUT_PROVIDERS)}, or null",
            field="payout_provider",
        )
    data["translations"] = validate_translations(data.get("translations"), ("name", "description"))
    if data.get("unregistered_cameras", "allow") not in UNREGISTERED_CAMERA_RULES:
        raise InvalidInput(
            f"unregistered_cameras is one of {', '.join(UNREGISTERED_CAMERA_RULES)}",
            field="unregistered_cameras",
        )
    if data.get("retention_days", 730) < 1 or data.get("review_window_days", 14) < 0:
        field = "retention_days" if data.get("retention_days", 730) < 1 else "review_window_days"
        raise InvalidInput(f"{field} is out of range", field=field)
    return data
