"""The OpenAPI document as the tools that read it see it (issue 22, item 5): Redocly's
``recommended`` and Spectral's ``oas`` rulesets find no error (the warnings kept are
listed with their reason in redocly.yaml and .spectral.yaml), and clients generated
from it build: Python (openapi-python-client) and TypeScript (openapi-typescript,
compiled by ``tsc --noEmit``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.contract.tools import (
    ROOT,
    generate_python_client,
    node_tool,
    operation,
    run,
    write_document,
)

# The warnings redocly.yaml keeps, each with its reason there; anything else fails.
REDOCLY_KEPT = Counter({"warn operation-4xx-response": 2, "warn info-license-strict": 1})

# What the generated Python client leaves out, and why: the embedded store's upload
# takes the raw video under the Content-Type signed into its URL (any video type), and
# apps PUT to that URL directly.
PYTHON_CLIENT_OMITS = ["PUT /v1/storage/uploads/{token}"]

USAGE_TS = """\
import type { components, operations, paths } from "./schema";

type Schemas = components["schemas"];
type Answer<O extends keyof operations, S extends keyof operations[O]["responses"]> =
  operations[O]["responses"][S] extends { content: { "application/json": infer B } } ? B : never;

const me: Answer<"getMe", 200> = {} as Schemas["Me"];
const payout: Schemas["PayoutSummary"] | null = me.payout;
const progress: Schemas["Progress"] | null = ({} as Schemas["Medal"]).progress;
const earned: Schemas["ClipEarned"] = ({} as Schemas["Clip"]).earned;
const hash: string | null = ({} as Schemas["Clip"]).perceptual_hash;
const refused: Schemas["Error"] = {} as Answer<"getSubmission", 404>;
const code: number = refused.code;
const redeem: Schemas["Redeem"] = { reward_id: "gift-card" };  // the address is optional
const route: keyof paths = "/v1/me";
export { code, earned, hash, payout, progress, redeem, route };
"""


@pytest.fixture
def document(client: FlaskClient, tmp_path: Path) -> Path:
    spec: dict[str, Any] = client.get("/openapi.json").get_json()
    return write_document(spec, tmp_path)


def test_redocly_recommended_finds_no_error(document: Path) -> None:
    redocly = node_tool("redocly")
    done = run(
        [redocly, "lint", str(document), "--config", str(ROOT / "redocly.yaml"),
         "--format", "json", "--max-problems", "500"],
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    problems = json.loads(done.stdout)["problems"]
    found = Counter(f"{p['severity']} {p['ruleId']}" for p in problems)
    assert found == REDOCLY_KEPT, json.dumps(problems, indent=1)[-6000:]


def test_spectral_oas_finds_no_error(document: Path) -> None:
    spectral = node_tool("spectral")
    report = document.with_name("spectral.json")
    done = run(
        [spectral, "lint", str(document), "--ruleset", str(ROOT / ".spectral.yaml"),
         "--fail-severity", "error", "--format", "json", "--output", str(report)],
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(report.read_text()) == [], report.read_text()[-6000:]


def test_the_typescript_client_types_compile(document: Path, tmp_path: Path) -> None:
    generate, tsc = node_tool("openapi-typescript"), node_tool("tsc")
    made = run([generate, str(document), "--output", str(tmp_path / "schema.d.ts")], cwd=ROOT)
    assert made.returncode == 0, made.stdout + made.stderr
    (tmp_path / "usage.ts").write_text(USAGE_TS)
    compiled = run(
        [tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
         "--moduleResolution", "bundler", str(tmp_path / "schema.d.ts"),
         str(tmp_path / "usage.ts")],
        cwd=tmp_path,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout[-6000:] + compiled.stderr[-2000:]


def test_the_python_client_is_generated_whole(document: Path, tmp_path: Path) -> None:
    package, said = generate_python_client(document, tmp_path)
    skipped = [line for line in said.splitlines() if line.startswith("WARNING parsing")]
    assert skipped == [f"WARNING parsing {o} within storage. Endpoint will not be generated."
                       for o in PYTHON_CLIENT_OMITS], said  # fmt: skip
    assert operation(package, "getMe").sync_detailed
    assert operation(package, "markNotificationRead").sync_detailed
