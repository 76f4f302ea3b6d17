#!/usr/bin/env python3
"""Set up and run the project with nothing but Python 3.11+.

    python3 dev.py serve   # .venv, runtime install, migrate, demo, API + scheduler on :8000
    python3 dev.py test    # .venv, dev extras, Chromium and nginx if missing (apt, root),
                           # npm ci where Node.js is, tests
    python3 dev.py test --fast   # unit and API tests only: no browser, fuzzing or slow scenarios
    python3 dev.py lint    # ruff, import contracts, mypy, vulture, doc figures

Extra arguments go to the command (``python3 dev.py test -k wall -x``). The virtual
environment is reused; it is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_environment(dev: bool) -> None:
    """The virtual environment with the project installed: its runtime dependencies for
    ``serve``, plus the dev extras (test tools, linters, the browser driver) for ``test``
    and ``lint``. Reinstalled only when pyproject.toml changes."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be run by an old python3
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    wanted = [VENV / f".installed-{digest}-dev"] + ([] if dev else [VENV / f".installed-{digest}"])
    if any(stamp.exists() for stamp in wanted):
        return  # the dev install holds everything serve needs too
    target = f"{ROOT}[dev]" if dev else str(ROOT)
    what = "the project, its dependencies and the dev tools" if dev else "the project"
    print(f"installing {what} (pip's progress below) ...", file=sys.stderr, flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--progress-bar", "on"]
    run([*pip, "--quiet", "--upgrade", "pip"])
    run([*pip, "--upgrade-strategy", "only-if-needed", "-e", target])
    for old in VENV.glob(".installed-*"):
        old.unlink()
    wanted[0 if dev else -1].touch()


def run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(result.returncode)


def serve(args: list[str]) -> None:
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    tool = str(BIN / "rewards-engine")
    run([tool, "migrate"], env)
    run([tool, "load-fixtures", "--demo"], env)
    os.execve(tool, [tool, "serve", "--scheduler", *args], env)  # noqa: S606


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def ensure_debian_package(package: str, present: bool, skip_variable: str, purpose: str) -> None:
    """Some tests drive a real program (Chromium for the console, nginx for slow
    clients): install Debian's package where we can (root with apt-get, as in CI);
    elsewhere, or with ``skip_variable`` set, those tests skip and say why."""
    if present:
        return
    can_install = shutil.which("apt-get") and getattr(os, "geteuid", lambda: 1)() == 0
    if os.environ.get(skip_variable) or not can_install:
        print(f"no {package} here: the {purpose} will be skipped", file=sys.stderr)
        return
    print(f"installing {package} for the {purpose} (apt-get) ...", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
        if done.returncode != 0:
            print(f"{package} could not be installed: the {purpose} skip", file=sys.stderr)
            return


def ensure_node_packages() -> None:
    """The npm devDependencies the contract tests run (Redocly, Spectral,
    openapi-typescript, tsc): ``npm ci`` where Node.js is, again only when
    package-lock.json changes; without Node.js those tests skip and say why."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print(
            "no Node.js here: the OpenAPI lint and TypeScript tests will be skipped",
            file=sys.stderr,
        )
        return
    digest = hashlib.sha256((ROOT / "package-lock.json").read_bytes()).hexdigest()[:16]
    stamp = ROOT / "node_modules" / f".installed-{digest}"
    if stamp.exists():
        return
    print("installing the npm dev tools (npm ci) ...", file=sys.stderr, flush=True)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=False)  # noqa: S603
    if done.returncode != 0:
        print("npm ci failed: the OpenAPI lint and TypeScript tests will skip", file=sys.stderr)
        return
    stamp.touch()


FAST = ["tests/unit", "tests/api", "-m", "not slow and not browser and not fuzz"]


def pytest(args: list[str]) -> None:
    """pytest over one worker per core (at most four); a test file stays on one worker,
    so the tests of a module share their fixtures. ``-n 0`` runs them in one process."""
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        args = ["-n", str(min(4, os.cpu_count() or 1)), "--dist", "loadfile", *args]
    os.execv(str(BIN / "pytest"), [str(BIN / "pytest"), *args])  # noqa: S606


def test(args: list[str]) -> None:
    if "--fast" in args:
        pytest([*FAST, *(a for a in args if a != "--fast")])
    browser = bool(os.environ.get("CHROMIUM") or any(shutil.which(b) for b in BROWSERS))
    ensure_debian_package("chromium", browser, "SKIP_BROWSER_INSTALL", "browser tests")
    nginx = bool(os.environ.get("NGINX") or shutil.which("nginx"))
    nginx = nginx or os.path.exists("/usr/sbin/nginx")
    ensure_debian_package("nginx", nginx, "SKIP_NGINX_INSTALL", "slow-client test")
    ensure_node_packages()
    pytest(args)


def lint(args: list[str]) -> None:
    run([str(BIN / "ruff"), "check", ".", *args])
    run([str(BIN / "ruff"), "format", "--check", "."])
    run([str(BIN / "lint-imports"), "--no-logo"])  # the layering contracts in pyproject.toml
    run([str(BIN / "python"), "-m", "benchmarks.report", "--check"])  # doc figures = results
    run([str(BIN / "mypy")])  # [tool.mypy]: rewards_engine and api
    run([str(BIN / "vulture")])  # [tool.vulture]: dead code, bar vulture_whitelist.py


COMMANDS = {"serve": serve, "test": test, "lint": lint}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    ensure_environment(dev=sys.argv[1] != "serve")
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
