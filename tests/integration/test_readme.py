"""The README's walkthrough, run as written against a real server: every call answers
2xx (``curl -f``), so the calls a newcomer copies keep working."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from rewards_engine.runtime import Runtime
from tests.support.factories import PROGRAM, body, clip
from tests.support.processes import ROOT, api_nodes

README = ROOT / "README.md"
ENGINE = Path(sys.executable).parent / "rewards-engine"


def walkthrough() -> str:
    """The first ``sh`` block of the README."""
    match = re.search(r"```sh\n(.*?)```", README.read_text(), re.S)
    assert match, "the README has no sh walkthrough"
    return match.group(1)


@pytest.mark.skipif(not shutil.which("curl"), reason="the walkthrough uses curl")
def test_the_readme_walkthrough_runs_as_written(live: Runtime, cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rewards_engine.domain.actors import Actor
    from rewards_engine.domain.submissions import ClipInput
    from rewards_engine.services import consents, donors, submissions

    # Ada has donated before, as in the demo, so that she stands on the wall.
    ada = donors.ensure_donor(live.db, live.clock, "demo-ada").id
    consents.grant(live.db, live.clock, ada, "2024-12-01")
    payload = body(PROGRAM, [clip(recorded_at=live.clock.now() - timedelta(hours=3))])
    clips = [ClipInput(**{**c, "recorded_at": live.clock.now() - timedelta(hours=3)})
             for c in payload["clips"]]  # fmt: skip
    submissions.submit(live.db, live.clock, Actor(id="donor:ada", role="donor"), ada,
                       submissions.SubmissionRequest(PROGRAM, "2024-12-01", clips))  # fmt: skip
    with api_nodes(1) as [base]:
        script = walkthrough()
        # Run where it may write its files, with this environment's command.
        script = script.replace("cd rewards-engine", f"cd {tmp_path}")
        script = script.replace(".venv/bin/rewards-engine", str(ENGINE))
        script = script.replace("http://localhost:8000/v1", f"{base}/v1")
        script = re.sub(r"\bcurl -s\b", "curl -sSf", script)  # any 4xx or 5xx fails the run
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert '"status":"fulfilled"' in done.stdout.replace(" ", "")  # the gift card came
    assert "Apprentice" in done.stdout or "apprentice" in done.stdout
