"""A real headless Chromium (Debian's, driven by Playwright) against the app served on a
loopback port. ``python3 dev.py test`` installs Chromium where it can; where no browser
can be found, these tests skip and say how to get one."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.processes import serving

ROOT = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found: `python3 dev.py test` installs Debian's chromium when it runs "
            "as root with apt-get; otherwise install one or set CHROMIUM=/path/to/chrome"
        )
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is a dev dependency: pip install -e '.[dev]'"
    )
    with playwright.sync_playwright() as driver:
        # Chromium refuses to sandbox itself as root (CI containers run as root).
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = driver.chromium.launch(executable_path=executable, args=args)
        yield launched
        launched.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test's app (its runtime, clock and database) on a free loopback port."""
    with serving(app) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def snap(page: Any, settings: Any, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``snap("donor")`` saves a full-page screenshot of the test's page (or of ``of``)
    under test-artifacts/console/<database>/."""
    backend = "postgresql" if settings.database_url.startswith("postgresql") else "sqlite"
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts")) / "console"
    folder = folder / backend
    folder.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name.removeprefix("test_"))

    def take(name: str, of: Any = None) -> Path:
        path = folder / f"{test}--{name}.png"
        (of or page).screenshot(path=str(path), full_page=True)
        return path

    return take
