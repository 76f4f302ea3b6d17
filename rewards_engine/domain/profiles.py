"""Rules for what a donor may call themselves and how they appear in public."""

from __future__ import annotations

import secrets
import unicodedata
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rewards_engine.domain.errors import InvalidInput

DISPLAY_NAME_MIN = 2
DISPLAY_NAME_MAX = 32
# Besides letters, combining marks and digits: single spaces and a few joiners.
_NAME_PUNCTUATION = frozenset(" .'-_")
_LETTERS, _MARKS, _DIGITS = ("Lu", "Ll", "Lt", "Lm", "Lo"), ("Mn", "Mc", "Me"), ("Nd", "Nl", "No")
# Characters that draw nothing although their category says letter or mark: Unicode's
# Default_Ignorable_Code_Point set (fillers, variation selectors, invisible vowels...)
# and the blank braille pattern. Some are letters (U+3164 HANGUL FILLER is Lo), so the
# categories alone would let a name of nothing but them through.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip


def is_invisible(ch: str) -> bool:
    """True for a character that renders as nothing (a filler, a zero-width or bidi
    control, a variation selector), whatever its general category."""
    code = ord(ch)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


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

    Names are NFC-normalised and trimmed; 2 to 32 characters (code points) of letters
    of any script with their combining marks, digits, single spaces and ``. ' - _``;
    nothing invisible (fillers, zero-width and bidi controls) and nothing that looks
    like an e-mail address (a wall is public). A name must show at least one letter
    or digit. Emoji and other symbols are refused.
    """
    name = unicodedata.normalize("NFC", raw).strip()

    def fail(message: str) -> InvalidInput:
        return InvalidInput(message, code="invalid_display_name", field="display_name")

    if "@" in name:
        raise fail("a display name cannot contain '@' (it must not be an e-mail address)")
    if not DISPLAY_NAME_MIN <= len(name) <= DISPLAY_NAME_MAX:
        raise fail(f"a display name has {DISPLAY_NAME_MIN} to {DISPLAY_NAME_MAX} characters")
    if any(is_invisible(ch) for ch in name):
        raise fail("a display name cannot contain invisible characters (fillers, zero-width)")
    categories = [unicodedata.category(ch) for ch in name]
    if any(category in ("Cc", "Cf", "Co", "Cs", "Cn") for category in categories):
        raise fail("a display name cannot contain control or invisible characters")
    for index, (ch, category) in enumerate(zip(name, categories, strict=True)):
        if category in _MARKS:
            if index == 0 or categories[index - 1] not in (*_LETTERS, *_MARKS, *_DIGITS):
                raise fail("a combining mark in a display name must follow a letter or digit")
        elif category not in _LETTERS and category not in _DIGITS and ch not in _NAME_PUNCTUATION:
            raise fail("a display name has letters, digits, spaces and . ' - _ only")
    if "  " in name:
        raise fail("a display name cannot contain runs of spaces")
    if not any(category in (*_LETTERS, *_DIGITS) for category in categories):
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
