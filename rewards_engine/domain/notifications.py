"""What the inbox knows without I/O: the kinds of notification, the languages texts are
written in, and how a text is chosen and filled for a language (Babel's CLDR data for
plural categories, numbers and money)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"


class Kind(StrEnum):
    MEDAL_AWARDED = "medal_awarded"
    CLIP_VERIFIED = "clip_verified"
    CLIP_REJECTED = "clip_rejected"
    REDEMPTION_FULFILLED = "redemption_fulfilled"
    REDEMPTION_SHIPPED = "redemption_shipped"
    PAYOUT_SENT = "payout_sent"
    PAYOUT_FAILED = "payout_failed"
    PAYOUT_RETURNED = "payout_returned"
    CAMPAIGN_OPENED = "campaign_opened"
    CONSENT_CHANGED = "consent_changed"


def choose_language(saved: str | None, accept_language: str | None) -> str:
    """The donor's saved language if we write it, else the best of the app's
    ``Accept-Language`` (quality order), else English."""
    if saved in LANGUAGES:
        return saved
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and weight > 0:
            wanted.append((weight, tag.strip().replace("-", "_")))
    ordered = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
    found = Locale.negotiate(ordered, list(LANGUAGES), sep="_") if ordered else None
    return found.language if found else DEFAULT_LANGUAGE


def normalise_language(value: str) -> str:
    """A language the donor may save: one we write texts in."""
    try:
        language = Locale.parse(value.replace("-", "_")).language
    except (ValueError, UnknownLocaleError):
        language = ""
    if language not in LANGUAGES:
        raise ValueError(f"one of {', '.join(LANGUAGES)}")
    return language


def render(
    texts: Mapping[str, Mapping[str, Any]], language: str, kind: str, data: Mapping[str, Any]
) -> tuple[str, str]:
    """The title and body of a notification in ``language`` (English where it has no
    text for ``kind``), its placeholders filled from ``data``."""
    if kind not in texts.get(language, {}):
        language = DEFAULT_LANGUAGE
    template = texts[language][kind]
    locale = Locale.parse(language)
    words = texts[language].get("words", {})
    reasons = texts[language].get("reasons", {})
    values: dict[str, Any] = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    if "count" in data:
        values["count"] = format_decimal(data["count"], locale=locale)
    if "amount_cents" in data:
        values["amount"] = format_currency(
            data["amount_cents"] / 100, data.get("currency", "USD"), locale=locale
        )
    if "medals" in data:
        values["medals"] = ", ".join(data["medals"])
    if "status" in data:
        values["status_text"] = words.get(data["status"], data["status"])
    if "reason" in data:
        reason = data["reason"] or ""
        values["reason_text"] = reasons.get(reason, reason.replace("_", " "))
    body = template.get("body")
    if body is None:
        category = locale.plural_form(data.get("count", 1))
        body = template.get(f"body_{category}", template.get("body_other", ""))
    return template["title"].format_map(_Blank(values)), body.format_map(_Blank(values))


class _Blank(dict[str, Any]):
    """A placeholder with no value stays visible as itself, rather than failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
