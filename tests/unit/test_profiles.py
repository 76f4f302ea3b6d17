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
    "name",
    [
        "Zoë Ångström",  # Latin with accents
        "François-Noël",
        "Łukasz Żółć",
        "Дмитрий Иванов",  # Cyrillic
        "Ἀλέξανδρος",  # Greek with breathing marks
        "محمد علي",  # Arabic
        "مُحَمَّد",  # Arabic with harakat (Mn)
        "דוד כהן",  # Hebrew
        "नमस्ते",  # Devanagari: virama (Mn) and a vowel sign (Mc)
        "अनुष्का शर्मा",
        "தமிழ் செல்வி",  # Tamil: Mc and Mn vowel signs
        "สมชาย ใจดี",  # Thai: Mn vowels and tone marks
        "ກິ່ງແກ້ວ",  # Lao
        "李小龙",  # CJK
        "さくら_2",  # Kana
        "김민수",  # Hangul syllables
        "ᄀᆞᆫ",  # Old Hangul jamo NFC cannot compose: letters, not fillers
        "ሰላም",  # Ethiopic
        "Ada Lovelace 2",
    ],
)
def test_names_in_every_script_are_accepted(name: str) -> None:
    assert normalise_display_name(name) == name


def test_decomposed_hangul_is_composed() -> None:
    assert normalise_display_name("\u1100\u1161\u1102\u1161") == "\uac00\ub098"


@pytest.mark.parametrize(
    "raw",
    [
        "\u3164\u3164\u3164",  # HANGUL FILLER (a letter, Lo, that draws nothing)
        "\uffa0\uffa0",  # HALFWIDTH HANGUL FILLER
        "\u115f\u115f",  # HANGUL CHOSEONG FILLER
        "\u1160\u1160",  # HANGUL JUNGSEONG FILLER
        "\u2800\u2800\u2800",  # BRAILLE PATTERN BLANK
        "Ada\u3164",  # a visible name padded with a filler
        "ab\u200c",  # ZERO WIDTH NON-JOINER
        "a\u200db",  # ZERO WIDTH JOINER
        "\u2060ab",  # WORD JOINER
        "ab\ufeff",  # ZERO WIDTH NO-BREAK SPACE
        "ab\u00ad",  # SOFT HYPHEN
        "\u202eadA",  # RIGHT-TO-LEFT OVERRIDE
        "ab\u2066",  # LEFT-TO-RIGHT ISOLATE
        "ab\u061c",  # ARABIC LETTER MARK
        "ab\ufe0f",  # VARIATION SELECTOR-16
        "ab\U000e0041",  # TAG LATIN CAPITAL LETTER A
    ],
)
def test_names_that_draw_nothing_or_hide_characters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput, match="invisible") as caught:
        normalise_display_name(raw)
    assert caught.value.field == "display_name"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("\u0301\u0301\u0301", "combining mark"),  # marks on nothing
        ("\u094d\u0947ab", "combining mark"),  # a Devanagari sign with no letter before it
        ("- \u0301", "combining mark"),
        ("ab\u3000cd", "letters, digits"),  # IDEOGRAPHIC SPACE: only U+0020 separates
        ("ab\u00a0cd", "letters, digits"),  # NO-BREAK SPACE
        ("😀😀", "letters, digits"),  # emoji are symbols, not letters
        ("Ada 👍", "letters, digits"),
        ("ab\ue000", "control or invisible"),  # private use
        ("._", "at least one letter"),
    ],
)
def test_names_without_a_visible_letter_or_with_symbols_are_refused(raw: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        normalise_display_name(raw)


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
