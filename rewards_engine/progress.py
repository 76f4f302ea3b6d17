"""Progress for the long commands: how many done (of how many), how fast, how long so
far and how long to go, drawn on a terminal only.

    with progress("rebuilding", total=len(names), unit="boards") as boards:
        for name in names:
            with boards.sub(name) as board:
                result = wall.rebuild(runtime, name, on_progress=board.report)
            boards.echo(f"{name}: {result}")
            boards.advance()

When stderr is a terminal the lines are drawn with rich, and every logging handler
writing to that terminal prints through the same console meanwhile: each record
appears whole above the bar (still one JSON object per line, ``rewards_engine.logs``).
Anywhere else (CI, a pipe, a file) nothing is drawn and logging is left alone, so a
command prints its summary and its logs only.

Use cases know nothing of this module: a long loop takes an optional
``on_progress(step, done, total)`` callback (total None when unknown) and a command
passes ``Counter.report``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TextIO

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.text import Text

REFRESH_S = 0.1  # a count reaches the display at most this often (a loop may call per item)


@contextmanager
def progress(
    what: str,
    total: int | None = None,
    *,
    unit: str = "",
    counts: bool = True,
    stream: TextIO | None = None,
    get_time: Callable[[], float] = time.monotonic,
) -> Iterator[Counter]:
    """A counter for ``what``, drawn on ``stream`` (default stderr) if it is a terminal.

    ``counts=False`` shows only that the command is working and for how long (a job that
    reports nothing until it ends). The last state stays on screen when the block ends."""
    stream = stream if stream is not None else sys.stderr
    if not _is_terminal(stream):
        yield Counter(None, what, total, unit, get_time)
        return
    display = _Display(stream, get_time)
    with display:
        counter = Counter(display, what, total, unit, get_time, counts=counts)
        try:
            yield counter
        finally:
            counter.flush()


class Counter:
    """One line: what is being done, and how far it got."""

    def __init__(
        self,
        display: _Display | None,
        what: str,
        total: int | None,
        unit: str,
        get_time: Callable[[], float],
        *,
        counts: bool = True,
    ) -> None:
        self.done = 0
        self.total = total
        self.unit = unit
        self._display = display
        self._get_time = get_time
        self._shown = 0.0
        self._heard = get_time()  # when the last count came
        if display is not None:
            self._task = display.bar.add_task(what, total=total, unit=unit, counts=counts)
            self._row = next(task for task in display.bar.tasks if task.id == self._task)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._show()

    def report(self, step: str, done: int, total: int | None = None) -> None:
        """The ``on_progress`` callback of a use case: ``done`` of ``total`` ``step``s.

        A new step starts a new count, with its own rate and time since the last count
        of the step before (its first items took that long); within a step a None
        ``total`` keeps the one known."""
        if step != self.unit:
            began, self._heard = self._heard, self._get_time()
            self.unit, self.done, self.total = step, done, total
            if self._display is not None:
                bar = self._display.bar
                bar.reset(self._task, start=False, total=total, completed=done, unit=step)
                self._row.total = total  # reset() keeps the old total when given None
                self._row.start_time = began  # the step began with the last count, not now
                self._row.fields["counts"] = True
            return
        self.done = done
        if total is not None:
            self.total = total
        self._show()

    def describe(self, what: str) -> None:
        if self._display is not None:
            self._display.bar.update(self._task, description=what)

    def echo(self, line: str, file: TextIO | None = None) -> None:
        """A result line for ``file`` (default stdout): printed above the bar when that
        is a terminal too, which the bar would otherwise garble."""
        if self._display is not None and _is_terminal(file if file is not None else sys.stdout):
            self._display.console.out(line, highlight=False)
        else:
            click.echo(line, file=file)

    @contextmanager
    def sub(self, what: str, total: int | None = None, *, unit: str = "") -> Iterator[Counter]:
        """A line under this one for a part of the work, gone when the part is done."""
        child = Counter(self._display, what, total, unit, self._get_time)
        try:
            yield child
        finally:
            if self._display is not None:
                self._display.bar.remove_task(child._task)

    def flush(self) -> None:
        self._show(force=True)

    def _show(self, force: bool = False) -> None:
        if self._display is None:
            return
        now = self._heard = self._get_time()
        if force or now - self._shown >= REFRESH_S or self.done == self.total:
            self._shown = now
            self._display.bar.update(self._task, completed=self.done, total=self.total)


class _Figures(ProgressColumn):
    """``1,200/5,000 donors · 240.0/s · 0:00:05 · 0:00:16 left``: the rate is the
    average since the step began."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished_time is not None else task.elapsed
        seconds = elapsed or 0.0
        if not task.fields.get("counts", True):
            return Text(_clock(seconds))
        done, total = int(task.completed), task.total
        rate = done / seconds if seconds > 0 else None
        count = f"{done:,}" if total is None else f"{done:,}/{int(total):,}"
        parts = [
            f"{count} {task.fields.get('unit', '')}".rstrip(),
            "-/s" if rate is None else f"{rate:,.1f}/s",
            _clock(seconds),
        ]
        if total is not None and done < total:
            parts.append(f"{_clock((total - done) / rate)} left" if rate else "-:--:-- left")
        return Text(" · ".join(parts))


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


class _Display:
    """One rich Progress on a terminal, with logging routed above it while it is shown."""

    def __init__(self, stream: TextIO, get_time: Callable[[], float]) -> None:
        self.stream = stream
        self.console = Console(file=stream, force_terminal=True, highlight=False)
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            _Figures(),
            console=self.console,
            get_time=get_time,
            redirect_stdout=False,  # stdout may be a command's data (export-training)
            redirect_stderr=stream is sys.stderr,  # stray writes (warnings) go above it too
        )
        self._handlers: list[logging.StreamHandler[TextIO]] = []

    def __enter__(self) -> _Display:
        above = _AboveTheBar(self.console)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is self.stream:
                handler.setStream(above)
                self._handlers.append(handler)
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.bar.stop()
        finally:
            for handler in self._handlers:
                handler.setStream(self.stream)


class _AboveTheBar:
    """What a logging handler writes while a bar is shown: each complete line is printed
    through the bar's console, above the bar and as written (never wrapped or styled)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        if lines:
            self._console.out("\n".join(lines), highlight=False)
        return len(text)

    def flush(self) -> None:
        """Lines are printed as they complete."""


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
