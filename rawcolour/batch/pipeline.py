"""Three stages over a list of items, overlapped: load the next item and finish the previous one
while the current one is developed.

    load(item)            a worker thread    (decode a file: LibRaw, Pillow, OpenCV)
    develop(item, value)  the calling thread (the network: one device, the thread that owns Ctrl-C)
    finish(item, value)   a worker thread    (encode and write)

The stages release the GIL where the work is (LibRaw, zlib and libdeflate, numpy, torch), so on
several cores a batch runs at the speed of its slowest stage. At most one item is in each stage:
item i + 1 is loaded only once item i has left the load stage, and item i - 1 must be finished
before item i is handed to finish; so memory holds at most one loaded, one developing and one
finishing picture, whatever the length of the list.

Outcomes come back in the order of the items. An exception in a stage ends that item there (its
later stages are skipped) and comes back as its outcome; the other items go on. An exception of the
calling thread (Ctrl-C, SIGTERM, or the caller stopping the iteration) stops everything: no new
work starts, the workers' writes are abandoned (rawcolour.io.files.abandon_writes removes their
temporary files; a worker blocked in a slow write is not waited for), and it propagates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rawcolour.io.files import abandon_writes

T = TypeVar("T")
_POLL_SECONDS = 0.1
_SETTLE_SECONDS = 0.5  # how long a stop waits for the item being finished to settle


@dataclass
class Outcome(Generic[T]):
    """What became of one item: the value of its last stage, or the exception that ended it."""

    item: T
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0  # time spent in its stages (they overlap with other items' stages)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage it went through


class _Task:
    """One stage of one item, run in its own daemon thread (a thread never outlives the process:
    a worker stuck in a slow write must not hold up the exit after Ctrl-C)."""

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any):
        self.name, self.value, self.error, self.seconds = name, None, None, 0.0
        # Our own flag, not Thread.is_alive(): a join() interrupted by Ctrl-C marks a running thread
        # as stopped (CPython 3.11, bpo-45274), and a blocked writer must still count as running.
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn, args), name=f"rawcolour-{name}", daemon=True)
        self.thread.start()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        start = time.perf_counter()
        try:
            self.value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 (handed to the calling thread, which decides)
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - start
            self._done.set()

    def wait_at_most(self, seconds: float) -> None:
        self._done.wait(seconds)

    def wait(self) -> None:
        # In short waits: the kernel may hand Ctrl-C to any thread, and a wait that nothing wakes
        # would only see it once the task is done (the calling thread runs Python's handler when it
        # next runs Python code).
        while not self._done.wait(_POLL_SECONDS):
            pass


def run_pipelined(items: Sequence[T], load: Callable[[T], Any], develop: Callable[[T, Any], Any],
                  finish: Callable[[T, Any], Any], on_wait: Callable[[T], None] | None = None,
                  on_stopped: Callable[[Outcome[T]], None] | None = None) -> Iterator[Outcome[T]]:
    """Each item through load -> develop -> finish (see the module docstring); yields one Outcome per
    item, in order, as soon as the item is finished. ``on_wait(item)`` is called in the calling thread
    when it has to wait for an item's load (a progress display can say so).

    When the calling thread is stopped (Ctrl-C) while an item's finish has already completed (its
    file is written) but before its outcome was yielded, ``on_stopped(outcome)`` hands that outcome
    over before the exception propagates, so that a file on disk is never missing from the records.
    """
    tasks: list[_Task] = []  # the ones that may still run (a finished one is dropped with its picture)

    def start(name: str, fn: Callable[..., Any], *args: Any) -> _Task:
        tasks[:] = [t for t in tasks if t.running]
        task = _Task(name, fn, *args)
        tasks.append(task)
        return task

    try:
        loading = start("load", load, items[0]) if items else None
        finishing: tuple[Outcome[T], _Task] | None = None
        for i, item in enumerate(items):
            assert loading is not None
            if on_wait is not None and loading.running:
                on_wait(item)
            loading.wait()
            outcome = Outcome(item, stages={"load": loading.seconds})
            error, value = loading.error, loading.value
            loading.value = None
            loading = start("load", load, items[i + 1]) if i + 1 < len(items) else None
            if error is None:
                began = time.perf_counter()
                try:
                    value = develop(item, value)
                except Exception as exc:  # noqa: BLE001 (this item's outcome; Ctrl-C propagates)
                    error = exc
                outcome.stages["develop"] = time.perf_counter() - began
            if finishing is not None:  # the previous item leaves the finish stage before this one enters
                done = _finished(*finishing)
                finishing = None  # cleared before the yield: from here on the caller has it
                yield done
            if error is None:
                finishing = (outcome, start("finish", finish, item, value))
            else:
                outcome.error = error
                outcome.seconds = sum(outcome.stages.values())
                yield outcome
        if finishing is not None:
            done = _finished(*finishing)
            finishing = None
            yield done
    finally:
        busy = [t.thread for t in tasks if t.running]
        if busy:  # stopped early: nothing a worker still does may reach the disk
            abandon_writes(busy)
        if finishing is not None and on_stopped is not None:  # stopped while an item was finishing
            _, task = finishing
            task.wait_at_most(_SETTLE_SECONDS)  # an abandoned write fails fast, unless blocked in the disk
            if not task.running and task.error is None:  # it wrote its file before the stop
                try:
                    on_stopped(_finished(*finishing))
                except OSError:  # a terminal gone with SIGHUP: the stop that propagates matters more
                    pass


def _finished(outcome: Outcome[T], task: _Task) -> Outcome[T]:
    task.wait()
    outcome.stages["finish"] = task.seconds
    outcome.value, outcome.error = task.value, task.error
    outcome.seconds = sum(outcome.stages.values())
    return outcome


__all__ = ["Outcome", "run_pipelined"]
