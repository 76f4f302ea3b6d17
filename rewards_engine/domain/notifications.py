"""What the inbox knows without I/O: the kinds of notification, and how a text is
chosen and filled for a language (Babel's CLDR data for plural categories, numbers and
money)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from babel import Locale
from babel.numbers import format_currency, format_decimal

from rewards_engine.domain.languages import DEFAULT_LANGUAGE


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
