"""Batch conversion: collect input files, plan output names, convert each, one record per file.

The command line (``rawcolour colourise`` / ``raw2rgb``) is a thin layer over this module; it
prints, this module never does. The steps, each usable alone:

1. :func:`collect_inputs`: files, folders (``recursive``), globs and paths read from stdin ->
   :class:`Collection` (the files this task reads, plus what was passed over and why).
2. :func:`plan_jobs`: output name for every input, all or nothing: two inputs writing the same
   output, or an output that is an input, raise :class:`~rawcolour.errors.UsageError` before any
   work is done.
3. :class:`BatchRunner`: converts its share of the jobs one at a time (the model is loaded on first
   need, so a re-run where every output exists loads nothing), writes atomically and reports a
   :class:`Record` per file. A bad file gives a ``failed`` record and the batch goes on; only
   problems that would fail every file (missing weights, no such device) stop it.
4. Under ``torchrun`` each rank converts every ``world``-th job of the sorted plan, and the counts
   are summed over ranks (rawcolour.distributed).

Output naming: ``stem + suffix + .png|.tif|.jpg`` in the ``-o`` folder (mirroring the tree below
each folder argument when ``recursive``), or next to the input. The default suffix is empty when
the output goes to another folder than its input, else ``_colour`` / ``_rgb``, so a default never
overwrites an input.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from rawcolour.io import images
from rawcolour.errors import (
    CheckpointError,
    InputError,
    MissingWeightsError,
    OutputError,
    RawcolourError,
    UnknownModelError,
    UsageError,
)
from rawcolour.io.raw import RAW_EXTENSIONS
from rawcolour.tasks import TASK_SPECS, get_task

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_SUFFIXES",
    "ON_EXIST",
    "BatchRunner",
    "Collection",
    "Converted",
    "Job",
    "LoadSettings",
    "ModelConverter",
    "OutputPlan",
    "Record",
    "Source",
    "Summary",
    "accepted_extensions",
    "collect_inputs",
    "default_bit_depth",
    "error_text",
    "output_kind",
    "plan_jobs",
    "read_path_list",
    "write_output",
]

DEFAULT_MODELS = {name: t.default_model for name, t in TASK_SPECS.items()}
DEFAULT_SUFFIXES = {name: t.suffix for name, t in TASK_SPECS.items()}
ON_EXIST = ("skip", "overwrite", "error")
OUTPUT_EXTENSIONS = {"png": ".png", "tiff": ".tif", "jpg": ".jpg"}
# Packed RAW datasets (Zurich, RAW2RGB-GAN) are PNG files.
PACKED_RAW_EXTENSIONS = frozenset({".png"})
_GLOB_MAGIC = re.compile(r"[*?[]")

# Problems that would fail every file the same way: the batch stops at the first one. (Any error
# while loading the model stops it too; a DeviceError while converting is out of memory for one
# picture and fails that file only.)
FATAL_ERRORS: tuple[type[RawcolourError], ...] = (
    MissingWeightsError,
    CheckpointError,
    UnknownModelError,
    UsageError,
)


def accepted_extensions(task: str) -> frozenset[str]:
    """Lower-case suffixes (with the dot) the task picks up from folders and globs."""
    if get_task(task).inputs == "raw":
        return RAW_EXTENSIONS | PACKED_RAW_EXTENSIONS
    return images.IMAGE_EXTENSIONS


def default_bit_depth(task: str, fmt: str, input_bit_depth: int | None) -> int:
    """8 for JPEG; else 16 for raw2rgb and the input's depth for colourise."""
    if fmt == "jpg":
        return 8
    return get_task(task).output_bit_depth or input_bit_depth or 8


# ============================================================================ 1. inputs


@dataclass(frozen=True)
class Source:
    """One input file: the path as found, and the folder whose tree is mirrored below ``-o``."""

    path: Path
    root: Path | None = None  # None: the output goes straight into the output folder
    explicit: bool = False  # named on the command line (not found in a folder, glob or stdin)


@dataclass
class Collection:
    """What :func:`collect_inputs` found."""

    sources: list[Source] = field(default_factory=list)
    missing: list[tuple[str, RawcolourError]] = field(default_factory=list)  # named but not readable
    unsupported: list[Path] = field(default_factory=list)  # extensions this task does not read
    unsupported_named: list[Path] = field(default_factory=list)  # ...of which named explicitly
    ignored: list[Path] = field(default_factory=list)  # rawcolour outputs met in folders

    def unsupported_kinds(self) -> list[str]:
        """The distinct suffixes of the unsupported files, for a summary line ('.xmp', '(none)')."""
        return sorted({p.suffix.lower() or "(none)" for p in self.unsupported})


