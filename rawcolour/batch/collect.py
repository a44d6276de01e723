"""Collecting inputs: files, folders (``recursive``), globs and paths read from stdin -> a
:class:`Collection` of the files a task reads, plus what was passed over and why."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawcolour.errors import InputError, RawcolourError, UsageError
from rawcolour.io import images
from rawcolour.io.files import check_regular_file
from rawcolour.io.raw import RAW_EXTENSIONS
from rawcolour.tasks import get_task

# Packed RAW datasets (Zurich, RAW2RGB-GAN) are PNG files.
PACKED_RAW_EXTENSIONS = frozenset({".png"})
_GLOB_MAGIC = re.compile(r"[*?[]")


def describe_inputs(task: str) -> str:
    """What ``task`` reads, for messages ("camera RAW files (.dng, ...)")."""
    if get_task(task).inputs == "raw":
        return "camera RAW files (.dng, .cr2, .nef, ...) and packed RAW .png"
    return "images (" + ", ".join(sorted(images.IMAGE_EXTENSIONS)) + ")"


def accepted_extensions(task: str) -> frozenset[str]:
    """Lower-case suffixes (with the dot) the task picks up from folders and globs."""
    if get_task(task).inputs == "raw":
        return RAW_EXTENSIONS | PACKED_RAW_EXTENSIONS
    return images.IMAGE_EXTENSIONS



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
        """The distinct suffixes of the unsupported files, for a summary line ('.xmp', 'no suffix')."""
        return sorted({p.suffix.lower() or "no suffix" for p in self.unsupported})


_PATH_MAX = 4096  # longer "lines" are not paths
# Control bytes a list of paths does not hold (tab, newlines and NUL separators are kept out)
_CONTROL_BYTES = bytes([*range(1, 9), *range(14, 32), 127])


def _not_a_path_list(data: bytes) -> str | None:
    """What ``data`` looks like when it is clearly not a list of paths (a picture piped in), else None."""
    if data.startswith((*images.BINARY_SIGNATURES, b"FUJIFILMCCD-RAW")):
        return "a picture"
    sample = data[:65536]
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    longest = max((len(p) for p in data.replace(b"\0", b"\n").split(b"\n")), default=0)
    if control > len(sample) // 100 or longest > _PATH_MAX:
        return "binary data"
    return None


def read_path_list(data: bytes | str) -> list[str]:
    """Paths from stdin: one per line (``find``), or NUL-separated (``find -print0``); blanks dropped.
    Binary data (a picture piped in by mistake) is a UsageError, not thousands of missing "paths"."""
    if isinstance(data, bytes):
        what = _not_a_path_list(data)
        if what:
            raise UsageError(f"stdin holds {what}, but `-` reads the paths of files, one per line",
                             hint="name the file as an argument instead of piping its bytes")
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
        if explicit and path.is_symlink() and not path.exists():  # a dangling link or a loop, whatever its name
            try:
                check_regular_file(path)
            except InputError as err:
                self.out.missing.append((str(path), err))
                return
        if path.suffix.lower() not in self.extensions:
            self.out.unsupported.append(path)
            if explicit:
                self.out.unsupported_named.append(path)
            return
        try:  # never opened: a FIFO would block the whole batch, a device never end
            check_regular_file(path)
        except InputError as err:
            self.out.missing.append((str(path), err))
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
