"""Naming outputs: an output for every input, all or nothing (collisions and overwritten inputs
are refused before any work is done)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rawcolour.batch.collect import Collection, Source, _file_key
from rawcolour.errors import RawcolourError, UsageError
from rawcolour.io import images
from rawcolour.io.images import DEFAULT_QUALITY, FORMAT_NAMES, OUTPUT_EXTENSIONS
from rawcolour.io.pixels import dtype_for
from rawcolour.tasks import get_task


def default_bit_depth(task: str, fmt: str, input_bit_depth: int | None) -> int:
    """8 for JPEG; else 16 for raw2rgb and the input's depth for colourise."""
    if fmt == "jpg":
        return 8
    return get_task(task).output_bit_depth or input_bit_depth or 8



@dataclass(frozen=True)
class OutputPlan:
    """How output names are made: the ``-o`` target and the naming options."""

    target: str | None = None  # None: next to each input; "-": stdout; else a folder or a file
    fmt: str | None = None  # png | tiff | jpg; None: from -o FILE's suffix, else png
    bit_depth: int | None = None  # None: default_bit_depth per file
    suffix: str | None = None  # None: "" in another folder, else the task's suffix (tasks.TaskSpec.suffix)
    recursive: bool = False
    quality: int | None = None  # JPEG quality 1..100 (None: DEFAULT_QUALITY); only for JPEG output
    min_bits: int = 8  # the fewest bits per channel the pixels bear (16 for linear light)

    def __post_init__(self) -> None:  # before any input is collected
        if self.bit_depth is not None:
            dtype_for(self.bit_depth)  # 8 or 16


@dataclass
class Job:
    """One input and where its output goes; ``error`` is set when it is known to fail already."""

    input: Path
    output: Path | None  # None: stdout (to_stdout) or nothing (error)
    fmt: str
    bit_depth: int | None
    to_stdout: bool = False
    error: RawcolourError | None = None
    quality: int = DEFAULT_QUALITY  # JPEG quality


_FILE_SUFFIXES = frozenset("." + spelling for spelling in FORMAT_NAMES)  # -o names a file with these


def output_kind(target: str | None) -> str:
    """'beside' (no -o), 'stdout' (-o -), 'file' (-o NAME.png|.tif|.jpg, not a folder) or 'folder'."""
    if target is None:
        return "beside"
    if target == "-":
        return "stdout"
    path = Path(target)
    if os.path.isdir(path) or target.endswith(("/", os.sep)):
        return "folder"
    suffix = path.suffix.lower()
    if suffix in _FILE_SUFFIXES:
        return "file"
    if suffix and suffix in _picture_suffixes():
        # `-o pic.webp` means a picture, not a folder named pic.webp: refuse it rather than guess
        raise UsageError(f"cannot write {suffix} files: -o {target!r} names a picture in a format rawcolour "
                         "does not write", hint="name it .png, .tif or .jpg, or end it with / for a folder")
    return "folder"


def _picture_suffixes() -> frozenset[str]:
    """Suffixes of picture files (what Pillow knows, our inputs, camera RAW): not folder names for -o."""
    from PIL import Image

    from rawcolour.io.raw import RAW_EXTENSIONS

    return frozenset(Image.registered_extensions()) | images.IMAGE_EXTENSIONS | RAW_EXTENSIONS


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
    fmt, quality = _output_format(plan, kind)
    sources = collection.sources
    if kind in ("file", "stdout") and len(sources) + len(collection.missing) > 1:
        what = "-o -" if kind == "stdout" else f"-o {plan.target}"
        raise UsageError(
            f"{what} takes one input, but there are {len(sources) + len(collection.missing)}",
            hint="give -o a folder to convert many files",
        )
    jobs = [Job(src.path, _output_path(src, task, plan, kind, OUTPUT_EXTENSIONS[fmt]), fmt, plan.bit_depth,
                to_stdout=kind == "stdout", quality=quality) for src in sources]
    _refuse_collisions(jobs, sources)
    for name, err in collection.missing:
        jobs.append(Job(Path(name), None, fmt, plan.bit_depth, error=err))
    jobs.sort(key=lambda j: str(j.input))
    return jobs


def _output_format(plan: OutputPlan, kind: str) -> tuple[str, int]:
    """(format, JPEG quality) of every output; UsageError for a format, depth, quality or suffix
    that contradicts the others or the -o target."""
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
    if fmt == "jpg" and plan.bit_depth == 16:
        raise UsageError("JPEG holds only 8 bits per channel", hint="use --bit-depth 8, or --format png or tiff")
    if plan.quality is not None and (fmt != "jpg" or not 1 <= plan.quality <= 100):
        raise UsageError(f"--quality {plan.quality} is for JPEG output, 1 to 100" if fmt == "jpg" else
                         f"--quality sets JPEG compression, but the output format is {fmt}",
                         hint="use --quality 1..100 with -f jpeg (or -o NAME.jpg), or drop --quality")
    if plan.min_bits > 8 and (fmt == "jpg" or plan.bit_depth == 8):
        raise UsageError("linear light in 8 bits leaves visible bands in the shadows",
                         hint="write 16-bit PNG or TIFF, or choose another --colour-space")
    if plan.suffix is not None and kind in ("file", "stdout"):
        raise UsageError("--suffix names outputs in a folder; it has no meaning with -o FILE or -o -",
                         hint="drop --suffix, or give -o a folder")
    if plan.suffix is not None and ("/" in plan.suffix or os.sep in plan.suffix):
        raise UsageError(f"--suffix {plan.suffix!r} must not contain a path separator", hint="use -o for folders")
    return fmt, DEFAULT_QUALITY if plan.quality is None else int(plan.quality)


def _output_path(src: Source, task: str, plan: OutputPlan, kind: str, ext: str) -> Path | None:
    """Where ``src``'s output goes (None: stdout): the -o file, or STEM + SUFFIX + ext in the -o
    folder (mirroring the tree when recursive) or beside the input."""
    if kind == "stdout":
        return None
    if kind == "file":
        return Path(plan.target)  # type: ignore[arg-type]
    out_dir = src.path.parent
    if kind == "folder":
        out_dir = Path(plan.target)  # type: ignore[arg-type]
        if plan.recursive and src.root is not None:
            rel = os.path.relpath(os.path.abspath(src.path.parent), os.path.abspath(src.root))
            if rel != "." and not rel.startswith(".."):
                out_dir = out_dir / rel
    suffix = plan.suffix
    if suffix is None:
        same = os.path.realpath(out_dir) == os.path.realpath(src.path.parent)
        suffix = get_task(task).suffix if same else ""
    return out_dir / f"{src.path.stem}{suffix}{ext}"


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
