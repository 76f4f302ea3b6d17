"""How the medal screen is shown: the art's URLs (served with the API, or from a CDN),
the language, and what a secret medal shows until it is earned."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from rewards_engine.config import Settings
from rewards_engine.domain.languages import DEFAULT_LANGUAGE
from rewards_engine.services.notifications.inbox import texts

ART_FOLDER = "medal-art"
PLACEHOLDER_ICON = "medal-secret"


@dataclass(frozen=True)
class MedalDisplay:
    base_url: str
    version: str  # a hash of the art: a URL changes when its picture does
    language: str = DEFAULT_LANGUAGE
    placeholder_name: str = "Secret medal"
    placeholder_description: str = ""

    def icon_url(self, icon_key: str, *, locked: bool) -> str:
        name = f"{icon_key}-locked" if locked else icon_key
        return f"{self.base_url}/{name}.svg?v={self.version}"


@functools.cache
def _art_version(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.svg")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def medal_display(settings: Settings, language: str = DEFAULT_LANGUAGE) -> MedalDisplay:
    """The art at ``MEDAL_ART_BASE_URL`` (a CDN holding fixtures/medal-art), else served
    by the API at /static/medals; secret medals' texts in ``language``."""
    base = settings.medal_art_base_url or f"{settings.public_url}/static/medals"
    words = texts(settings.fixtures_dir).get(language, {}).get("words", {})
    english = texts(settings.fixtures_dir)[DEFAULT_LANGUAGE]["words"]
    return MedalDisplay(
        base_url=base.rstrip("/"),
        version=_art_version(settings.fixtures_dir / ART_FOLDER),
        language=language,
        placeholder_name=words.get("secret_medal", english["secret_medal"]),
        placeholder_description=words.get(
            "secret_medal_description", english["secret_medal_description"]
        ),
    )
