"""The long commands' progress as an operator meets it: on a terminal a bar with counts
and the logs whole above it; in a pipe or CI the summary and the logs, nothing else."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from rewards_engine.cli import cli
from rewards_engine.domain.actors import Actor
from rewards_engine.domain.ledger import POINTS, AccountKind, TransferKind, issue
from rewards_engine.services import ledger
from rewards_engine.services.donors import ensure_donor

CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _logging_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A command configures the root logger for its own stderr: put it back after."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def funded(runtime, n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` donors with points: accounts and transfers for ``ledger verify`` to check."""
    for k in range(n):
        donor_id = ensure_donor(runtime.db, runtime.clock, f"progress-{k}").id
        with runtime.db.transaction() as uow:
            ledger.post(
                uow.session,
                now=runtime.clock.now(),
                kind=TransferKind.ADJUSTMENT,
                reference=("test", k),
                actor=Actor.system("test"),
                idempotency_key=f"progress-{k}",
                legs=issue(donor_id, AccountKind.POINTS_AVAILABLE, POINTS, 10),
            )


def test_off_a_terminal_the_commands_print_their_summary_and_logs_only(cli_env, runtime) -> None:  # type: ignore[no-untyped-def]
    funded(runtime, 3)
    verify = CliRunner().invoke(cli, ["ledger", "verify"])
    assert verify.exit_code == 0, verify.output
    assert verify.stdout == "checked 3 accounts and 3 transfers: all consistent\n"
    assert all(json.loads(line) for line in verify.stderr.splitlines())  # logs, if any

    rebuild = CliRunner().invoke(cli, ["wall", "rebuild"])
    assert rebuild.exit_code == 0, rebuild.output
    rebuilt = [json.loads(line) for line in rebuild.stderr.splitlines()]  # JSON logs only
    boards = [r["board"] for r in rebuilt if r["event"] == "wall board rebuilt"]
    assert boards[0] == "all-time" and len(boards) > 1
    said = rebuild.stdout.splitlines()  # the summary: one line per board, on stdout
    assert [line.split(": {")[0] for line in said] == boards
    assert all(line.endswith("}") for line in said)


def test_on_a_terminal_wall_rebuild_counts_boards_with_its_logs_whole_above(
    cli_env, runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    funded(runtime, 2)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # the command's stderr: a terminal
    cli.main(["wall", "rebuild"], standalone_mode=False)

    seen = [
        piece
        for line in CONTROL.sub("", terminal.getvalue()).splitlines()
        for piece in line.split("\r")
        if piece
    ]
    records = [json.loads(piece) for piece in seen if piece.startswith("{")]
    boards = [r["board"] for r in records if r["event"] == "wall board rebuilt"]
    assert boards[0] == "all-time" and len(boards) > 1
    # Every record is a whole line, never mixed with the bar.
    assert all(piece.startswith("{") for piece in seen if '"event"' in piece)
    final = [piece for piece in seen if "rebuilding the wall" in piece][-1]
    assert f"{len(boards)}/{len(boards)} boards" in final and "/s" in final
    said = capsys.readouterr().out.splitlines()  # stdout is no terminal here: plain lines
    assert [line.split(": {")[0] for line in said] == boards
