"""Files in and out: the one check that an input is a regular file, and the one atomic writer every
output of rawcolour goes through.

Temporary files. An output is first written to ``.NAME.<12 hex>.tmp`` in its folder, which its
writer holds an exclusive ``flock`` on until the rename. A process killed in the middle (SIGKILL,
power loss) leaves that file behind, unlocked: :func:`clean_stale_temporaries` removes such files
(and only those) when the next run writes into that folder. A temporary file whose writer is
alive stays locked and is left alone.

Writers in other threads. A batch writes outputs from a worker thread (rawcolour.batch.pipeline),
which Ctrl-C cannot stop: :func:`abandon_writes` removes the temporary files such threads are
writing and makes every write of theirs fail before its rename, so an interrupted process leaves
no temporary file behind even when a writer is stuck in a slow ``fsync``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import stat
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path

from rawcolour.errors import InputError, OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporary files are then not cleaned
    fcntl = None  # type: ignore[assignment]

_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")

# Temporary files being written now -> their writer thread; threads whose writes were abandoned.
_WRITES_LOCK = threading.Lock()
_WRITING: dict[Path, threading.Thread] = {}
_ABANDONED: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def file_kind(mode: int) -> str | None:
    """What a non-regular file is ('a named pipe (FIFO)', ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def not_regular_error(path: str | Path, kind: str) -> InputError:
    """The one error for an input that is not a regular file (never opened: a FIFO would block)."""
    if kind == "a folder":
        return InputError("is a folder, not a file", path=path, hint="pass the files inside it (or use --recursive)")
    return InputError(f"is {kind}, not a regular file; it was not opened", path=path,
                      hint="pass picture files (copy the data into a file first)")


def check_regular_file(path: str | Path) -> os.stat_result:
    """``os.stat`` of an input, which must be a regular file (symlinks followed); it is never opened.

    Raises InputError for a missing or unreadable path and for anything that is not a regular
    file: a FIFO or a device could block forever or never end, a socket cannot be read.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        kind = "a broken symbolic link" if os.path.islink(path) else None
        if kind:
            raise InputError("is a symbolic link to a missing file", path=path, hint="check the link") from None
        raise InputError("no such file", path=path, hint="check the path") from None
    except PermissionError:
        raise InputError("permission denied", path=path, hint="make the file readable (chmod u+r) or copy it") from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=path, hint="check the path") from None
    kind = file_kind(st.st_mode)
    if kind is not None:
        raise not_regular_error(path, kind)
    return st


def check_input_file(path: str | Path) -> Path:
    """An input a library opens by name (LibRaw): a regular file (a FIFO must never reach it),
    readable and not empty; an InputError naming the file otherwise."""
    p = Path(path)
    size = check_regular_file(p).st_size
    if not os.access(p, os.R_OK):
        raise InputError("permission denied: the file cannot be read", path=p)
    if size == 0:
        raise InputError("empty file (0 bytes)", path=p, hint="the copy or download was probably interrupted")
    return p


def open_regular(path: str | Path) -> int:
    """A read-only descriptor on a regular file, without ever blocking on a FIFO or a device.

    Opened with O_NONBLOCK (a FIFO opens at once instead of waiting for a writer), checked with
    fstat (so a file swapped for a FIFO after a stat is still caught), then set back to blocking.
    """
    check_regular_file(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise InputError("permission denied", path=path, hint="make the file readable (chmod u+r) or copy it") from None
    except OSError as exc:
        raise InputError(f"cannot open the file ({exc.strerror or exc})", path=path, hint="check the path") from None
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise not_regular_error(path, kind)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def output_error(path: Path, exc: OSError, what: str = "file") -> OutputError:
    """One clear OutputError for an OSError met while writing `path`."""
    reasons = {
        errno.ENOSPC: ("the disk is full", "free some space or write elsewhere with -o"),
        errno.EDQUOT: ("the disk quota is exceeded", "free some space or write elsewhere with -o"),
        errno.EACCES: ("permission denied", "choose a folder you can write to (-o)"),
        errno.EPERM: ("permission denied", "choose a folder you can write to (-o)"),
        errno.EROFS: ("the file system is read-only", "choose a writable folder (-o)"),
        errno.ENOENT: ("the folder does not exist", "create it first"),
        errno.EISDIR: ("it is a folder", "give a file name"),
        errno.ENAMETOOLONG: ("the file name is too long", "choose a shorter name"),
    }
    problem, hint = reasons.get(exc.errno, (exc.strerror or str(exc), "check the folder and free space"))
    return OutputError(f"cannot write the {what}: {problem}; nothing was written", path=path, hint=hint)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (provenance in records and metadata)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_jsonl(path: str | Path) -> list[dict]:
    """The JSON objects of a JSON-lines file; blank lines, non-objects and a line cut off by an
    interrupted writer are skipped."""
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


_SPECIAL_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                  (stat.S_ISSOCK, "a socket"))


def special_file(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a link to one (followed: a
    link to /proc/self/fd/1 is a pipe or a terminal), e.g. "a character device"; else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing, or a dangling link: a new file goes there
        return None
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), None)
    if kind and os.path.islink(path):
        return f"a link to {kind}"
    return kind


def nearest_folder(path: str | Path) -> Path:
    """``path`` or its nearest ancestor that exists (the folder a new file's missing folders go into)."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def why_unwritable(folder: str | Path) -> str | None:
    """Why no file can be made in the existing ``folder`` ("permission denied", "a read-only file
    system", "it is a file, not a folder", ...), or None when one can (root may write anywhere)."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"it is {special_file(folder) or 'a file'}, not a folder"
    if os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        return None
    if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & getattr(os, "ST_RDONLY", 1):
        return "a read-only file system"
    return "permission denied"


def atomic_write_bytes(path: str | Path, data: bytes | Iterable[bytes], what: str = "file") -> Path:
    """Write ``data`` (bytes, or an iterable of pieces made as they are written) to ``path`` all or
    nothing: a temporary file in the same folder, fsync, rename.

    Any OSError becomes an OutputError naming the path (`what` says what was being written); on any
    failure, Ctrl-C included, the temporary file is removed and an existing target is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), what)
    special = special_file(path)
    if special:  # renaming onto it would replace a device node, a pipe or a link to one with a file
        raise OutputError(f"cannot write the {what}: it is {special}, not a regular file; nothing was written",
                          path=path, hint="give the name of a regular file")
    folder = path.parent
    if not folder.is_dir():
        raise output_error(path, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)), what)
    try:
        tmp, fd = _locked_temporary(folder, path.name)
    except OSError as exc:
        raise output_error(path, exc, what) from None
    me = threading.current_thread()
    try:
        with os.fdopen(fd, "wb") as f:
            _start_write(tmp, me)
            for piece in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
            with _WRITES_LOCK:
                _check_not_abandoned(me)
                os.replace(tmp, path)  # still locked: a cleaner never takes a file being renamed
                _WRITING.pop(tmp, None)
    except BaseException as exc:
        with _WRITES_LOCK:
            _WRITING.pop(tmp, None)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise output_error(path, exc, what) from None
        raise
    try:  # make the rename itself durable; not possible everywhere (Windows, some file systems)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


