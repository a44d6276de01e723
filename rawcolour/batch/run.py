"""Batch conversion: collect input files, plan output names, convert each, one record per file.

The command line (``rawcolour colourise`` / ``raw2rgb``) is a thin layer over this module; it
prints, this module never does. The steps, each usable alone:

1. :func:`collect_inputs`: files, folders (``recursive``), globs and paths read from stdin ->
   :class:`Collection` (the files this task reads, plus what was passed over and why).
2. :func:`plan_jobs`: output name for every input, all or nothing: two inputs writing the same
   output, or an output that is an input, raise :class:`~rawcolour.errors.UsageError` before any
   work is done.
3. :class:`BatchRunner`: converts its share of the jobs, decoding the next file and encoding and
   writing the previous one while the current one is developed (rawcolour.batch.pipeline; at most
   one picture per stage), loads the model on first need (a re-run where every output exists
   loads nothing), writes atomically and reports a :class:`Record` per file, in order. A bad file
   gives a ``failed`` record and the batch goes on; only problems that would fail every file
   (missing weights, no such device) stop it.
4. Under ``torchrun`` each rank converts every ``world``-th job of the sorted plan, and the counts
   are summed over ranks (rawcolour.distributed).

Output naming: ``stem + suffix + .png|.tif|.jpg`` in the ``-o`` folder (mirroring the tree below
each folder argument when ``recursive``), or next to the input. The default suffix is empty when
the output goes to another folder than its input, else ``_colour`` / ``_rgb``, so a default never
overwrites an input.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from rawcolour.batch.collect import Collection, collect_inputs, describe_inputs
from rawcolour.batch.pipeline import Outcome, run_pipelined
from rawcolour.batch.plan import Job, OutputPlan, default_bit_depth, output_kind, plan_jobs
from rawcolour.batch.provenance import conflict, pixel_settings, settings_text
from rawcolour.distributed import Ranks, close_distributed, init_distributed, rank_device, reduce_counts, share
from rawcolour.colour_spaces import get_colour_space, icc_profile
from rawcolour.errors import (
    CheckpointError,
    InputError,
    MissingWeightsError,
    OutputError,
    RawcolourError,
    UnknownModelError,
    UsageError,
    display_path,
    one_line,
)
from rawcolour.inference.classic import ClassicPicture, develop_classic, renders_camera_file
from rawcolour.inference.inputs import load_input
from rawcolour.inference.options import InferenceOptions
from rawcolour.io import images
from rawcolour.io.files import WriteAbandoned, clean_stale_temporaries
from rawcolour.io.metadata import camera_exif
from rawcolour.io.raw import c_stderr_silenced, is_raw_path
from rawcolour.registry import get_spec, is_model
from rawcolour.tasks import TASK_SPECS, get_task

DEFAULT_MODELS = {name: t.default_model for name, t in TASK_SPECS.items()}
ON_EXIST = ("skip", "overwrite", "error")


# Problems that would fail every file the same way: the batch stops at the first one. (Any error
# while loading the model stops it too; a DeviceError while converting is out of memory for one
# picture and fails that file only.)
FATAL_ERRORS: tuple[type[RawcolourError], ...] = (
    MissingWeightsError,
    CheckpointError,
    UnknownModelError,
    UsageError,
)



@dataclass
class Converted:
    """A converted picture, ready to encode."""

    rgb: np.ndarray  # (H, W, 3) upright: float32 in [0, 1], or uint8 / uint16 pixels as rendered (classic)
    input_bit_depth: int | None = None  # the input's depth (colourise keeps it by default)
    exif: bytes | None = None  # the input's (colourise) or the camera's (raw2rgb); --strip-metadata drops it
    icc_profile: bytes | None = None  # the input's profile (colourise); --strip-metadata drops it
    tile: int | None = None
    notes: list[str] = field(default_factory=list)
    device: str | None = None  # where the network ran (None for baselines)
    precision: str | None = None  # fp32 | fp16 | bf16 actually used
    white_balance: str | None = None  # raw2rgb: camera | auto | daylight | custom | model
    colour_profile: bytes | None = None  # the ICC profile of the pixels' colour space (raw2rgb): always kept
    in_colour: bool | None = None  # colourise: the input already had colour (its colours were replaced)


class PassedOver(Exception):
    """A file the batch passes over on purpose (``--only-grey`` on a colour picture): a skipped
    record with this note, not a failure."""

    def __init__(self, note: str, *, in_colour: bool | None = None):
        super().__init__(note)
        self.note, self.in_colour = note, in_colour


class Converter(Protocol):
    """What the runner needs from the conversion step."""

    def prepare(self) -> None:
        """Load what every file needs (the model); errors here stop the batch."""

    def load(self, path: Path) -> Any:
        """Decode one file, in a worker thread and maybe before ``prepare``; errors fail that file only."""

    def develop(self, loaded: Any) -> Converted:
        """What ``load`` gave -> the converted picture (the model runs here); errors fail that file only."""

    def describe(self) -> dict[str, str | None]:
        """``{"model": name, "model_sha256": hash}`` (hash None before prepare or for baselines)."""

    # Optional: ``provenance() -> dict`` of what an output made now records (model, model_sha256,
    # settings), known without loading the model; BatchRunner falls back to ``describe()``.
    # Optional: ``progress(stage, done)``, told "decoding" while the batch waits for a file's decode.


@dataclass
class Record:
    """The outcome for one input, as printed by ``--json``."""

    input: str
    output: str | None
    status: str  # ok | skipped | failed
    error: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    tile: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    device: str | None = None
    precision: str | None = None
    white_balance: str | None = None
    in_colour: bool | None = None  # colourise: the input already had colour (None: not looked at)
    mismatched: bool = False  # failed: the output exists, made by another model or with other settings

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "tile": self.tile,
            "seconds": round(self.seconds, 4),
            "notes": list(self.notes),
            "device": self.device,
            "precision": self.precision,
            "white_balance": self.white_balance,
            "in_colour": self.in_colour,
        }


@dataclass
class Summary:
    """Counts for a batch (one rank's, or the sum over ranks)."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unsupported: int = 0
    ignored: int = 0
    in_colour: int = 0  # colourise inputs that already had colour (converted or passed over)
    mismatched: int = 0  # failed because the output exists from another model or other settings
    seconds: float = 0.0
    interrupted: bool = False
    planned: int = 0  # files this rank was given (run_batch)
    world: int = 1  # processes that took part (run_batch)
    unsupported_kinds: list[str] = field(default_factory=list)  # suffixes passed over ('.xmp', '(none)')

    def add(self, record: Record) -> None:
        setattr(self, record.status, getattr(self, record.status) + 1)
        self.in_colour += bool(record.in_colour)
        self.mismatched += record.mismatched

    def counts(self) -> list[int]:
        """The counts summed over ranks (set_counts takes them back)."""
        return [self.ok, self.failed, self.skipped, self.in_colour, self.mismatched, int(self.interrupted)]

    def set_counts(self, counts: Sequence[int]) -> None:
        self.ok, self.failed, self.skipped, self.in_colour, self.mismatched, _ = counts

    def to_json(self) -> dict[str, Any]:
        return {
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
        }


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
    if isinstance(err, MemoryError):
        return f"{shown}: not enough memory to convert this picture; close other programs or use a smaller --tile"
    if "torch" in sys.modules:  # a network ran (batch itself stays torch-free for the baselines)
        from rawcolour.inference.device import is_oom

        if is_oom(err):
            return f"{shown}: the device ran out of memory; use a smaller --tile or --device cpu"
    detail = one_line(str(err)) or type(err).__name__
    return f"{shown}: unexpected error ({type(err).__name__}: {detail}); please report this as a bug"


def write_output(
    job: Job,
    converted: Converted,
    *,
    task: str,
    provenance: dict[str, str],
    strip_metadata: bool = False,
    stdout: BinaryIO | None = None,
) -> None:
    """Encode ``converted`` for ``job`` and write it atomically (or to ``stdout`` for ``-o -``)."""
    depth = job.bit_depth or default_bit_depth(task, job.fmt, converted.input_bit_depth)
    exif = None if strip_metadata else converted.exif
    icc = converted.colour_profile or (None if strip_metadata else converted.icc_profile)
    if job.to_stdout:
        if stdout is None:
            raise OutputError("no stdout stream to write the picture to", hint="report this as a bug")
        data = images.encode_image(
            converted.rgb, job.fmt, bit_depth=depth, exif=exif, icc_profile=icc, provenance=provenance,
            quality=job.quality,
        )
        stdout.write(data)  # BrokenPipeError propagates: the CLI exits 141, as `yes | head` does
        stdout.flush()
        return
    assert job.output is not None
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise OutputError(f"cannot create the output folder ({reason}); nothing was written",
                          path=job.output.parent, hint="choose a folder you can write to (-o)") from None
    images.write_image(
        job.output, converted.rgb, job.fmt, bit_depth=depth, exif=exif, icc_profile=icc, provenance=provenance,
        quality=job.quality,
    )


Writer = Callable[..., None]


class BatchRunner:
    """Convert jobs, overlapped (rawcolour.batch.pipeline): on-exist policy, per-file failures, a
    record for each, in the order of the jobs.

    ``on_start(job)`` is called as each file enters the model and ``on_record(record)`` after it is
    written (the CLI's progress bar and printing), both in the calling thread. ``summary`` is kept
    current, so after a KeyboardInterrupt it holds what was done. Errors of the kinds in
    FATAL_ERRORS (from a conversion) and any error of ``prepare`` propagate; every other error
    fails one file.
    """

    def __init__(
        self,
        converter: Converter,
        *,
        task: str,
        on_exist: str = "skip",
        strip_metadata: bool = False,
        stdout: BinaryIO | None = None,
        writer: Writer = write_output,
        on_start: Callable[[Job], None] | None = None,
        on_record: Callable[[Record], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        summary: Summary | None = None,
    ):
        if on_exist not in ON_EXIST:
            raise UsageError(f"--on-exist {on_exist!r} is not a policy", hint="use skip, overwrite or error")
        self.converter = converter
        self.task = get_task(task).name
        self.on_exist = on_exist
        self.strip_metadata = strip_metadata
        self.stdout = stdout
        self.writer = writer
        self.on_start = on_start or (lambda job: None)
        self.on_record = on_record or (lambda record: None)
        self.clock = clock
        self.summary = summary if summary is not None else Summary()
        self._prepared = False
        self._cleaned: set[str] = set()  # output folders already cleared of stale temporary files
        self._files: dict[int, _FileState] = {}  # id(job) -> what the stages noted about it
        self._notes = _LibraryNotes()

    def run(self, jobs: Sequence[Job]) -> Summary:
        start = self.clock()
        try:
            with c_stderr_silenced(), self._notes.collecting(), contextlib.closing(
                    run_pipelined(jobs, self._load, self._develop, self._finish, on_wait=self._waiting)) as outcomes:
                for outcome in outcomes:
                    record = self._outcome_record(outcome, self._notes.note(outcome.item))
                    self.summary.add(record)
                    self.on_record(record)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            raise
        finally:
            self.summary.seconds += self.clock() - start
            self._files.clear()
        return self.summary

    def _record(self, job: Job, status: str, **kw: Any) -> Record:
        described = self.converter.describe() if self._prepared else {"model": None, "model_sha256": None}
        out = "-" if job.to_stdout else (None if job.output is None else str(job.output))
        return Record(input=str(job.input), output=out, status=status,
                      model=described.get("model"), model_sha256=described.get("model_sha256"), **kw)

    def _file(self, job: Job) -> _FileState:
        return self._files.setdefault(id(job), _FileState())

    # ------------------------------------------------------------------ the three stages of a file

    def _load(self, job: Job) -> Record | Any:
        """Worker thread: a record for a job settled without converting it, else the decoded file."""
        with self._notes.for_file(job):
            settled = self._settled(job)
            return settled if settled is not None else self.converter.load(job.input)

    def _waiting(self, job: Job) -> None:
        """Calling thread: ``job`` is the current file and its decode is still running."""
        self.on_start(job)
        tell = getattr(self.converter, "progress", None)
        if tell is not None:
            tell("decoding", 0.0)

    def _develop(self, job: Job, loaded: Record | Any) -> Record | Converted:
        """Calling thread: the model (loaded on the first file that needs it) on the decoded file."""
        self.on_start(job)
        if isinstance(loaded, Record):
            return loaded
        if not self._prepared:
            began = self.clock()
            try:
                self.converter.prepare()
            except Exception as exc:  # noqa: BLE001 (it would fail every file: the batch stops)
                raise _StopBatch(exc) from exc
            self._prepared = True
            self._file(job).excluded = self.clock() - began  # a record's seconds are the file's own
        self._file(job).converted = True
        with self._notes.for_file(job):
            return self.converter.develop(loaded)

    def _finish(self, job: Job, developed: Record | Converted) -> Record:
        """Worker thread: encode and write atomically (or to stdout for ``-o -``)."""
        if isinstance(developed, Record):
            return developed
        with self._notes.for_file(job):
            notes = self._file(job).folder_notes = self._clean_folder(job)
            provenance = {"task": self.task, "input": job.input.name}
            provenance.update({k: v for k, v in self._provenance().items() if v})
            self.writer(job, developed, task=self.task, provenance=provenance,
                        strip_metadata=self.strip_metadata, stdout=self.stdout)
        return self._record(job, "ok", tile=developed.tile, notes=notes + list(developed.notes),
                            device=developed.device, precision=developed.precision,
                            white_balance=developed.white_balance, in_colour=developed.in_colour)

    def _outcome_record(self, outcome: Outcome[Job], library_note: str | None) -> Record:
        """The record of a finished job; errors that must stop the batch are raised here."""
        job, err = outcome.item, outcome.error
        state = self._file(job)
        if isinstance(err, _StopBatch):
            raise err.error
        if isinstance(err, PassedOver):
            record = self._record(job, "skipped", notes=list(state.folder_notes) + [err.note],
                                  in_colour=err.in_colour)
        elif err is not None:
            if isinstance(err, FATAL_ERRORS) or not isinstance(err, Exception) or isinstance(
                    err, (BrokenPipeError, WriteAbandoned)):
                raise err  # BrokenPipeError: the reader of stdout went away; the CLI exits 141
            record = self._record(job, "failed", error=error_text(err, job.input), notes=list(state.folder_notes))
        else:
            record = outcome.value
        if state.converted:
            record.seconds = max(0.0, outcome.seconds - state.excluded)
        if library_note:
            record.notes.append(library_note)
        self._files.pop(id(job), None)
        return record

    def _settled(self, job: Job) -> Record | None:
        """The record of a job decided without converting: a planning error, a dangling output link,
        an existing output (--on-exist skip or error); None when the job is to be converted."""
        if job.error is not None:
            return self._record(job, "failed", error=error_text(job.error, job.input))
        if job.output is not None and os.path.islink(job.output) and not os.path.exists(job.output):
            err = OutputError(f"the output is a symbolic link to a missing file ({os.readlink(job.output)})",
                              path=job.output, hint="remove the link, or write elsewhere with -o")
            return self._record(job, "failed", error=str(err))
        if job.output is not None and os.path.lexists(job.output):
            if self.on_exist == "skip":
                why = self._conflict(job.output)
                if why is None:
                    return self._record(job, "skipped", notes=["output exists (--on-exist overwrite to redo it)"])
                err = OutputError(why, path=job.output, hint="--on-exist overwrite, or another -o")
                return self._record(job, "failed", error=str(err), mismatched=True)
            if self.on_exist == "error":
                err = OutputError("the output exists", path=job.output,
                                  hint="pass --on-exist overwrite to replace it, or skip to keep it")
                return self._record(job, "failed", error=str(err))
        return None

    def _provenance(self) -> dict[str, str | None]:
        """What an output made now records about its model and settings."""
        wanted = getattr(self.converter, "provenance", None)
        return wanted() if wanted is not None else self.converter.describe()

    def _conflict(self, output: Path) -> str | None:
        """Why the existing ``output`` is not what this run would write (None: keep it)."""
        try:
            existing = images.read_metadata_provenance(output)
        except (RawcolourError, OSError):
            existing = {}  # not a picture rawcolour wrote (rawcolour never leaves a partial file)
        return conflict(existing, self._provenance())

    def _clean_folder(self, job: Job) -> list[str]:
        """Once per output folder: remove temporary files an earlier, killed run left there."""
        if job.output is None:
            return []
        folder = os.path.abspath(job.output.parent)
        if folder in self._cleaned:
            return []
        self._cleaned.add(folder)
        removed = clean_stale_temporaries(folder)
        if not removed:
            return []
        names = ", ".join(display_path(p.name) for p in removed[:3]) + (", ..." if len(removed) > 3 else "")
        return [f"removed {len(removed)} temporary file{'s' if len(removed) != 1 else ''} an interrupted earlier "
                f"run left in {display_path(folder)} ({names})"]


@dataclass
class _FileState:
    """What the stages noted about one file for its record."""

    folder_notes: list[str] = field(default_factory=list)  # stale temporary files removed before its write
    excluded: float = 0.0  # seconds of its stages that were not its own (loading the model)
    converted: bool = False  # it reached the model


class _StopBatch(Exception):
    """An error of ``Converter.prepare``: it would fail every file, so the batch stops with it."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class _LibraryNotes(logging.Handler):
    """Warnings and log records (WARNING and above) that libraries raise while a file is worked on,
    kept for that file's record whichever stage's thread raised them (Pillow on a corrupt EXIF tag,
    tifffile on a broken DNG tag); they never reach the terminal. Elsewhere they are dropped."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._current = threading.local()  # .messages: the list of the file this thread works on
        self._by_file: dict[int, list[str]] = {}  # id(job) -> its messages
        self._files_lock = threading.Lock()

    @contextlib.contextmanager
    def for_file(self, job: Job) -> Iterator[None]:
        """What this thread raises in the block goes to ``job``'s record."""
        with self._files_lock:
            messages = self._by_file.setdefault(id(job), [])
        previous = getattr(self._current, "messages", None)
        self._current.messages = messages
        try:
            yield
        finally:
            self._current.messages = previous

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Route warnings (every one, not once per place) and root log records here while converting."""
        root = logging.getLogger()
        root.addHandler(self)
        try:
            with warnings.catch_warnings():  # one for the whole batch: catch_warnings is not thread-safe
                warnings.simplefilter("always")
                warnings.showwarning = self._show_warning
                yield
        finally:
            root.removeHandler(self)

    def note(self, job: Job) -> str | None:
        """The file's messages as one note (None if there were none); forgets them."""
        with self._files_lock:
            messages = self._by_file.pop(id(job), [])
        seen = list(dict.fromkeys(one_line(m) for m in messages))
        if not seen:
            return None
        return "library warnings: " + " | ".join(seen[:3]) + (" | ..." if len(seen) > 3 else "")

    def _show_warning(self, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if not issubclass(category, DeprecationWarning):
            self._add(str(message))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 (a malformed log call must not fail the file)
            text = str(record.msg)
        self._add(text)

    def _add(self, text: str) -> None:
        messages = getattr(self._current, "messages", None)
        if messages is not None:
            messages.append(text)


# ============================================================================ the model step


@dataclass
class LoadSettings:
    """How input files are decoded (see pipelines.load_input)."""

    max_pixels: int = images.DEFAULT_MAX_PIXELS
    raw_format: str = "auto"
    cfa: str = "RGGB"
    black: float = 0.0
    white: float = 1020.0


Progress = Callable[[str, float], None]  # (what is happening, share of the current file done, 0..1)


class ModelConverter:
    """The conversion step of the CLI: a registry name or checkpoint file run by rawcolour.inference.pipelines.

    ``options``: keyword arguments of ``InferenceOptions`` (device, precision, tile, overlap,
    render_size, wb, exposure, colour_space, ...); the model is loaded in ``prepare``, on the first
    file that needs it. ``bit_depth``, ``quality``: the output depth and JPEG quality asked for (the
    writer's; recorded with the settings). ``output_depth``: the depth every output is written at
    (8 or 16; None when it varies), so ``classic`` hands over codes of that depth. ``only_grey``
    (colourise): pass over pictures that already have colour instead of replacing their colours.
    ``progress(stage, done)``: what is happening to the current file (loading the model, decoding,
    tiles, encoding) and how much of it is done.
    The ``classic`` baseline runs without torch: LibRaw develops each camera file in ``load`` (a
    worker thread), straight to the output's codes in its colour space (``output_depth``).
    """

    def __init__(self, task: str, model: str, options: dict[str, Any] | None = None,
                 load: LoadSettings | None = None, *, bit_depth: int | None = None, quality: int | None = None,
                 output_depth: int | None = None, only_grey: bool = False, progress: Progress | None = None):
        self.task = get_task(task).name
        self.model_ref = model
        self.option_values = dict(options or {})
        self.load_settings = load or LoadSettings()
        self.settings = settings_text(pixel_settings(self.task, self.option_values, vars(self.load_settings),
                                                     bit_depth, quality))
        self.output_depth = output_depth
        self.only_grey = only_grey
        self.progress = progress or (lambda stage, done: None)
        self.model: Any = None
        self._identity: tuple[str | None, str | None] | None = None
        spec = get_spec(model) if is_model(model) else None
        self.classic = spec is not None and spec.task == "raw2rgb" == self.task and not spec.learned
        self._options: InferenceOptions | None = None

    @property
    def options(self) -> InferenceOptions:
        if self._options is None:
            self._options = InferenceOptions(**self.option_values)
        return self._options

    def prepare(self) -> None:
        if self.classic:
            return  # no network, no device: nothing to load
        from rawcolour.checkpoint import load_model
        from rawcolour.inference.device import resolve_device, resolve_precision

        self.progress("loading model", 0.0)
        # Device and precision problems would fail every file: find them before the first one.
        device = resolve_device(self.options.device)
        resolve_precision(self.options.precision, device)
        model = load_model(self.model_ref, device=device)
        if model.task and model.task != self.task:
            raise UsageError(
                f"model {model.name!r} is a {model.task} model, not a {self.task} one",
                hint=f"use `rawcolour {model.task}`, or pick one from `rawcolour models list --task {self.task}`",
            )
        if self.task == "raw2rgb":
            from rawcolour.inference import pipelines

            pipelines.check_development(model, self.options)  # e.g. --demosaic for a learned model
        tile, policy = self.options.tile, model.policy
        if isinstance(tile, int) and tile > 0 and model.net is not None:
            overlap = policy.default_overlap if self.options.overlap is None else self.options.overlap
            if tile - 2 * overlap < policy.size_multiple:
                raise UsageError(
                    f"--tile {tile} leaves no room to advance with an overlap of {overlap} pixels on each side",
                    hint=f"use --tile {2 * overlap + policy.size_multiple} or more, or a smaller --overlap",
                )
        self.model = model

    def describe(self) -> dict[str, str | None]:
        if self.model is None:
            return {"model": self.model_ref, "model_sha256": None}
        return {"model": self.model.name, "model_sha256": self.model.sha256}

    def provenance(self) -> dict[str, str | None]:
        """What an output made now records: the model's name and checkpoint SHA-256 (from its file,
        without loading it, when it is not loaded yet) and the settings that change pixels."""
        if self.model is not None:
            name, sha = self.model.name, self.model.sha256
        else:
            if self._identity is None:
                self._identity = _model_identity(self.model_ref)
            name, sha = self._identity
        return {"model": name, "model_sha256": sha, "settings": self.settings}

    def load(self, path: Path) -> Any:
        """A worker thread: the decoded file (for ``classic``, LibRaw's development of it) and, for
        raw2rgb, the camera's EXIF."""
        s = self.load_settings
        if self.task == "colourise":
            return load_input(self.task, path, max_pixels=s.max_pixels)
        camera_file = s.raw_format == "camera" or (s.raw_format == "auto" and is_raw_path(path))
        if self.classic and camera_file and renders_camera_file(path):
            source: Any = develop_classic(path, self.options, self.output_depth)  # LibRaw decodes and develops
        else:
            source = load_input(self.task, path, max_pixels=s.max_pixels, raw_format=s.raw_format,
                                cfa=s.cfa, black=s.black, white=s.white)
            if self.classic:
                source = develop_classic(source, self.options, self.output_depth)
        space = get_colour_space(self.options.colour_space)
        exif = camera_exif(path, colour_space_tag=space.exif_colour_space) if camera_file else None
        return _RawFile(source, exif)

    def develop(self, loaded: Any) -> Converted:
        self.options.progress = lambda done, total: self.progress(
            f"tile {done}/{total}" if total > 1 else "running", 0.1 + 0.8 * done / max(1, total))
        converted = self._colourise(loaded) if self.task == "colourise" else self._develop(loaded)
        self.progress("encoding", 0.9)
        return converted

    def _colourise(self, picture: images.Picture) -> Converted:
        from rawcolour.data.samples import is_greyscale
        from rawcolour.inference import pipelines

        in_colour = not is_greyscale(picture.pixels)
        if in_colour and self.only_grey:
            raise PassedOver("already in colour (--only-grey)", in_colour=True)
        self.progress("running", 0.1)
        result = pipelines.colourise_image(self.model, picture, self.options)
        notes = list(result.notes)
        if in_colour:
            notes.append("the input already had colour: its colours were replaced (--only-grey passes such "
                         "pictures over)")
        return Converted(result.rgb, picture.bit_depth, picture.exif, picture.icc_profile, result.tile, notes,
                         result.device or None, result.precision or None, in_colour=in_colour)

    def _develop(self, loaded: _RawFile) -> Converted:
        profile = icc_profile(self.options.colour_space)
        if isinstance(loaded.source, ClassicPicture):
            classic = loaded.source
            return Converted(classic.pixels, None, loaded.exif, None, notes=list(classic.notes),
                             white_balance=classic.white_balance, colour_profile=profile)
        from rawcolour.inference import pipelines

        self.progress("running", 0.1)
        result = pipelines.raw_to_rgb(self.model, loaded.source, self.options)
        return Converted(result.rgb, None, loaded.exif, None, result.tile, list(result.notes), result.device or None,
                         result.precision or None, result.white_balance or None, colour_profile=profile)


@dataclass
class _RawFile:
    """What ``ModelConverter.load`` gives ``develop`` for raw2rgb."""

    source: Any  # RawPicture, or classic's ClassicPicture
    exif: bytes | None  # the camera's EXIF (camera files), ColorSpace set for the output's colour space


def _model_identity(ref: str) -> tuple[str | None, str | None]:
    """(registry name or None for a file, SHA-256 of its weights file or None) without loading the model."""
    from rawcolour.io.files import file_sha256
    from rawcolour.registry import weights_path

    if is_model(ref):
        found = weights_path(ref) if get_spec(ref).learned else None
        return get_spec(ref).name, (file_sha256(found) if found is not None else None)
    path = Path(ref)
    return None, (file_sha256(path) if path.is_file() else None)


# ============================================================================ the whole batch


def run_batch(
    task: str,
    inputs: Sequence[str],
    *,
    output: str | None = None,
    model: str | None = None,
    options: dict[str, Any],
    load: LoadSettings | None = None,
    recursive: bool = False,
    suffix: str | None = None,
    on_exist: str = "skip",
    fmt: str | None = None,
    bit_depth: int | None = None,
    quality: int | None = None,
    strip_metadata: bool = False,
    stdin_paths: Sequence[str] = (),
    stdout: BinaryIO | None = None,
    ranks: Ranks | None = None,
    summary: Summary | None = None,
    on_collected: Callable[[Collection], None] | None = None,
    on_planned: Callable[[Sequence[Job]], None] | None = None,
    on_start: Callable[[Job], None] | None = None,
    on_record: Callable[[Record], None] | None = None,
    on_progress: Progress | None = None,
    only_grey: bool = False,
) -> Summary:
    """Collect, plan and convert a batch (this rank's share under torchrun); counts summed over ranks.

    ``summary`` (made here if not given) is kept current, so after a KeyboardInterrupt it holds
    this rank's counts so far. ``on_collected(collection)`` and ``on_planned(jobs)`` let a caller
    report what was passed over and size a progress bar; ``on_start`` / ``on_record`` are
    BatchRunner's; ``on_progress(stage, done)`` reports within a file (ModelConverter).
    ``only_grey`` (colourise) passes over pictures that already have colour. Usage problems (no
    inputs, collisions, stdin under torchrun) raise UsageError before any work.
    """
    start = time.perf_counter()
    ranks = ranks or Ranks.from_env()
    summary = summary if summary is not None else Summary()
    summary.world = ranks.world
    if ranks.world > 1 and (output == "-" or "-" in inputs):
        raise UsageError("under torchrun, stdin and stdout cannot be shared by the ranks",
                         hint="pass folders or files, and -o a folder")
    min_bits = get_colour_space(options.get("colour_space", "srgb")).min_bits if task == "raw2rgb" else 8
    plan = OutputPlan(target=output, fmt=fmt, bit_depth=bit_depth, suffix=suffix, recursive=recursive,
                      quality=quality, min_bits=min_bits)
    jobs = _plan_batch(task, inputs, output, plan, stdin_paths, summary, on_collected)
    options = {**options, "device": rank_device(options["device"], ranks)}
    joined = init_distributed(ranks)
    mine = share(jobs, ranks)
    summary.planned = len(mine)
    depths = {job.bit_depth or default_bit_depth(task, job.fmt, None) for job in mine} if task == "raw2rgb" else set()
    converter = ModelConverter(task, model or get_task(task).default_model, options, load, bit_depth=bit_depth,
                               quality=quality, output_depth=depths.pop() if len(depths) == 1 else None,
                               only_grey=only_grey, progress=on_progress)
    if on_planned is not None:
        on_planned(mine)
    runner = BatchRunner(converter, task=task, on_exist=on_exist, strip_metadata=strip_metadata, stdout=stdout,
                         on_start=on_start, on_record=on_record, summary=summary)
    runner.run(mine)
    if joined:
        summary.set_counts(reduce_counts(summary.counts()))
        close_distributed()
    summary.seconds = time.perf_counter() - start
    return summary


def _plan_batch(task: str, inputs: Sequence[str], output: str | None, plan: OutputPlan, stdin_paths: Sequence[str],
                summary: Summary, on_collected: Callable[[Collection], None] | None) -> list[Job]:
    """Collect and plan (noting what was passed over in ``summary``). The -o folder is made by the
    first write, not here: a model that fails to load leaves nothing behind."""
    kind = output_kind(output)
    collection = collect_inputs(inputs, task, recursive=plan.recursive, stdin_paths=stdin_paths,
                                exclude=[Path(output)] if kind == "folder" else [])  # type: ignore[arg-type]
    if on_collected is not None:
        on_collected(collection)
    jobs = plan_jobs(collection, task, plan)
    summary.unsupported, summary.ignored = len(collection.unsupported), len(collection.ignored)
    summary.unsupported_kinds = collection.unsupported_kinds()
    if not jobs:
        kinds = summary.unsupported_kinds
        found = f"; passed over {len(collection.unsupported)} other files ({', '.join(kinds)})" if kinds else ""
        raise UsageError(f"no input files to convert{found}", hint=f"{task} reads {describe_inputs(task)}"
                         + ("" if plan.recursive else "; add --recursive for subfolders"))
    return jobs


__all__ = [
    "DEFAULT_MODELS",
    "FATAL_ERRORS",
    "ON_EXIST",
    "BatchRunner",
    "Converted",
    "Converter",
    "LoadSettings",
    "ModelConverter",
    "PassedOver",
    "Record",
    "Summary",
    "error_text",
    "run_batch",
    "write_output",
]
