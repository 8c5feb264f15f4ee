"""Progress that a stage reports and a command shows. A stage calls its ``progress`` callable with a short
message (what it is doing now) or with :class:`Steps` (how far a counted job has come: training steps with the
loss, evaluated examples). The stages never print; the CLI shows the reports with :class:`Reporter`: a rich
progress bar with the step, the loss and the time left in a terminal, and plain timestamped log lines when
the output goes to a file (CI, ``nohup``, a cluster job), at least every ``every`` seconds while a counted
job runs — a step longer than that gets a "still on step" line."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TextIO, Union

EVERY = 20.0  # seconds between log lines of a running job at most (KGTOOLS_PROGRESS_SECONDS overrides)


@dataclass(frozen=True)
class Steps:
    """``done`` of ``total`` units of a counted job (``unit``: "step", "example"), with its latest numbers
    (loss…). ``logged``: a training log step (the trainer's ``logging_steps``), always written to a log."""

    job: str
    done: int
    total: int
    numbers: dict[str, float] = field(default_factory=dict)
    unit: str = "step"
    logged: bool = False


Report = Union[str, Steps]  # noqa: UP007 - a runtime alias (Python 3.10)
Progress = Callable[[Report], None]


def quiet(_report: Report) -> None:
    """The progress callable of a stage nobody watches."""


def steps_text(s: Steps, rate_from: tuple[float, int] | None = None, now: float | None = None) -> str:
    """``kg_sft: step 40/300 (13%), loss 3.21, 1:02 elapsed, ~6:45 left``."""
    share = f" ({100 * s.done // s.total}%)" if s.total else ""
    numbers = "".join(f", {k} {v:.4g}" for k, v in s.numbers.items())
    timing = ""
    if rate_from is not None:
        started, done0 = rate_from
        elapsed = (now or time.monotonic()) - started
        timing = f", {_clock(elapsed)} elapsed"
        if s.done > done0 and s.total > s.done:
            timing += f", ~{_clock(elapsed / (s.done - done0) * (s.total - s.done))} left"
    return f"{s.job}: {s.unit} {s.done:,}/{s.total:,}{share}{numbers}{timing}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Reporter:
    """Shows a stage's reports: use as a context manager and pass the instance as the stage's ``progress``.

    In a terminal (``console.is_terminal``) a rich progress bar; otherwise log lines on ``stream`` — every
    message, a counted job's first and last unit and every logged step, and at least one line every
    ``every`` seconds while a counted job runs."""

    def __init__(self, console: Any, *, title: str = "", every: float | None = None, stream: TextIO | None = None):
        self.console, self.title = console, title
        self.every = every if every is not None else float(os.environ.get("KGTOOLS_PROGRESS_SECONDS", EVERY))
        self.stream = stream or sys.stdout
        self.live = bool(getattr(console, "is_terminal", False))
        self._lock = threading.Lock()
        self._started: dict[str, tuple[float, int]] = {}  # job → (first seen, units done then)
        self._current: Steps | None = None
        self._last_line = time.monotonic()
        self._stop = threading.Event()
        self._bar = self._task = self._beat = None

    def __enter__(self) -> Reporter:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[numbers]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=None, numbers="")
        else:
            self._beat = threading.Thread(target=self._heartbeat, name="kgtools-progress", daemon=True)
            self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.stop()
        if self._beat is not None:
            self._beat.join(timeout=1)

    def __call__(self, report: Report) -> None:
        with self._lock:
            if isinstance(report, Steps):
                self._steps(report)
            else:
                self._message(str(report))

    def _message(self, text: str) -> None:
        self._current = None
        if self._bar is not None:
            self._bar.update(self._task, description=text, total=None, completed=0, numbers="")
        else:
            self._line(text)

    def _steps(self, s: Steps) -> None:
        now = time.monotonic()
        first = s.job not in self._started or s.done < self._started[s.job][1]
        if first:
            self._started[s.job] = (now, s.done)
        self._current = s
        if self._bar is not None:
            numbers = ", ".join(f"{k} {v:.4g}" for k, v in s.numbers.items())
            if first:
                self._bar.reset(self._task, total=s.total, completed=s.done)
            self._bar.update(self._task, description=f"{s.job} ({s.unit}s)", total=s.total, completed=s.done,
                             numbers=numbers)
        elif first or s.logged or s.done >= s.total or now - self._last_line >= self.every:
            self._line(steps_text(s, self._started[s.job], now))

    def _line(self, text: str, *, at: float | None = None) -> None:
        self._last_line = at or time.monotonic()
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"[{stamp}] {text}\n")
        self.stream.flush()

    def _heartbeat(self) -> None:
        """A line every ``every`` seconds while a counted job runs, even when one step takes longer."""
        while not self._stop.wait(min(self.every, 5.0)):
            with self._lock:
                now = time.monotonic()
                s = self._current
                if s is not None and s.done < s.total and now - self._last_line >= self.every:
                    still = f" (still on {s.unit} {s.done + 1:,})"
                    self._line(steps_text(s, self._started.get(s.job), now) + still, at=now)


def tag(stage: str, report: Report) -> Report:
    """A stage's report as a pipeline shows it: ``stage: message``, or the counted job named by the stage
    (``update/kg_sft`` for the job ``kg_sft`` of that stage)."""
    if isinstance(report, Steps):
        job = stage if stage == report.job or stage.endswith("/" + report.job) else f"{stage}: {report.job}"
        return replace(report, job=job)
    text, name = str(report), stage.rsplit("/", 1)[-1]
    return f"{stage}: {text[len(name) + 2:]}" if text.startswith(f"{name}: ") else f"{stage}: {text}"
