"""The README's walkthrough, run as written against a real server: every call answers
2xx (``curl -f``), so the calls a newcomer copies keep working: the video it donates is
claimed, uploaded to the engine's store, verified by the verify-uploads job and paid."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from rewards_engine.runtime import Runtime
from tests.support import processes
from tests.support.cameras import register_camera
from tests.support.factories import CONSENT, PROGRAM
from tests.support.processes import ROOT, api_nodes

README = ROOT / "README.md"
ENGINE = Path(sys.executable).parent / "rewards-engine"


def walkthrough() -> str:
    """The first ``sh`` block of the README."""
    match = re.search(r"```sh\n(.*?)```", README.read_text(), re.S)
    assert match, "the README has no sh walkthrough"
    return match.group(1)


@pytest.mark.skipif(not shutil.which("curl"), reason="the walkthrough uses curl")
def test_the_readme_walkthrough_runs_as_written(  # type: ignore[no-untyped-def]
    live: Runtime, cli_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rewards_engine.services import consents, donors
    from rewards_engine.services.demo import DemoApp, PlannedClip

    # Ada has donated before, as in the demo (a video uploaded and verified), so that
    # she stands on the wall.
    ada = donors.ensure_donor(live.db, live.clock, "demo-ada").id
    consents.grant(live.db, live.clock, ada, CONSENT)
    register_camera(live, "demo-ada", "CAM-ADA")
    moment = live.clock.now() - timedelta(hours=3)
    clip = PlannedClip("ada-1", "package_theft", "CAM-ADA", moment - timedelta(hours=1), 2)
    assert DemoApp(live, PROGRAM, CONSENT, seed=1).donate(ada, moment, [clip]) == 1
    # The upload URLs the server hands out name its own address (PUBLIC_URL; `serve
    # --port` does not tell its workers the port it binds): the node's port is chosen here.
    port = processes.free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)
    monkeypatch.setenv("PUBLIC_URL", f"http://127.0.0.1:{port}")
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
    said = done.stdout.replace(" ", "")
    assert '"status":"verified"' in said and '"intake":"verified"' in said  # checked, paid
    assert '"outcome":"registered"' in said and '"camera_rule":"registered"' in said
    assert '"status":"fulfilled"' in said  # the gift card came
    assert "Apprentice" in done.stdout or "apprentice" in done.stdout
    assert "Votre clip a bien" in done.stdout  # the inbox, in French
