"""Waiting for something to happen: poll the actual condition, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    timeout: float = 10.0,
    every: float = 0.05,
    *,
    what: str = "the condition",
) -> T:
    """Poll ``condition`` until it returns something true, and return that; after
    ``timeout`` seconds fail, naming ``what`` was awaited.

    Tests wait with this on the actual condition (a process up, a job run, a key gone)
    rather than sleeping a guessed time. A fixed sleep stays only where the time itself
    is under test (a slow answer, a slow client, proving that something does not
    happen), with ``# fixed sleep:`` and the reason on its line."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}: it did not happen")
        time.sleep(every)  # the polling interval
