import pytest

from rewards_engine.domain.errors import InvalidInput
from rewards_engine.domain.profiles import (
    normalise_display_name,
    random_alias,
    validate_timezone,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Ada", "Ada"),
        ("  Bruno K.  ", "Bruno K."),
        ("José_Ñ-1", "José_Ñ-1"),
        ("Jose\u0301", "José"),  # NFC: a combining accent becomes one character
        ("李小龙", "李小龙"),
        ("O'Neil", "O'Neil"),
        ("ab", "ab"),
        ("x" * 32, "x" * 32),
    ],
)
def test_valid_names_are_normalised(raw: str, stored: str) -> None:
    assert normalise_display_name(raw) == stored


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("a", "2 to 32"),
        ("x" * 33, "2 to 32"),
        ("ada@example.com", "e-mail"),
        ("ada\u200bbob", "invisible"),
        ("ada\nbob", "control"),
        ("ada  bob", "runs of spaces"),
        ("<script>", "letters, digits"),
        ("--", "at least one letter"),
        ("ada😀", "letters, digits"),
    ],
)
def test_invalid_names_say_which_rule_and_field(raw: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        normalise_display_name(raw)
    assert caught.value.field == "display_name"
    assert caught.value.code == "invalid_display_name"


def test_timezones_are_iana_names() -> None:
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(InvalidInput) as caught:
        validate_timezone("Mars/Olympus")
    assert caught.value.field == "timezone"


def test_aliases_are_random_not_derived() -> None:
    aliases = {random_alias() for _ in range(200)}
    assert len(aliases) > 190  # practically never repeats
    assert all(len(alias.split()) == 3 for alias in aliases)
