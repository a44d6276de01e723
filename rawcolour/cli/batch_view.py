"""What a running batch shows (``rawcolour colourise`` / ``raw2rgb``): a warning for each input passed
over, the progress bar, a --json line per file and the summary, and how it stops on Ctrl-C,
SIGTERM, SIGHUP or a closed stdout. stdout carries nothing but the --json records (or, with `-o -`, the
picture); everything else goes to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from rawcolour import batch, distributed
from rawcolour.cli.common import EXIT_INTERRUPTED, err_console, error_line, print_json, silence_stdout
from rawcolour.errors import RawcolourError, display_path

EXIT_TERMINATED = 143  # SIGTERM
EXIT_HUNG_UP = 129  # SIGHUP
EXIT_BROKEN_PIPE = 141  # SIGPIPE: the reader of stdout went away


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM, SIGHUP, or stdout closed by its reader: stop cleanly (temporary files are removed)."""

    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code, self.why = code, why


# signals that end a batch like Ctrl-C (SIGHUP: the terminal or the ssh session closed), with their exit codes
_STOPPING_SIGNALS = {"SIGTERM": (EXIT_TERMINATED, "terminated"), "SIGHUP": (EXIT_HUNG_UP, "hung up")}


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop a batch the way Ctrl-C does: no partial file left, counts reported.
    A signal the caller ignores stays ignored (``nohup rawcolour ...`` must outlive its terminal)."""
    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(*_STOPPING_SIGNALS[signal.Signals(signum).name])

    previous: dict[signal.Signals, Any] = {}
    try:
        for name in _STOPPING_SIGNALS:
            sig = getattr(signal, name, None)  # no SIGHUP on Windows
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread (e.g. a test runner)
        yield
        return
    try:
        yield
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)


class _Rate(ProgressColumn):
    """Pictures per second over the whole run (a per-file rate jumps too much to read)."""

    def render(self, task: Any) -> Text:
        elapsed = task.elapsed or 0.0
        if not task.completed or elapsed <= 0:
            return Text("-- pic/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.2f} pic/s", style="progress.data.speed")


def _progress(enabled: bool) -> Progress | None:
    """Files done / total, the current file and what is happening to it (loading the model,
    decoding, tile k of n, encoding), pictures per second and the time left. The bar and the time
    left move within a file as its tiles are done."""
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}", table_column=Column(width=24, no_wrap=True)),
        TextColumn("{task.fields[stage]}", style="progress.description",
                   table_column=Column(width=13, no_wrap=True)),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
        console=err_console,
        redirect_stdout=False,  # stdout carries --json records / the picture, never the progress
        redirect_stderr=False,
        transient=True,
    )


def warn(text: str, quiet: bool) -> None:
    if not quiet:
        err_console.print(f"rawcolour: warning: {text}", markup=False)


def summary_line(task: str, s: batch.Summary, total_seconds: float, kinds: list[str], only_grey: bool = False) -> str:
    parts = [f"{s.ok} converted"]
    passed_colour = s.in_colour if only_grey else 0  # --only-grey passes every picture in colour over
    if s.skipped - passed_colour:
        parts.append(f"{s.skipped - passed_colour} skipped (output exists, same model and settings; "
                     "--on-exist overwrite to redo)")
    if passed_colour:
        parts.append(f"{passed_colour} skipped (already in colour)")
    if s.failed:
        other = (f": {s.mismatched} output{'s' if s.mismatched != 1 else ''} made from another input, by another "
                 "model or with other settings (--on-exist overwrite, or another -o)") if s.mismatched else ""
        parts.append(f"{s.failed} failed{other}")
    if s.in_colour and not only_grey:
        parts.append(f"{s.in_colour} input{'s were' if s.in_colour != 1 else ' was'} already in colour: "
                     "colours replaced (--only-grey passes them over)")
    if s.unsupported:
        parts.append(f"{s.unsupported} file{'s' if s.unsupported != 1 else ''} not read by {task} passed over "
                     f"({', '.join(kinds)})")
    if s.ignored:
        parts.append(f"{s.ignored} earlier rawcolour output{'s' if s.ignored != 1 else ''} ignored")
    rate = f", {s.ok / total_seconds:.2f} pictures/s" if s.ok and total_seconds > 0 else ""
    return f"rawcolour: {', '.join(parts)} in {total_seconds:.1f} s{rate}"


class Display(batch.BatchEvents):
    """What the terminal and stdout show of a batch: a warning for each input passed over, the
    progress bar (rank 0, on a terminal), a --json line per file."""

    def __init__(self, task: str, *, as_json: bool, quiet: bool) -> None:
        self.task, self.quiet, self.as_json = task, quiet, as_json
        self.emit_json = as_json
        self.done = 0  # files recorded
        self.ranks = distributed.Ranks()
        self.shown: contextlib.ExitStack | None = None  # what closes the progress bar
        self.bar: Progress | None = None
        self.row: Any = None  # the bar's task

    def collected(self, collection: batch.Collection) -> None:
        for path in collection.unsupported_named:
            warn(f"{display_path(path)}: not a file {self.task} reads ({batch.describe_inputs(self.task)}); "
                  "passed over", self.quiet)

    def planned(self, jobs: Any) -> None:
        show = (not self.quiet and err_console.is_terminal and self.ranks.rank == 0
                and not (self.as_json and sys.stdout.isatty()))
        self.bar = _progress(show)
        if self.bar is not None and self.shown is not None:
            self.row = self.bar.add_task("starting", total=len(jobs), stage="")
            self.shown.enter_context(self.bar)

    def started(self, job: batch.Job) -> None:
        if self.bar is not None:
            self.bar.update(self.row, description=escape(_short(job.input.name)), stage="")

    def progress(self, stage: str, share: float) -> None:
        if self.bar is not None:  # within a file: the bar and the time left move with its tiles
            self.bar.update(self.row, completed=self.done + min(max(share, 0.0), 0.99), stage=escape(stage))
            if not stage.startswith("tile"):
                self.bar.refresh()  # a new step shows at once, however short (tiles: 10 times a second)

    def recorded(self, record: batch.Result) -> None:
        self.done += 1
        if record.status == "failed":
            err_console.print(error_line(record.error), markup=False)
        if self.bar is not None:
            self.bar.update(self.row, completed=self.done, stage="")
        if self.emit_json:
            try:
                print_json(record.to_json())
            except BrokenPipeError:
                self.emit_json = False
                silence_stdout()
                raise Interrupted(EXIT_BROKEN_PIPE, "stdout was closed") from None


def stopped(exc: KeyboardInterrupt, summary: batch.Summary, display: Display, start: float) -> typer.Exit:
    """Ctrl-C, SIGTERM, SIGHUP or a closed stdout: say so, and end --json with this rank's counts so far."""
    code = exc.code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED
    why = exc.why if isinstance(exc, Interrupted) else "interrupted"
    if code != EXIT_BROKEN_PIPE:
        err_console.print(f"rawcolour: {why} after {display.done} of {summary.planned} files; no partial file was left",
                          markup=False)
    if display.emit_json:  # this rank's counts so far
        summary.interrupted, summary.seconds = True, time.perf_counter() - start
        json_summary(summary)
    return typer.Exit(code)


def print_summary(task: str, summary: batch.Summary, emit_json: bool, quiet: bool, only_grey: bool) -> None:
    if emit_json:
        print_json(summary.to_json())
    if not quiet:
        err_console.print(summary_line(task, summary, summary.seconds, summary.unsupported_kinds, only_grey),
                          markup=False)


def json_summary(summary: batch.Summary, **extra: Any) -> None:
    """The summary record after the batch stopped early: this rank's counts so far, and why."""
    with contextlib.suppress(BrokenPipeError, RawcolourError):
        print_json({**summary.to_json(), **extra})


def library_logs_off() -> None:
    """Library log records (tifffile's on a broken tag, ...) never reach the terminal: without a
    handler of their own, Python's last-resort handler would print them on stderr. While converting,
    BatchRunner keeps each file's as a note of its record."""
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
