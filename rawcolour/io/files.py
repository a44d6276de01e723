"""Writing files all or nothing: the one atomic writer every output of rawcolour goes through."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
from pathlib import Path

from rawcolour.errors import OutputError


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


def atomic_write_bytes(path: str | Path, data: bytes, what: str = "file") -> Path:
    """Write ``data`` to ``path`` all or nothing: a temporary file in the same folder, fsync, rename.

    Any OSError becomes an OutputError naming the path (`what` says what was being written); on any
    failure, Ctrl-C included, the temporary file is removed and an existing target is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), what)
    folder = path.parent
    if not folder.is_dir():
        raise output_error(path, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)), what)
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        # 0o666 minus the umask, like any new file (mkstemp would make it 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise output_error(path, exc, what) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
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
