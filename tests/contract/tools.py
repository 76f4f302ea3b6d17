"""The tools that read the OpenAPI document, as the contract tests run them: Redocly,
Spectral, openapi-typescript and tsc from the repository's npm devDependencies
(``npm ci``; ``python3 dev.py test`` runs it where Node.js is), openapi-python-client
from the dev extra. A tool missing here skips its test and says how to get it."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
PYTHON_CLIENT_CONFIG = Path(__file__).with_name("python-client.yaml")


def node_tool(name: str) -> str:
    """The path of an npm devDependency's command, or skip the test saying why."""
    if shutil.which("node") is None:
        pytest.skip(f"no Node.js here: {name} cannot run (install Node.js 20+, then npm ci)")
    tool = NODE_BIN / name
    if not tool.exists():
        pytest.skip(f"{name} is not installed: run `npm ci` (python3 dev.py test does)")
    return str(tool)


def run(command: list[str], cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def write_document(document: dict[str, Any], directory: Path) -> Path:
    path = directory / "openapi.json"
    path.write_text(json.dumps(document, indent=1))
    return path


def generate_python_client(document: Path, directory: Path) -> tuple[ModuleType, str]:
    """openapi-python-client's client for ``document``, imported under a name of its
    own; and what the generator said."""
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        pytest.skip("openapi-python-client (dev extra) is not installed: pip install -e .[dev]")
    name = f"rewards_client_{uuid.uuid4().hex[:8]}"
    done = run(
        [str(generator), "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(directory / name), "--config", str(PYTHON_CLIENT_CONFIG)],
        cwd=directory,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(directory))
    try:
        package = importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))
    return package, done.stdout + done.stderr


def operation(package: ModuleType, operation_id: str) -> Any:
    """The generated module of an operation (``getMe`` is ``api/<tag>/get_me.py``)."""
    module = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
    api = importlib.import_module(f"{package.__name__}.api")
    for found in pkgutil.walk_packages(api.__path__, f"{api.__name__}."):
        if found.name.endswith(f".{module}"):
            return importlib.import_module(found.name)
    raise AssertionError(f"the generated client has no {operation_id}")
