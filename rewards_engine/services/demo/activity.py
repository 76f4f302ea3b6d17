"""Building the demo's past weeks once: the donors join, donate through the weeks at
drawn moments, then the aftermath; never twice (a campaign with clips is left alone).
"""

from __future__ import annotations

import logging
import random
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rewards_engine.models import Campaign, Clip
from rewards_engine.runtime import Runtime
from rewards_engine.services import consents
from rewards_engine.services.demo.aftermath import _aftermath
from rewards_engine.services.demo.app import Call, DemoApp
from rewards_engine.services.demo.population import _donors

log = logging.getLogger(__name__)
FILE = "demo_activity.toml"


@dataclass
class DemoReport:
    built: bool = False
    donors: int = 0
    calls: int = 0
    clips: int = 0

    def as_dict(self) -> dict[str, int | bool]:
        return dict(vars(self))


def build_activity(
    runtime: Runtime,
    directory: Path,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> DemoReport:
    """Build the demo's past weeks, unless they exist (a rerun changes nothing).
    ``on_progress(step, done, total)`` hears of the donors joined, the donations
    made (calls), then of the aftermath (one step)."""
    path = directory / FILE
    if not path.exists():
        return DemoReport()
    spec = tomllib.loads(path.read_text())
    campaign = spec["campaign"]
    with runtime.db.read() as session:
        if session.scalar(
            select(func.count()).select_from(Clip).where(Clip.campaign_id == campaign)
        ):
            return DemoReport()  # built already (or real activity): never twice
        kinds = list(session.get_one(Campaign, campaign).incident_types)
    report = DemoReport(built=True)
    with _wal_kept(runtime):
        _build(runtime, spec, kinds, report, on_progress)
    log.info("demo activity built", extra={"fields": report.as_dict()})
    return report


def _build(
    runtime: Runtime,
    spec: dict[str, Any],
    kinds: list[str],
    report: DemoReport,
    on_progress: Callable[[str, int, int | None], None] | None,
) -> None:
    """The donors join, donate through the weeks, then the aftermath."""
    rng = random.Random(spec["seed"])  # noqa: S311 - demo data, the same every time
    now = runtime.clock.now().replace(microsecond=0)
    start = now - timedelta(weeks=spec["weeks"])
    version = consents.get_current(runtime.db, runtime.clock).version
    app = DemoApp(runtime, spec["campaign"], version, seed=spec["seed"])
    people = _donors(runtime, spec, rng, start, version, on_progress)
    report.donors = len(people)
    days = (now - start).days
    seconds = tuple(spec["clip_seconds"])
    calls = []
    for donor_id, plan in people.items():
        for day in sorted(rng.sample(range(days), k=min(days, plan.days(rng, days)))):
            moment = start + timedelta(days=day, hours=rng.uniform(7, 22))
            count = rng.randint(*plan.clips_per_day)
            clips = [plan.clip(rng, moment, kinds, seconds) for _ in range(count)]
            calls.append(Call(donor_id, moment, clips))

    def made(done: int, clips: int) -> None:
        report.calls, report.clips = done, report.clips + clips
        if on_progress:
            on_progress("donations made", done, len(calls))

    app.donate_all(calls, on_done=made)
    if on_progress:
        on_progress("aftermath", 0, 1)  # vesting, medals, a redemption, payouts
    _aftermath(runtime, app, spec, start)
    if on_progress:
        on_progress("aftermath", 1, 1)


@contextmanager
def _wal_kept(runtime: Runtime) -> Iterator[None]:
    """On SQLite, one idle connection held open while the demo's thousands of short
    transactions run: the last connection to close makes SQLite checkpoint and delete
    its write-ahead log (a disk flush), and the next commit start a new one (another)."""
    if not runtime.db.is_sqlite:
        yield
        return
    with runtime.db.engine.connect():
        yield
