"""What the inbox knows without I/O: the kinds of notification, and how a text is
chosen and filled for a language (Babel's CLDR data for plural categories, numbers and
money)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from babel import Locale
from babel.dates import format_date
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
    RANK_GAINED = "rank_gained"
    RANK_LOST = "rank_lost"


MILESTONES = (1, 3, 10, 100, 1_000, 10_000)
RANK_NEWS_EVERY = timedelta(days=1)


def rank_news(
    told: int | None, rank: int | None, told_at: datetime | None, now: datetime
) -> Kind | None:
    """Whether a donor hears that they passed someone or were passed, on a board they
    follow: at once when a milestone rank (1, 3, 10, 100...) is reached or lost, else
    at most once a day, for the net move since they were last told."""
    if told is None or rank is None or rank == told:
        return None
    crossed = any((rank <= m) != (told <= m) for m in MILESTONES)
    if not crossed and told_at is not None and now - told_at < RANK_NEWS_EVERY:
        return None
    return Kind.RANK_GAINED if rank < told else Kind.RANK_LOST


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
    for name in ("rank", "previous_rank"):
        if name in data:
            values[name] = format_decimal(data[name], locale=locale)
    if "board" in data:
        values["board_text"] = board_text(data["board"], data.get("campaign"), words, locale)
    body = template.get("body")
    if body is None:
        category = locale.plural_form(data.get("count", 1))
        body = template.get(f"body_{category}", template.get("body_other", ""))
    return template["title"].format_map(_Blank(values)), body.format_map(_Blank(values))


def board_text(board: str, campaign: str | None, words: Mapping[str, str], locale: Locale) -> str:
    """A board's name in a sentence: the month in the language's own words (Babel's
    CLDR month names: "March 2025", "mars 2025")."""
    kind, _, rest = board.partition(":")
    if kind == "month":
        year, month = (int(part) for part in rest.split("-"))
        month_name = format_date(date(year, month, 1), "LLLL y", locale=locale)
        return words.get("board_month", "{month}").format(month=month_name)
    if kind == "week":
        iso_year, iso_week = rest.split("-W")
        return words.get("board_week", "{week}").format(week=int(iso_week), year=iso_year)
    if kind == "campaign":
        return words.get("board_campaign", "{campaign}").format(campaign=campaign or rest)
    return words.get("board_all_time", board)


class _Blank(dict[str, Any]):
    """A placeholder with no value stays visible as itself, rather than failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
