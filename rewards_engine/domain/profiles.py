"""Rules for what a donor may call themselves and how they appear in public."""

from __future__ import annotations

import re
import secrets
import unicodedata
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rewards_engine.domain.errors import InvalidInput

DISPLAY_NAME_MIN = 2
DISPLAY_NAME_MAX = 32
# Letters and digits of any script, single spaces and a few joiners.
_NAME_CHARS = re.compile(r"^[\w .'\-]+$", re.UNICODE)


class Visibility(StrEnum):
    """How a donor appears on the public Honor Wall."""

    PUBLIC = "public"  # their display name
    ALIAS = "alias"  # a stable random pseudonym
    HIDDEN = "hidden"  # not on public pages; they still see their own rank


class DonorStatus(StrEnum):
    ACTIVE = "active"
    BANNED = "banned"
    ERASED = "erased"


def normalise_display_name(raw: str) -> str:
    """Return the name as stored, or raise :class:`InvalidInput` naming the rule broken.

    Names are NFC-normalised and trimmed; 2 to 32 characters of letters, digits,
    spaces and ``. ' - _``; no runs of spaces, no control or invisible characters,
    and nothing that looks like an e-mail address (a wall is public).
    """
    name = unicodedata.normalize("NFC", raw).strip()

    def fail(message: str) -> InvalidInput:
        return InvalidInput(message, code="invalid_display_name", field="display_name")

    if "@" in name:
        raise fail("a display name cannot contain '@' (it must not be an e-mail address)")
    if not DISPLAY_NAME_MIN <= len(name) <= DISPLAY_NAME_MAX:
        raise fail(f"a display name has {DISPLAY_NAME_MIN} to {DISPLAY_NAME_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in name):
        raise fail("a display name cannot contain control or invisible characters")
    if not _NAME_CHARS.match(name):
        raise fail("a display name has letters, digits, spaces and . ' - _ only")
    if "  " in name:
        raise fail("a display name cannot contain runs of spaces")
    if not any(ch.isalnum() for ch in name):
        raise fail("a display name needs at least one letter or digit")
    return name


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(raw: str) -> str:
    """An IANA time zone name such as ``Europe/Berlin`` (used for day boundaries)."""
    if raw not in _zone_names():
        raise InvalidInput(
            f"unknown time zone {raw!r}; use an IANA name such as Europe/Berlin",
            code="invalid_timezone",
            field="timezone",
        )
    try:
        ZoneInfo(raw)
    except ZoneInfoNotFoundError as exc:  # pragma: no cover - listed but not loadable
        raise InvalidInput("unknown time zone", field="timezone") from exc
    return raw


_ADJECTIVES = [
    "Alert",
    "Amber",
    "Bold",
    "Brave",
    "Bright",
    "Calm",
    "Clever",
    "Cobalt",
    "Crimson",
    "Daring",
    "Eager",
    "Keen",
    "Loyal",
    "Lucky",
    "Mellow",
    "Nimble",
    "Noble",
    "Quick",
    "Quiet",
    "Rapid",
    "Silent",
    "Sharp",
    "Steady",
    "Swift",
    "Vigilant",
    "Wary",
    "Watchful",
    "Wise",
    "Golden",
    "Silver",
]
_ANIMALS = [
    "Badger",
    "Beaver",
    "Bison",
    "Crane",
    "Falcon",
    "Ferret",
    "Finch",
    "Fox",
    "Gecko",
    "Hawk",
    "Heron",
    "Ibis",
    "Jackal",
    "Lynx",
    "Magpie",
    "Marten",
    "Otter",
    "Owl",
    "Panda",
    "Puffin",
    "Raven",
    "Robin",
    "Seal",
    "Stoat",
    "Swift",
    "Tern",
    "Wolf",
    "Wren",
    "Yak",
    "Koala",
]


def random_alias() -> str:
    """A pseudonym such as ``Vigilant Otter 4821``: random, so no id can be read from it."""
    return (
        f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_ANIMALS)} {secrets.randbelow(9000) + 1000}"
    )