def read_path_list(data: bytes | str) -> list[str]:
    """Paths from stdin: one per line (``find``), or NUL-separated (``find -print0``); blanks dropped."""
    if isinstance(data, bytes):
        sep = b"\0" if b"\0" in data else b"\n"
        parts = [os.fsdecode(p.rstrip(b"\r") if sep == b"\n" else p) for p in data.split(sep)]
    else:
        sep_s = "\0" if "\0" in data else "\n"
        parts = [p.rstrip("\r") if sep_s == "\n" else p for p in data.split(sep_s)]
    return [p for p in parts if p.strip()]


def _file_key(path: Path) -> tuple[Any, ...]:
    """Identity of a file: (device, inode) when it exists, else its resolved path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return (os.path.realpath(path),)


def _is_rawcolour_output(path: Path) -> bool:
    """True if ``path`` is an image this tool wrote (it carries rawcolour provenance)."""
    if path.suffix.lower() not in images.IMAGE_EXTENSIONS:
        return False
    try:
        return bool(images.read_metadata_provenance(path))
    except (RawcolourError, OSError, ValueError):
        return False


class _Collector:
    def __init__(self, task: str, recursive: bool, exclude: Iterable[Path], skip_outputs: bool):
        self.task = task
        self.extensions = accepted_extensions(task)
        self.recursive = recursive
        self.skip_outputs = skip_outputs
        self.out = Collection()
        self.loose: list[Source] = []  # files with no folder of their own; rooted at their common folder
        self.seen: set[tuple[Any, ...]] = set()
        self.excluded: set[tuple[Any, ...]] = set()
        for d in exclude:
            try:
                st = os.stat(d)
                self.excluded.add((st.st_dev, st.st_ino))
            except OSError:
                pass

    def add_file(self, path: Path, root: Path | None, *, explicit: bool, scanned: bool) -> None:
        key = _file_key(path)
        if key in self.seen:  # the same file named twice (or through a link): count it once
            return
        self.seen.add(key)
        if path.suffix.lower() not in self.extensions:
            self.out.unsupported.append(path)
            if explicit:
                self.out.unsupported_named.append(path)
            return
        if scanned and self.skip_outputs and _is_rawcolour_output(path):
            self.out.ignored.append(path)
            return
        source = Source(path, root, explicit)
        if root is None:
            self.loose.append(source)
        else:
            self.out.sources.append(source)

    def add_folder(self, folder: Path, root: Path) -> None:
        """Files of ``folder`` (and, if recursive, below it)."""
        for path, error in _walk(folder, self.recursive, self.excluded):
            if error is not None:
                self.out.missing.append((str(path), _folder_error(path, error)))
            else:
                self.add_file(path, root, explicit=False, scanned=True)

    def add_arg(self, arg: str) -> None:
        path = Path(arg)
        if os.path.isdir(path):
            self.add_folder(path, path)
        elif os.path.lexists(path):
            self.add_file(path, None, explicit=True, scanned=False)
        elif _GLOB_MAGIC.search(arg):
            matches = _glob(arg, self.excluded)
            if not matches:
                self.out.missing.append(
                    (arg, InputError("no file matches this pattern", path=arg, hint="check the pattern and the folder"))
                )
            for m in matches:
                if os.path.isdir(m):
                    self.add_folder(m, m)
                elif not m.name.startswith("."):
                    self.add_file(m, None, explicit=False, scanned=True)
        else:
            self.out.missing.append((arg, InputError("no such file or folder", path=arg, hint="check the path")))

    def add_listed(self, text: str) -> None:
        """A path read from stdin: a file or a folder, taken literally (no wildcards)."""
        path = Path(text)
        if os.path.isdir(path):
            self.add_folder(path, path)
        elif os.path.lexists(path):
            self.add_file(path, None, explicit=False, scanned=True)
        else:
            self.out.missing.append((text, InputError("no such file or folder", path=text, hint="check the path")))

    def finish(self) -> Collection:
        if self.loose and self.recursive:
            # Loose files (arguments, stdin, glob matches) mirror the tree below their common folder.
            try:
                common = Path(os.path.commonpath([os.path.abspath(s.path.parent) for s in self.loose]))
            except ValueError:  # different drives
                common = None
            self.loose = [Source(s.path, common, s.explicit) for s in self.loose]
        self.out.sources.extend(self.loose)
        self.out.sources.sort(key=lambda s: str(s.path))
        return self.out


def _walk(folder: Path, recursive: bool, excluded: set[tuple[Any, ...]]) -> Iterator[tuple[Path, OSError | None]]:
    """(file, None) for each file of ``folder`` (below it too if ``recursive``), sorted by name;
    (folder, error) for a folder that cannot be listed. Each folder is visited once, so symlink
    loops end; hidden entries (and our own temporary files) are passed over."""
    visited: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            st = os.stat(current)
        except OSError as exc:
            yield current, exc
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in visited or ident in excluded:
            continue  # a symlink loop, or the output folder inside the input tree
        visited.add(ident)
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield current, exc
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files, macOS ._ resource forks, our own temporary files
            path = current / entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subfolders.append(path)
            else:
                yield path, None
        if recursive:
            stack.extend(reversed(subfolders))


def _segments_match(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Glob segments (``**`` = any number of folders) against path segments."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_segments_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _segments_match(pattern[1:], parts[1:])


def _glob(pattern: str, excluded: set[tuple[Any, ...]]) -> list[Path]:
    """Sorted matches of a glob pattern; ``**`` is walked with the loop-safe walker (Python's glob
    follows symlink loops into ever longer paths), and then matches files only."""
    if "**" not in Path(pattern).parts:
        return sorted(Path(m) for m in glob.glob(pattern))
    parts = Path(pattern).parts
    n = 0
    while n < len(parts) and not _GLOB_MAGIC.search(parts[n]):
        n += 1
    base, rest = (Path(*parts[:n]) if n else Path(".")), parts[n:]
    if not os.path.isdir(base):
        return []
    found = []
    for path, error in _walk(base, True, excluded):
        if error is None and _segments_match(rest, path.relative_to(base).parts):
            found.append(path)
    return sorted(found)


def _folder_error(folder: Path, exc: OSError) -> InputError:
    if isinstance(exc, PermissionError):
        return InputError("cannot list the folder: permission denied", path=folder,
                          hint="make it readable (chmod u+rx)")
    return InputError(f"cannot list the folder ({exc.strerror or exc})", path=folder, hint="check the path")


def collect_inputs(
    args: Sequence[str],
    task: str,
    *,
    recursive: bool = False,
    stdin_paths: Sequence[str] = (),
    exclude: Iterable[Path] = (),
    skip_outputs: bool = True,
) -> Collection:
    """Expand command-line inputs into the files ``task`` reads.

    ``args``: files, folders and glob patterns (expanded here too, for shells that do not; ``**``
    recurses). ``"-"`` in ``args`` stands for ``stdin_paths`` (literal paths, no wildcards).
    Folders give the files with the task's extensions (others are counted in ``unsupported``;
    hidden files are passed over), their subfolders too if ``recursive``, each folder visited
    once (symlink loops end) and the ``exclude`` folders (the output folder) not at all. Files
    found in folders, globs or stdin that rawcolour wrote itself are put in ``ignored``
    (``skip_outputs``). A named path that does not exist goes to ``missing``; the same file named
    twice is kept once. Sources come back sorted by path.
    """
    collector = _Collector(get_task(task).name, recursive, exclude, skip_outputs)
    stdin_done = False
    for arg in args:
        if arg == "-":
            if not stdin_done:
                for line in stdin_paths:
                    collector.add_listed(line)
                stdin_done = True
        else:
            collector.add_arg(arg)
    return collector.finish()


# ============================================================================ 2. output plan


@dataclass(frozen=True)
class OutputPlan:
    """How output names are made: the ``-o`` target and the naming options."""

    target: str | None = None  # None: next to each input; "-": stdout; else a folder or a file
    fmt: str | None = None  # png | tiff | jpg; None: from -o FILE's suffix, else png
    bit_depth: int | None = None  # None: default_bit_depth per file
    suffix: str | None = None  # None: "" in another folder, else DEFAULT_SUFFIXES[task]
    recursive: bool = False


@dataclass
class Job:
    """One input and where its output goes; ``error`` is set when it is known to fail already."""

    input: Path
    output: Path | None  # None: stdout (to_stdout) or nothing (error)
    fmt: str
    bit_depth: int | None
    to_stdout: bool = False
    error: RawcolourError | None = None


_FILE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg"})


def output_kind(target: str | None) -> str:
    """'beside' (no -o), 'stdout' (-o -), 'file' (-o NAME.png|.tif|.jpg, not a folder) or 'folder'."""
    if target is None:
        return "beside"
    if target == "-":
        return "stdout"
    path = Path(target)
    if os.path.isdir(path) or target.endswith(("/", os.sep)):
        return "folder"
    return "file" if path.suffix.lower() in _FILE_SUFFIXES else "folder"


def _key(path: Path) -> str:
    """A comparable name for a path that may not exist yet (its folder resolved, links included)."""
    return os.path.normcase(os.path.join(os.path.realpath(path.parent), path.name))


def plan_jobs(collection: Collection, task: str, plan: OutputPlan) -> list[Job]:
    """An output for every input; raises UsageError before any work when the plan is impossible.

    Refused: ``-o FILE`` or ``-o -`` with more than one input, a format that contradicts the
    ``-o`` file's suffix, 16-bit JPEG, two inputs writing the same output (both named), and an
    output that would overwrite any input. Jobs come back sorted by input path (every rank of a
    ``torchrun`` computes the same list).
    """
    get_task(task)
    kind = output_kind(plan.target)
    fmt = images.normalise_format(plan.fmt) if plan.fmt else None
    if kind == "file":
        from_name = images.format_for_path(plan.target)
        if fmt and fmt != from_name:
            raise UsageError(
                f"--format {fmt} contradicts the output name {plan.target!r}",
                hint=f"name the file .{OUTPUT_EXTENSIONS[fmt].lstrip('.')} or drop --format",
            )
        fmt = from_name
    fmt = fmt or "png"
    if plan.bit_depth not in (None, 8, 16):
        raise UsageError(f"bit depth {plan.bit_depth} is not supported", hint="use --bit-depth 8 or 16")
    if fmt == "jpg" and plan.bit_depth == 16:
        raise UsageError("JPEG holds only 8 bits per channel", hint="use --bit-depth 8, or --format png or tiff")
    if plan.suffix is not None and kind in ("file", "stdout"):
        raise UsageError("--suffix names outputs in a folder; it has no meaning with -o FILE or -o -",
                         hint="drop --suffix, or give -o a folder")
    if plan.suffix is not None and ("/" in plan.suffix or os.sep in plan.suffix):
        raise UsageError(f"--suffix {plan.suffix!r} must not contain a path separator", hint="use -o for folders")
    sources = collection.sources
    if kind in ("file", "stdout") and len(sources) + len(collection.missing) > 1:
        what = "-o -" if kind == "stdout" else f"-o {plan.target}"
        raise UsageError(
            f"{what} takes one input, but there are {len(sources) + len(collection.missing)}",
            hint="give -o a folder to convert many files",
        )

    jobs: list[Job] = []
    ext = OUTPUT_EXTENSIONS[fmt]
    folder = Path(plan.target) if kind == "folder" else None
    for src in sources:
        if kind == "stdout":
            jobs.append(Job(src.path, None, fmt, plan.bit_depth, to_stdout=True))
            continue
        if kind == "file":
            jobs.append(Job(src.path, Path(plan.target), fmt, plan.bit_depth))
            continue
        if folder is None:
            out_dir = src.path.parent
        else:
            out_dir = folder
            if plan.recursive and src.root is not None:
                rel = os.path.relpath(os.path.abspath(src.path.parent), os.path.abspath(src.root))
                if rel != "." and not rel.startswith(".."):
                    out_dir = folder / rel
        suffix = plan.suffix
        if suffix is None:
            same = os.path.realpath(out_dir) == os.path.realpath(src.path.parent)
            suffix = get_task(task).suffix if same else ""
        jobs.append(Job(src.path, out_dir / f"{src.path.stem}{suffix}{ext}", fmt, plan.bit_depth))

    _refuse_collisions(jobs, sources)
    for name, err in collection.missing:
        jobs.append(Job(Path(name), None, fmt, plan.bit_depth, error=err))
    jobs.sort(key=lambda j: str(j.input))
    return jobs


def _refuse_collisions(jobs: list[Job], sources: list[Source]) -> None:
    inputs_by_key = {_key(s.path): s.path for s in sources}
    inputs_by_id = {}
    for s in sources:
        ident = _file_key(s.path)
        if len(ident) == 2:
            inputs_by_id[ident] = s.path
    by_output: dict[str, Job] = {}
    clashes: list[tuple[Job, Job]] = []
    for job in jobs:
        if job.output is None:
            continue
        key = _key(job.output)
        victim = inputs_by_key.get(key)
        if victim is None and os.path.lexists(job.output):
            victim = inputs_by_id.get(_file_key(job.output))  # a hard link or symlink to an input
        if victim is not None:
            raise UsageError(
                f"the output of {job.input} would overwrite the input {victim}; nothing was converted",
                path=job.output,
                hint="write elsewhere with -o DIR, or choose another --suffix or --format",
            )
        if key in by_output:
            clashes.append((by_output[key], job))
        else:
            by_output[key] = job
    if clashes:
        first, second = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        if first.input.parent == second.input.parent:
            hint = "their names differ only in the extension: convert them to different -o folders, or rename one"
        else:
            hint = "use --recursive to mirror their folders under -o, or convert them to different -o folders"
        raise UsageError(
            f"{first.input} and {second.input} would both write {first.output}{more}; nothing was converted",
            hint=hint,
        )


# ============================================================================ 3. running


@dataclass
class Converted:
    """A converted picture, ready to encode."""

    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1], upright
    input_bit_depth: int | None = None  # the input's depth (colourise keeps it by default)
    exif: bytes | None = None
    icc_profile: bytes | None = None
    tile: int | None = None
    notes: list[str] = field(default_factory=list)
    device: str | None = None  # where the network ran (None for baselines)
    precision: str | None = None  # fp32 | fp16 | bf16 actually used
    white_balance: str | None = None  # raw2rgb: camera | auto | daylight | custom | model


class Converter(Protocol):
    """What the runner needs from the conversion step."""

    def prepare(self) -> None:
        """Load what every file needs (the model); errors here stop the batch."""

    def convert(self, path: Path) -> Converted:
        """Convert one file; errors here fail that file only."""

    def describe(self) -> dict[str, str | None]:
        """``{"model": name, "model_sha256": hash}`` (hash None before prepare or for baselines)."""


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
        }


@dataclass
class Summary:
    """Counts for a batch (one rank's, or the sum over ranks)."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unsupported: int = 0
    ignored: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def add(self, record: Record) -> None:
        setattr(self, record.status, getattr(self, record.status) + 1)

    def counts(self) -> list[int]:
        return [self.ok, self.failed, self.skipped, int(self.interrupted)]

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": True,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "unsupported": self.unsupported,
            "ignored": self.ignored,
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
    if isinstance(err, MemoryError):
        return f"{path}: not enough memory to convert this picture; close other programs or use a smaller --tile"
    from rawcolour.inference.device import is_oom  # torch is loaded by now; batch itself stays torch-free

    if is_oom(err):
        return f"{path}: the device ran out of memory; use a smaller --tile or --device cpu"
    detail = " ".join(str(err).split()) or type(err).__name__
    return f"{path}: unexpected error ({type(err).__name__}: {detail}); please report this as a bug"


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
    icc = None if strip_metadata else converted.icc_profile
    if job.to_stdout:
        if stdout is None:
            raise OutputError("no stdout stream to write the picture to", hint="report this as a bug")
        data = images.encode_image(
            converted.rgb, job.fmt, bit_depth=depth, exif=exif, icc_profile=icc, provenance=provenance
        )
        try:
            stdout.write(data)
            stdout.flush()
        except BrokenPipeError:
            raise OutputError("the reader of stdout went away (broken pipe)", path="-",
                              hint="check the command after the pipe") from None
        return
    assert job.output is not None
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        raise OutputError(f"cannot create the output folder ({reason}); nothing was written",
                          path=job.output.parent, hint="choose a folder you can write to (-o)") from None
    images.write_image(
        job.output, converted.rgb, job.fmt, bit_depth=depth, exif=exif, icc_profile=icc, provenance=provenance
    )


Writer = Callable[..., None]


class BatchRunner:
    """Convert jobs one by one: on-exist policy, per-file failures, a record for each.

    ``on_start(job)`` is called before each file and ``on_record(record)`` after it (the CLI's
    progress bar and printing). ``summary`` is kept current, so after a KeyboardInterrupt it
    holds what was done. Errors of the kinds in FATAL_ERRORS (from ``prepare`` or a conversion)
    propagate; every other error fails one file.
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
        self.summary = Summary()
        self._prepared = False

    def run(self, jobs: Sequence[Job]) -> Summary:
        start = self.clock()
        try:
            for job in jobs:
                self.on_start(job)
                record = self.run_one(job)
                self.summary.add(record)
                self.on_record(record)
        except KeyboardInterrupt:
            self.summary.interrupted = True
            raise
        finally:
            self.summary.seconds += self.clock() - start
        return self.summary

    def _record(self, job: Job, status: str, **kw: Any) -> Record:
        described = self.converter.describe() if self._prepared else {"model": None, "model_sha256": None}
        out = "-" if job.to_stdout else (None if job.output is None else str(job.output))
        return Record(input=str(job.input), output=out, status=status,
                      model=described.get("model"), model_sha256=described.get("model_sha256"), **kw)

    def run_one(self, job: Job) -> Record:
        """Convert one job; returns its record (never raises for a bad file)."""
        start = self.clock()
        if job.error is not None:
            return self._record(job, "failed", error=error_text(job.error, job.input))
        if job.output is not None and os.path.lexists(job.output):
            if self.on_exist == "skip":
                return self._record(job, "skipped", notes=["output exists (--on-exist overwrite to redo it)"])
            if self.on_exist == "error":
                err = OutputError("the output exists", path=job.output,
                                  hint="pass --on-exist overwrite to replace it, or skip to keep it")
                return self._record(job, "failed", error=str(err))
        if not self._prepared:
            self.converter.prepare()  # fatal errors propagate: they would fail every file
            self._prepared = True
            start = self.clock()  # a record's seconds are the file's own, not the model's loading
        try:
            converted = self.converter.convert(job.input)
            provenance = {"task": self.task, "input": job.input.name}
            provenance.update({k: v for k, v in self.converter.describe().items() if v})
            self.writer(job, converted, task=self.task, provenance=provenance,
                        strip_metadata=self.strip_metadata, stdout=self.stdout)
        except FATAL_ERRORS:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 (a bad file never stops the batch)
            return self._record(job, "failed", error=error_text(exc, job.input), seconds=self.clock() - start)
        return self._record(job, "ok", tile=converted.tile, notes=list(converted.notes),
                            seconds=self.clock() - start, device=converted.device, precision=converted.precision,
                            white_balance=converted.white_balance)


# ============================================================================ the model step


@dataclass
class LoadSettings:
    """How input files are decoded (see pipelines.load_input)."""

    max_pixels: int = images.DEFAULT_MAX_PIXELS
    raw_format: str = "auto"
    cfa: str = "RGGB"
    black: float = 0.0
    white: float = 1020.0


class ModelConverter:
    """The conversion step of the CLI: a registry name or checkpoint file run by rawcolour.inference.pipelines.

    ``options``: keyword arguments of ``pipelines.InferenceOptions`` (device, precision, tile,
    overlap, render_size); the model is loaded in ``prepare``, on the first file that needs it.
    """

    def __init__(self, task: str, model: str, options: dict[str, Any] | None = None,
                 load: LoadSettings | None = None):
        self.task = get_task(task).name
        self.model_ref = model
        self.option_values = dict(options or {})
        self.load = load or LoadSettings()
        self.options: Any = None
        self.model: Any = None

    def prepare(self) -> None:
        from rawcolour.inference import pipelines
        from rawcolour.checkpoint import load_model
        from rawcolour.inference.device import resolve_precision

        self.options = pipelines.InferenceOptions(**self.option_values)
        # Device and precision problems would fail every file: find them before the first one.
        device = pipelines.resolve_device(self.options.device)
        resolve_precision(self.options.precision, device)
        model = load_model(self.model_ref, device=device)
        if model.task and model.task != self.task:
            raise UsageError(
                f"model {model.name!r} is a {model.task} model, not a {self.task} one",
                hint=f"use `rawcolour {model.task}`, or pick one from `rawcolour models list --task {self.task}`",
            )
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

    def convert(self, path: Path) -> Converted:
        from rawcolour.inference import pipelines

        s = self.load
        source = pipelines.load_input(self.task, path, max_pixels=s.max_pixels, raw_format=s.raw_format,
                                      cfa=s.cfa, black=s.black, white=s.white)
        if self.task == "colourise":
            result = pipelines.colourise_image(self.model, source, self.options)
            depth = getattr(source, "bit_depth", None)
        else:
            result = pipelines.raw_to_rgb(self.model, source, self.options)
            depth = None
        return Converted(result.rgb, depth, getattr(source, "exif", None), getattr(source, "icc_profile", None),
                         result.tile, list(result.notes), getattr(result, "device", "") or None,
                         getattr(result, "precision", "") or None, getattr(result, "white_balance", "") or None)
