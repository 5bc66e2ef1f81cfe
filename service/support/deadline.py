"""A deadline for awaits that nearly always finish at once, without a timer each.

A request body almost always arrives with the request's head, yet a slow or
stalled one must not hold its connection (docs/guides/operations.md). ``asyncio.timeout``
arms a timer, moves the task's cancel count and disarms the timer for every
body: about 5 µs, a tenth of a mint's own work. Here a read only notes its
task and deadline; one timer per event loop, set for the nearest deadline,
cancels the reads that passed theirs, and the block they were in raises
:class:`TimeoutError`, as ``asyncio.timeout`` does. Under steady load that
timer fires about once per deadline's length, not once per request.
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType


class _Watch:
    """The pending deadlines of one event loop, and when its timer fires next."""

    __slots__ = ("pending", "expired", "armed")

    def __init__(self) -> None:
        #: Task -> the loop time by which its block must end.
        self.pending: dict[asyncio.Task[object], float] = {}
        #: Tasks cancelled here, whose block is still to end.
        self.expired: set[asyncio.Task[object]] = set()
        #: When the nearest timer fires, None when none is set. A timer is never
        #: cancelled (a handle would keep the loop, and its watch, alive): one that
        #: finds nothing late just sets the next.
        self.armed: float | None = None

    def add(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object], at: float) -> None:
        self.pending[task] = at
        if self.armed is None or at < self.armed:
            self.armed = at
            loop.call_at(at, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        if self.armed is not None and self.armed <= now:
            self.armed = None  # this is the nearest timer (or a later one)
        nearest: float | None = None
        for task, at in self.pending.items():
            if at <= now:
                if task not in self.expired:
                    self.expired.add(task)
                    task.cancel()
            elif nearest is None or at < nearest:
                nearest = at
        if nearest is not None and (self.armed is None or nearest < self.armed):
            self.armed = nearest
            loop.call_at(nearest, self._sweep, loop)


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = weakref.WeakKeyDictionary()


#: The last loop asked about and its watch: a server has one loop (a weak reference
#: per lookup in the dictionary would cost more than the rest of a deadline).
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], _Watch] | None = None


def _watch(loop: asyncio.AbstractEventLoop) -> _Watch:
    global _last
    if _last is not None and _last[0]() is loop:
        return _last[1]
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = _Watch()
    _last = (weakref.ref(loop), watch)
    return watch


class Deadline:
    """``with Deadline(seconds):`` in a task: the block raises TimeoutError when late.

    Only what the block awaits is interrupted, exactly as with ``asyncio.timeout``:
    a cancellation from elsewhere passes through unchanged. Unlike it, blocks do
    not nest in one task (a task has one deadline at a time): a nested block is
    a RuntimeError, never a deadline silently replaced.
    """

    __slots__ = ("seconds", "_watch", "_task", "_cancelling")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadline() must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._watch = watch = _watch(loop)
        if task in watch.pending:
            raise RuntimeError("Deadline blocks do not nest in one task")
        watch.add(loop, task, loop.time() + self.seconds)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        watch, task = self._watch, self._task
        del watch.pending[task]
        if task in watch.expired:
            watch.expired.discard(task)
            # As asyncio.timeout: our own cancellation becomes TimeoutError, unless
            # the task was also cancelled from elsewhere.
            if task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
