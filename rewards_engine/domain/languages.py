"""The languages the engine writes in, which one a donor reads, and translated texts.

English is written in the record itself (a medal's ``name``); other languages live
beside it, in ``translations``: ``{"fr": {"name": ..., "description": ...}}``. A text
missing in a language falls back to English, field by field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from babel import Locale, UnknownLocaleError

from rewards_engine.domain.errors import InvalidInput

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
MAX_TEXT = 100_000  # the longest text translated: a consent body


def choose_language(saved: str | None, accept_language: str | None) -> str:
    """The donor's saved language if we write it, else the best of the request's
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
    """A language the donor may save: one we write texts in (``fr-CA`` is ``fr``)."""
    try:
        language = Locale.parse(value.replace("-", "_")).language
    except (ValueError, UnknownLocaleError):
        language = ""
    if language not in LANGUAGES:
        raise ValueError(f"one of {', '.join(LANGUAGES)}")
    return language


def localised(
    english: Mapping[str, Any], translations: Mapping[str, Any] | None, language: str
) -> dict[str, Any]:
    """``english`` with each field the translation into ``language`` has replaced."""
    texts = dict(english)
    if language != DEFAULT_LANGUAGE and translations:
        for name, value in (translations.get(language) or {}).items():
            if name in texts and value:
                texts[name] = value
    return texts


def validate_translations(
    translations: Any, fields: Sequence[str], field: str = "translations"
) -> dict[str, dict[str, str]] | None:
    """``{"fr": {"name": ...}}``: languages we write, fields the record has, strings."""
    if translations is None:
        return None
    if not isinstance(translations, Mapping):
        raise InvalidInput("translations map a language to its texts", field=field)
    checked: dict[str, dict[str, str]] = {}
    for language, texts in translations.items():
        if language not in LANGUAGES or language == DEFAULT_LANGUAGE:
            others = ", ".join(x for x in LANGUAGES if x != DEFAULT_LANGUAGE)
            raise InvalidInput(f"translations are in {others}", field=f"{field}.{language}")
        if not isinstance(texts, Mapping):
            raise InvalidInput("a language's texts are an object", field=f"{field}.{language}")
        for name, value in texts.items():
            where = f"{field}.{language}.{name}"
            if name not in fields:
                raise InvalidInput(f"translatable fields are {', '.join(fields)}", field=where)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise InvalidInput(f"a text of at most {MAX_TEXT} characters", field=where)
        checked[language] = {str(k): str(v) for k, v in texts.items()}
    return checked
