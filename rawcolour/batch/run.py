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
   loads nothing), writes atomically and reports a :class:`~rawcolour.inference.result.Result` per file, in order. A bad file
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
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO


from rawcolour.batch.collect import collect_inputs, describe_inputs
from rawcolour.batch.model_step import LoadSettings, ModelConverter, PassedOver
from rawcolour.batch.pipeline import Outcome, run_pipelined
from rawcolour.batch.records import BatchEvents, Converter, Summary, error_text
from rawcolour.batch.plan import Job, OutputPlan, default_bit_depth, output_kind, plan_jobs
from rawcolour.batch.provenance import conflict
from rawcolour.distributed import Ranks, rank_device, share, summed_over_ranks
from rawcolour.colour_spaces import get_colour_space
from rawcolour.errors import (
    CheckpointError,
    MissingWeightsError,
    OutputError,
    RawcolourError,
    UnknownModelError,
    UsageError,
    display_path,
    one_line,
)
from rawcolour.inference.options import InferenceOptions
from rawcolour.inference.result import Result
from rawcolour.io import images
from rawcolour.io.files import WriteAbandoned, clean_stale_temporaries, nearest_folder, why_unwritable
from rawcolour.io.c_stderr import c_stderr_silenced
from rawcolour.tasks import get_task

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



def write_output(
    job: Job,
    converted: Result,
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
        on_record: Callable[[Result], None] | None = None,
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
                    run_pipelined(jobs, self._load, self._develop, self._finish, on_wait=self._waiting,
                                  on_stopped=self._report)) as outcomes:
                for outcome in outcomes:
                    self._report(outcome)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            raise
        finally:
            self.summary.seconds += self.clock() - start
            self._files.clear()
        return self.summary

    def _report(self, outcome: Outcome) -> None:
        record = self._outcome_record(outcome, self._notes.note(outcome.item))
        self.summary.add(record)
        self.on_record(record)

    def _record(self, job: Job, status: str, **kw: Any) -> Result:
        """A record without a picture (skipped, failed)."""
        return Result(status=status, **self._names(job), **kw)

    def _names(self, job: Job) -> dict[str, str | None]:
        """What a record names: the input, the output, the model."""
        described = self.converter.describe() if self._prepared else {"model": None, "model_sha256": None}
        out = "-" if job.to_stdout else (None if job.output is None else str(job.output))
        return {"input": str(job.input), "output": out, "model": described.get("model"),
                "model_sha256": described.get("model_sha256")}

    def _file(self, job: Job) -> _FileState:
        return self._files.setdefault(id(job), _FileState())

    # ------------------------------------------------------------------ the three stages of a file

    def _load(self, job: Job) -> Result | Any:
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

    def _develop(self, job: Job, loaded: Result | Any) -> Result:
        """Calling thread: the model (loaded on the first file that needs it) on the decoded file."""
        self.on_start(job)
        if isinstance(loaded, Result):  # settled in _load
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

    def _finish(self, job: Job, developed: Result) -> Result:
        """Worker thread: encode and write atomically (or to stdout for ``-o -``)."""
        if developed.rgb is None:  # settled in _load: nothing to write
            return developed
        with self._notes.for_file(job):
            notes = self._file(job).folder_notes = self._clean_folder(job)
            provenance = {"task": self.task, "input": job.input.name}
            provenance.update({k: v for k, v in self._provenance().items() if v})
            self.writer(job, developed, task=self.task, provenance=provenance,
                        strip_metadata=self.strip_metadata, stdout=self.stdout)
        return developed.written(status="ok", notes=notes + list(developed.notes), **self._names(job))

    def _outcome_record(self, outcome: Outcome[Job], library_note: str | None) -> Result:
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

    def _settled(self, job: Job) -> Result | None:
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
                why = self._conflict(job)
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

    def _conflict(self, job: Job) -> str | None:
        """Why ``job``'s existing output is not what this run would write (None: keep it)."""
        try:
            existing = images.read_metadata_provenance(job.output)
        except (RawcolourError, OSError):
            existing = {}  # not a picture rawcolour wrote (rawcolour never leaves a partial file)
        return conflict(existing, {**self._provenance(), "input": job.input.name})

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




# ============================================================================ the whole batch