class WriteAbandoned(OutputError):
    """A write from a thread whose writes were abandoned (the batch was interrupted)."""


def _check_not_abandoned(thread: threading.Thread) -> None:
    if thread in _ABANDONED:
        raise WriteAbandoned("the batch was interrupted; nothing was written")


def _start_write(tmp: Path, thread: threading.Thread) -> None:
    with _WRITES_LOCK:
        _check_not_abandoned(thread)
        _WRITING[tmp] = thread


def abandon_writes(threads: list[threading.Thread]) -> list[Path]:
    """Abandon every write of ``threads`` (workers an interrupt of the main thread cannot stop): the
    temporary files they are writing are removed now, and each of their writes, now or later, fails
    before its rename. Returns the files removed."""
    removed = []
    with _WRITES_LOCK:
        _ABANDONED.update(threads)
        for tmp, thread in list(_WRITING.items()):
            if thread in _ABANDONED:
                del _WRITING[tmp]
                try:
                    os.unlink(tmp)
                    removed.append(tmp)
                except OSError:
                    pass
    return removed


def _locked_temporary(folder: Path, name: str) -> tuple[Path, int]:
    """Create ``folder/.name.<hex>.tmp`` and hold an exclusive flock on it (see the module docstring)."""
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        # 0o666 minus the umask, like any new file (mkstemp would make it 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        if fcntl is None:
            return tmp, fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):  # a cleaner holds it: it is going away
                os.close(fd)
                continue
            return tmp, fd  # a file system without flock: write unlocked
        # A cleaner may have removed the file between its creation and our lock: start again.
        try:
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return tmp, fd
        except FileNotFoundError:
            pass
        os.close(fd)


def clean_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files our writer left in ``folder`` when its process died; returns them.

    Only names of our pattern (``.NAME.<12 hex>.tmp``) that are regular files and not locked by a
    live writer are removed; nothing else is touched, and errors (a read-only folder) are ignored.
    """
    if fcntl is None:
        return []
    removed: list[Path] = []
    try:
        with os.scandir(folder) as it:
            candidates = [e.name for e in it if _TEMPORARY.match(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return []
    for name in sorted(candidates):
        path = Path(folder) / name
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
            if os.path.samestat(os.fstat(fd), os.lstat(path)):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def same_file(a: str | Path, b: str | Path) -> bool:
    """True if ``a`` and ``b`` name the same file (links included) or, if one is missing, the same path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()
