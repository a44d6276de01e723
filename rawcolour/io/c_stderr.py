"""Keep what C libraries write to the process's stderr (LibRaw's "data corrupted at N") out of
the terminal, without losing anything Python prints meanwhile: :func:`c_stderr_silenced`.

LibRaw's own data-error callback writes to file descriptor 2 at C level and rawpy offers no way to
silence it; every decode runs inside :func:`c_stderr_silenced`, so a failure is reported once, by
rawcolour's own error line.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class _Silence:
    """State of c_stderr_silenced: how deep, and what to put back."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved_fd: int | None = None
        self.python_stderr: Any = None  # sys.stderr before, when it was moved


_SILENCED = _Silence()


@contextmanager
def c_stderr_silenced() -> Iterator[None]:
    """While the block runs, in every thread: what C libraries write to file descriptor 2 (LibRaw's
    "data corrupted at N") goes to /dev/null, and Python's ``sys.stderr``, when it is that
    descriptor, moves to a copy of the real stderr, so nothing Python prints is lost.

    Around a whole batch, whose files are decoded in worker threads: silencing descriptor 2 per
    decode, from a worker, would also swallow what the main thread prints meanwhile. Nests.
    """
    with _SILENCED.lock:
        _SILENCED.depth += 1
        if _SILENCED.depth == 1:
            _silence_fd2()
    try:
        yield
    finally:
        with _SILENCED.lock:
            _SILENCED.depth -= 1
            if _SILENCED.depth == 0:
                _restore_fd2()


def _silence_fd2() -> None:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable file descriptor 2
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):  # captured (a test runner): not on descriptor 2
        python_on_fd2 = False
    if python_on_fd2:
        _SILENCED.python_stderr = sys.stderr
        sys.stderr = open(saved, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors,
                          closefd=False)
    _SILENCED.saved_fd = saved
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _restore_fd2() -> None:
    if _SILENCED.saved_fd is None:
        return
    if _SILENCED.python_stderr is not None:
        moved, sys.stderr = sys.stderr, _SILENCED.python_stderr
        moved.flush()
        moved.close()
        _SILENCED.python_stderr = None
    os.dup2(_SILENCED.saved_fd, 2)
    os.close(_SILENCED.saved_fd)
    _SILENCED.saved_fd = None