def run_batch(
    task: str,
    inputs: Sequence[str],
    *,
    options: InferenceOptions,
    plan: OutputPlan,
    model: str | None = None,
    load: LoadSettings | None = None,
    on_exist: str = "skip",
    strip_metadata: bool = False,
    only_grey: bool = False,
    stdin_paths: Sequence[str] = (),
    stdout: BinaryIO | None = None,
    ranks: Ranks | None = None,
    summary: Summary | None = None,
    events: BatchEvents | None = None,
) -> Summary:
    """Collect, plan and convert a batch (this rank's share under torchrun); counts summed over ranks.

    ``plan``: how outputs are named (``plan.target`` is ``-o``). ``summary`` (made here if not
    given) is kept current, so after a KeyboardInterrupt it holds this rank's counts so far.
    ``events`` hears what was passed over, the jobs, each file's start, progress and record.
    ``only_grey`` (colourise) passes over pictures that already have colour. Usage problems (no
    inputs, collisions, stdin under torchrun) raise UsageError before any work.
    """
    start = time.perf_counter()
    ranks, events = ranks or Ranks.from_env(), events or BatchEvents()
    summary = summary if summary is not None else Summary()
    summary.world = ranks.world
    if ranks.world > 1 and (plan.target == "-" or "-" in inputs):
        raise UsageError("under torchrun, stdin and stdout cannot be shared by the ranks",
                         hint="pass folders or files, and -o a folder")
    if get_task(task).reads_raw:
        plan = replace(plan, min_bits=get_colour_space(options.colour_space).min_bits)
    jobs = _plan_batch(task, inputs, plan, stdin_paths, summary, events)
    _refuse_unwritable_outputs(jobs, on_exist)
    options = options.on_device(rank_device(options.device, ranks))
    with summed_over_ranks(ranks) as total:
        mine = share(jobs, ranks)
        summary.planned = len(mine)
        converter = ModelConverter(task, model or get_task(task).default_model, options, load,
                                   bit_depth=plan.bit_depth, quality=plan.quality,
                                   output_depth=_output_depth(task, mine), only_grey=only_grey,
                                   progress=events.progress, overlapped=len(mine) > 1)
        events.planned(mine)
        runner = BatchRunner(converter, task=task, on_exist=on_exist, strip_metadata=strip_metadata, stdout=stdout,
                             on_start=events.started, on_record=events.recorded, summary=summary)
        runner.run(mine)
        summary.set_counts(total(summary.counts()))
    summary.seconds = time.perf_counter() - start
    return summary


def _output_depth(task: str, jobs: Sequence[Job]) -> int | None:
    """The depth every raw2rgb output is written at (the developers hand over codes of it); None when it varies."""
    depths = {job.bit_depth or default_bit_depth(task, job.fmt, None) for job in jobs} if get_task(task).reads_raw else set()
    return depths.pop() if len(depths) == 1 else None


def _refuse_unwritable_outputs(jobs: Sequence[Job], on_exist: str) -> None:
    """When every output would fail at its write (a read-only or foreign -o folder), say so once, before
    anything is converted, instead of once per file after converting it. Root may write anywhere, and
    a batch where only some outputs are blocked goes on: those fail one by one."""
    to_write = [j for j in jobs if j.output is not None and j.error is None
                and not (on_exist == "skip" and j.output.exists())]
    if not to_write:
        return
    blocked: dict[Path, str | None] = {}
    for job in to_write:
        folder = nearest_folder(job.output.parent)  # type: ignore[union-attr]
        if folder not in blocked:
            blocked[folder] = why_unwritable(folder)
        if blocked[folder] is None:
            return
    folder, reason = next(iter(blocked.items()))
    raise OutputError(f"cannot write to the output folder ({reason}); nothing was converted", path=folder,
                      hint="choose a folder you can write to (-o)")


def _plan_batch(task: str, inputs: Sequence[str], plan: OutputPlan, stdin_paths: Sequence[str], summary: Summary,
                events: BatchEvents) -> list[Job]:
    """Collect and plan (noting what was passed over in ``summary``). The -o folder is made by the
    first write, not here: a model that fails to load leaves nothing behind."""
    kind = output_kind(plan.target)
    collection = collect_inputs(inputs, task, recursive=plan.recursive, stdin_paths=stdin_paths,
                                exclude=[Path(plan.target)] if kind == "folder" else [])  # type: ignore[arg-type]
    events.collected(collection)
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
    "FATAL_ERRORS",
    "ON_EXIST",
    "BatchEvents",
    "BatchRunner",
    "Converter",
    "LoadSettings",
    "ModelConverter",
    "PassedOver",
    "Result",
    "Summary",
    "error_text",
    "run_batch",
    "write_output",
]
