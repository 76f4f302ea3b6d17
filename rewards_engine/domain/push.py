"""What push knows without I/O (docs/push.md): platforms, what a provider's answer
means, when to try again, quiet hours and the donor's day, what a payload may carry."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FCM, APNS = "fcm", "apns"
PLATFORMS = (FCM, APNS)
TOKEN_MAX = 4096  # FCM registration tokens are ~150-250 characters, APNs tokens 64 hex
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    COLLAPSED = "collapsed"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    SENT = "sent"
    GONE = "gone"  # the token is unregistered or invalid: the device is removed
    RETRY = "retry"  # throttled or the provider failed: later, with backoff
    FAILED = "failed"  # refused for good (another 4xx): not retried


@dataclass(frozen=True)
class Answer:
    """A provider's answer to one send."""

    outcome: Outcome
    message_id: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def collapse_key(kind: str) -> str:
    """Notifications of one kind replace each other on the phone (FCM
    ``android.collapse_key``, APNs ``apns-collapse-id``, at most 64 bytes): ten medals
    make one sound, and a resend after a crash replaces the first rather than
    duplicating it."""
    return f"rewards-{kind}"[:64]


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110
    section 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def backoff(attempts: int, retry_after_s: float | None, rng: random.Random) -> timedelta:
    """When to try again after ``attempts`` tries: exponential (30 s doubling, at most an
    hour) with full jitter over its upper half, never sooner than the provider's
    ``Retry-After``."""
    ceiling = min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S)
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return timedelta(seconds=delay)


def classify_fcm(status: int, body: Mapping[str, Any] | None) -> Answer:
    """An FCM HTTP v1 answer (https://firebase.google.com/docs/reference/fcm/rest/v1/
    ErrorCode): 200 with ``name``; errors as ``google.rpc.Status`` whose details hold an
    ``FcmError`` ``errorCode``."""
    body = body or {}
    if status == 200:
        return Answer(Outcome.SENT, message_id=str(body.get("name") or "")[:255] or None)
    found = body.get("error")
    error: Mapping[str, Any] = found if isinstance(found, dict) else {}
    codes = [
        detail.get("errorCode")
        for detail in error.get("details") or []
        if isinstance(detail, dict) and detail.get("errorCode")
    ]
    code = str(codes[0] if codes else error.get("status") or status)
    if code == "UNREGISTERED" or status == 404:
        return Answer(Outcome.GONE, error=f"fcm {status} {code}")
    if code == "INVALID_ARGUMENT" and _about_token(error.get("message")):
        return Answer(Outcome.GONE, error=f"fcm {status} {code}")
    if code in ("QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL") or status == 429 or status >= 500:
        return Answer(Outcome.RETRY, error=f"fcm {status} {code}")
    return Answer(Outcome.FAILED, error=f"fcm {status} {code}")


def _about_token(message: object) -> bool:
    """FCM answers INVALID_ARGUMENT for any bad field; the token's is the one whose
    message names the registration token (its other causes are our bugs)."""
    text = str(message or "").lower()
    return "token" in text


APNS_GONE = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"}


def classify_apns(status: int, reason: str | None, apns_id: str | None) -> Answer:
    """An APNs answer (https://developer.apple.com/documentation/usernotifications/
    handling-notification-responses-from-apns, "Understand error codes")."""
    if status == 200:
        return Answer(Outcome.SENT, message_id=apns_id)
    reason = reason or str(status)
    error = f"apns {status} {reason}"
    if status == 410 or reason in APNS_GONE:
        return Answer(Outcome.GONE, error=error)
    if status == 429 or status >= 500:
        return Answer(Outcome.RETRY, error=error)
    return Answer(Outcome.FAILED, error=error)


def zone(name: str | None) -> ZoneInfo:
    """The donor's IANA time zone; UTC where none is set or it is unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_quiet_hours(value: str) -> tuple[str, str] | None:
    """``"22:00-08:00"`` as (start, end); ``""`` or ``off``: None."""
    if value.strip().lower() in ("", "off", "none"):
        return None
    start, _, end = value.partition("-")
    return parse_clock(start.strip()), parse_clock(end.strip())


def parse_clock(value: str) -> str:
    """A local time ``HH:MM`` (00:00-23:59), normalised; ValueError otherwise."""
    hours, sep, minutes = value.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"not a time HH:MM: {value!r}")
    moment = time(int(hours), int(minutes))
    return moment.strftime("%H:%M")


def quiet_until(
    now: datetime, timezone: str | None, quiet: tuple[str, str] | None
) -> datetime | None:
    """When the donor's quiet hours end, if ``now`` falls in them (in their time zone);
    None outside them. A window may wrap midnight (22:00-08:00)."""
    if quiet is None or quiet[0] == quiet[1]:
        return None
    tz = zone(timezone)
    local = now.astimezone(tz)
    start, end = (time.fromisoformat(quiet[0]), time.fromisoformat(quiet[1]))
    moment = local.time().replace(second=0, microsecond=0, tzinfo=None)
    wraps = start > end
    inside = (start <= moment or moment < end) if wraps else start <= moment < end
    if not inside:
        return None
    day = local.date()
    if wraps and moment >= start:  # before midnight: the window ends tomorrow
        day += timedelta(days=1)
    naive = datetime.combine(day, end)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def day_start(now: datetime, timezone: str | None) -> datetime:
    """The start of the donor's day (local midnight), in UTC: the daily cap's window."""
    tz = zone(timezone)
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)


def payload_data(notification_id: int, kind: str, data: Mapping[str, Any]) -> dict[str, str]:
    """What a push carries beyond its title and body: ids for the app to open the right
    screen, as strings (FCM ``data`` values must be strings), nothing else (no address,
    no tracking number, no reason text)."""
    ids = {
        key: str(value)
        for key, value in data.items()
        if key.endswith("_id") and isinstance(value, int | str) and not isinstance(value, bool)
    }
    return {**ids, "notification_id": str(notification_id), "kind": kind}


def token_problem(platform: str, token: str) -> str | None:
    """Why ``token`` cannot be a device token of ``platform``, or None. An APNs token
    goes into the request's path, so it must be hexadecimal (Apple's tokens are); an
    FCM token goes into a JSON body: printable ASCII without spaces."""
    if not token or len(token) > TOKEN_MAX:
        return f"between 1 and {TOKEN_MAX} characters"
    if platform == APNS and not all(c in "0123456789abcdefABCDEF" for c in token):
        return "an APNs device token is hexadecimal"
    if platform == FCM and not all("!" <= c <= "~" for c in token):
        return "an FCM registration token is printable ASCII without spaces"
    return None


def push_language(saved: str | None, device_locale: str | None, written: Iterable[str]) -> str:
    """The language a push is written in: the donor's saved one, else the phone's (the
    app registers its locale: ``fr-CA`` reads French), among those ``written``, else
    English. No request is there to negotiate with: the job sends on its own."""
    languages = set(written)
    for tag in (saved, device_locale):
        language = (tag or "").replace("_", "-").split("-")[0].lower()
        if language in languages:
            return language
    return "en"
