"""Long commands' progress (rewards_engine.progress): counts and a rate on a terminal,
log records whole above the bar, and nothing at all anywhere else."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from rewards_engine.logs import JsonFormatter
from rewards_engine.progress import progress

CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours, cursor moves, line erases


class Terminal(io.StringIO):
    """What a terminal receives, kept: a stream that says it is a TTY."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class Time:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(stream: io.StringIO) -> list[str]:
    """What a reader sees, line by line: control sequences dropped, redraws split."""
    return [line for line in re.split(r"[\r\n]", CONTROL.sub("", stream.getvalue())) if line]


def last_line_with(stream: io.StringIO, text: str) -> str:
    return [line for line in lines(stream) if text in line][-1]


@pytest.fixture(autouse=True)
def _a_capable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "200")  # no line cropped to the default 80
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def json_logs_to() -> Iterator[list[logging.Handler]]:
    """Attach JSON handlers (as rewards_engine.logs does) to the root logger; removed after."""
    added: list[logging.Handler] = []
    yield added
    for handler in added:
        logging.getLogger().removeHandler(handler)


def json_handler(
    stream: io.StringIO, added: list[logging.Handler]
) -> logging.StreamHandler[io.StringIO]:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    added.append(handler)
    return handler


def test_a_terminal_sees_the_count_the_total_the_rate_and_the_time() -> None:
    terminal, time = Terminal(), Time()
    with progress("exporting", total=10, unit="clips", stream=terminal, get_time=time) as bar:
        for _ in range(10):
            time.now += 0.5
            bar.advance()
    final = last_line_with(terminal, "exporting")
    assert "10/10 clips" in final
    assert "2.0/s" in final  # 10 clips in 5 seconds
    assert "0:00:05" in final


def test_an_unknown_total_is_counted_and_each_step_has_its_own_count_and_rate() -> None:
    terminal, time = Terminal(), Time()
    with progress("verifying", stream=terminal, get_time=time) as bar:
        for n in range(1, 5):
            time.now += 1.0
            bar.report("transfers", n, 4)  # a use case's on_progress callback
        for n in range(1, 31):
            time.now += 0.1
            bar.report("accounts", n, None)
    final = last_line_with(terminal, "verifying")
    # 30 accounts in the 3 seconds since the last transfer; no total, so no "/" or end.
    assert "30 accounts · 10.0/s · 0:00:03" in final
    assert "/4" not in final and "left" not in final


def test_a_remaining_time_is_estimated_from_the_rate() -> None:
    terminal, time = Terminal(), Time()
    with progress("importing", total=100, unit="codes", stream=terminal, get_time=time) as bar:
        time.now += 10
        bar.report("codes", 25)  # the use case knows no total; the command's is kept
    final = last_line_with(terminal, "importing")
    assert "25/100 codes" in final and "2.5/s" in final and "0:00:30 left" in final


def test_a_log_record_emitted_during_progress_appears_whole_above_the_bar(
    json_logs_to: list[logging.Handler],
) -> None:
    terminal, time = Terminal(), Time()
    handler = json_handler(terminal, json_logs_to)
    log = logging.getLogger("tests.progress")
    log.setLevel(logging.INFO)
    with progress("rebuilding", total=4, unit="boards", stream=terminal, get_time=time) as bar:
        for n in range(4):
            time.now += 1
            bar.advance()
            log.info("wall board rebuilt [all-time]", extra={"fields": {"board": n}})
            assert handler.stream is not terminal  # routed through the bar's console
    assert handler.stream is terminal  # and given back

    records = [json.loads(line) for line in lines(terminal) if line.startswith("{")]
    assert [r["board"] for r in records] == [0, 1, 2, 3]
    assert {r["event"] for r in records} == {"wall board rebuilt [all-time]"}  # no markup
    # Each record is a line of its own: nothing of the bar before or after it.
    raw = terminal.getvalue()
    for line in raw.splitlines():
        text = CONTROL.sub("", line).split("\r")
        for piece in text:
            if '"event"' in piece:
                assert piece.startswith("{") and piece.endswith("}")
    assert "4/4 boards" in last_line_with(terminal, "rebuilding")


def test_result_lines_for_the_same_screen_are_printed_above_the_bar_not_through_it() -> None:
    terminal, stdout, time = Terminal(), Terminal(), Time()
    with progress("exporting", total=2, unit="clips", stream=terminal, get_time=time) as bar:
        for n in range(2):
            time.now += 1
            bar.echo(f'{{"clip_id": {n}}}', file=stdout)  # stdout is a terminal too
            bar.advance()
    assert stdout.getvalue() == ""  # written by the bar's console instead
    assert [line for line in lines(terminal) if line.startswith("{")] == [
        '{"clip_id": 0}',
        '{"clip_id": 1}',
    ]


def test_off_a_terminal_nothing_is_drawn_and_logging_is_left_alone(
    json_logs_to: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    pipe, time = Pipe(), Time()
    handler = json_handler(pipe, json_logs_to)
    log = logging.getLogger("tests.progress")
    log.setLevel(logging.INFO)
    with progress("rebuilding", total=3, unit="boards", stream=pipe, get_time=time) as bar:
        for n in range(3):
            with bar.sub(f"board {n}") as part:
                part.report("donors placed", 5, 5)
            assert handler.stream is pipe
            log.info("wall board rebuilt", extra={"fields": {"board": n}})
            bar.echo(f"board {n}: rebuilt")
            bar.advance()
    assert bar.done == 3
    # The pipe holds the log records and nothing else; the summary went to stdout.
    assert [json.loads(line)["board"] for line in pipe.getvalue().splitlines()] == [0, 1, 2]
    assert capsys.readouterr().out == "board 0: rebuilt\nboard 1: rebuilt\nboard 2: rebuilt\n"
