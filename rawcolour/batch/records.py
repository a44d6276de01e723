"""What a batch reports: one :class:`~rawcolour.inference.result.Result` per input, as it goes to
:class:`BatchEvents`, a :class:`Summary` of the run, and :func:`error_text`, the one line that
names a file, what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rawcolour.batch.collect import Collection
from rawcolour.batch.plan import Job
from rawcolour.errors import InputError, OutputError, RawcolourError, display_path, one_line
from rawcolour.inference.oom import out_of_memory
from rawcolour.inference.result import Result


class Converter(Protocol):
    """What the runner needs from the conversion step."""

    def prepare(self) -> None:
        """Load what every file needs (the model); errors here stop the batch."""

    def load(self, path: Path) -> Any:
        """Decode one file, in a worker thread and maybe before ``prepare``; errors fail that file only."""

    def develop(self, loaded: Any) -> Result:
        """What ``load`` gave -> the converted picture (the model runs here); errors fail that file only."""

    def describe(self) -> dict[str, str | None]:
        """``{"model": name, "model_sha256": hash}`` (hash None before prepare or for baselines)."""

    # Optional: ``provenance() -> dict`` of what an output made now records (model, model_sha256,
    # settings), known without loading the model; BatchRunner falls back to ``describe()``.
    # Optional: ``progress(stage, done)``, told "decoding" while the batch waits for a file's decode.


class BatchEvents:
    """What a caller of ``run_batch`` hears as the batch goes, all in the calling thread (the CLI's
    warnings, progress bar and --json lines); each does nothing here."""

    def collected(self, collection: Collection) -> None:
        """The inputs were collected (what was passed over, and why)."""

    def planned(self, jobs: Sequence[Job]) -> None:
        """This rank's jobs, in the order they will be converted."""

    def started(self, job: Job) -> None:
        """``job``'s file is the current one."""

    def progress(self, stage: str, share: float) -> None:
        """What is happening to the current file (loading the model, decoding, tiles, encoding), and
        how much of it is done (0..1)."""

    def recorded(self, record: Result) -> None:
        """``record`` is the outcome of a file (its output written, or why not)."""


@dataclass
class Summary:
    """Counts for a batch (one rank's, or the sum over ranks)."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unsupported: int = 0
    ignored: int = 0
    in_colour: int = 0  # colourise inputs that already had colour (converted or passed over)
    mismatched: int = 0  # failed because the output exists from another input, model or settings
    seconds: float = 0.0
    interrupted: bool = False
    planned: int = 0  # files this rank was given (run_batch)
    world: int = 1  # processes that took part (run_batch)
    unsupported_kinds: list[str] = field(default_factory=list)  # suffixes passed over ('.xmp', 'no suffix')

    def add(self, record: Result) -> None:
        setattr(self, record.status, getattr(self, record.status) + 1)
        self.in_colour += bool(record.in_colour)
        self.mismatched += record.mismatched

    def counts(self) -> list[int]:
        """The counts summed over ranks (set_counts takes them back)."""
        return [self.ok, self.failed, self.skipped, self.in_colour, self.mismatched, int(self.interrupted)]

    def set_counts(self, counts: Sequence[int]) -> None:
        self.ok, self.failed, self.skipped, self.in_colour, self.mismatched, _ = counts

    def to_json(self) -> dict[str, Any]:
        """The summary record of ``--json`` (``ranks`` only when several processes took part)."""
        record = {
            "summary": True,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "unsupported": self.unsupported,
            "ignored": self.ignored,
            "in_colour": self.in_colour,
            "mismatched": self.mismatched,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "total": self.ok + self.failed + self.skipped,
        }
        if self.world > 1:
            record["ranks"] = self.world
        return record


_FALLBACK_HINTS: dict[type, str] = {
    InputError: "re-copy or re-export the file, or leave it out",
    OutputError: "check the output folder and the free space",
}


def error_text(err: BaseException, path: Path | str) -> str:
    """One line naming the file, what is wrong and what to do."""
    if isinstance(err, RawcolourError):
        hint = err.hint
        if not hint:  # every failure line says what to do
            hint = _FALLBACK_HINTS.get(type(err), _FALLBACK_HINTS.get(type(err).__mro__[1]))
        if err.path is None or hint != err.hint:
            err = type(err)(err.problem, path=err.path or path, hint=hint)
        return str(err)
    shown = display_path(path)
    kind = out_of_memory(err)
    if kind == "host":
        return (f"{shown}: not enough memory to convert this picture; close other programs, or use a smaller "
                "--tile (a smaller --render-size when colourising)")
    if kind == "device":
        return f"{shown}: the device ran out of memory; use a smaller --tile or --device cpu"
    detail = one_line(str(err)) or type(err).__name__
    return f"{shown}: unexpected error ({type(err).__name__}: {detail}); please report this as a bug"
