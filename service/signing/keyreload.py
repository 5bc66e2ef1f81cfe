"""Re-reading the signing keys in a running process: every 30 s, within a second of a
change to the key directory, and at once on SIGHUP.

``keys rotate`` writes a new key file, and ``keys reload`` replaces a marker file
(:func:`~service.signing.keyfiles.request_reload`); every process looks at the
directory's stamp each second, so every worker of every server reading it
publishes the new key within about a second, with no restart and no signal (a
signal reaches one process: Granian's and uvicorn's supervisors restart their
workers on SIGHUP). A key signs only after ``key_activation_delay``
(:class:`~service.signing.keys.KeyRing`). A directory that cannot be read, or holds
a broken file, keeps the keys already loaded: the error is logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from service.errors import ConfigError
from service.observability.logs import log
from service.signing.keys import KeyRing, SigningKey

T = TypeVar("T")

#: Seconds between two reads of the key directory ("at least once a minute").
RELOAD_INTERVAL = 30.0
#: Seconds between two looks at the directory's stamp (a stat or two, no read).
POLL_INTERVAL = 1.0


class KeyReloader:
    def __init__(
        self,
        ring: KeyRing,
        read: Callable[[], list[SigningKey]],
        *,
        interval: float = RELOAD_INTERVAL,
        stamp: Callable[[], Hashable] | None = None,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.ring = ring
        self.interval = interval
        self.poll_interval = poll_interval
        self._read = read
        #: What changes with the keys (the directory's stamp); None: only the interval.
        self._stamp = stamp
        self._seen: Hashable = None
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="shapestoken-keys")
        self._failure: str | None = None
        self._signal = False

    async def reload(self) -> None:
        """Read the keys (off the event loop) and swap them in; log what changed."""
        try:
            found = await self._off_loop(self._read)
            before = {key.kid for key in self.ring.keys}
            self.ring.replace(found)
        except (ConfigError, OSError) as exc:
            message = str(exc) if isinstance(exc, ConfigError) else f"cannot read keys: {exc}"
            if message != self._failure:  # once per outage, not every 30 s
                log.error(f"signing keys not reloaded, keeping the current ones: {message}")
            self._failure = message
            return
        if self._failure is not None:
            log.info("signing keys readable again")
        self._failure = None
        after = {key.kid for key in self.ring.keys}
        if after != before:
            log.info(
                "signing keys reloaded",
                extra={
                    "fields": {
                        "added": ",".join(sorted(after - before)) or "-",
                        "removed": ",".join(sorted(before - after)) or "-",
                        "signing": self.ring.active.kid,
                    }
                },
            )

    async def poll(self) -> bool:
        """Reload if the stamp changed since the last look; whether it did."""
        if self._stamp is None:
            return False
        # Off the event loop: a stat of a network volume may hang.
        current = await self._off_loop(self._stamp)
        if current == self._seen:
            return False
        # Taken before reading the keys: a change made meanwhile shows at the next look.
        self._seen = current
        await self.reload()
        return True

    def wake(self) -> None:
        """Reload now (SIGHUP), instead of at the end of the interval."""
        self._wake.set()

    async def run(self) -> None:
        """Reload every ``interval`` seconds, when the stamp changes, or when woken."""
        if self._stamp is not None:
            self._seen = await self._off_loop(self._stamp)
        step = self.interval if self._stamp is None else min(self.poll_interval, self.interval)
        waited = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), step)
            waited += step
            if self._wake.is_set() or waited >= self.interval:
                self._wake.clear()
                waited = 0.0
                if self._stamp is not None:
                    self._seen = await self._off_loop(self._stamp)
                await self.reload()
            elif await self.poll():
                waited = 0.0

    def listen_for_sighup(self) -> bool:
        """Reload on SIGHUP; False where signals cannot be handled (not the main thread)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.wake)
        except (ValueError, RuntimeError, NotImplementedError):
            return False
        self._signal = True
        return True

    async def _off_loop(self, call: Callable[[], T]) -> T:
        """``call()`` in this reloader's own thread: a read of a network volume may hang."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Stop listening for SIGHUP, and wait for a read still running in the thread.

        Called on the event loop after :meth:`run` is cancelled, so a read that
        finishes now still finds the loop open (it would otherwise raise in its
        thread, against a closed loop).
        """
        self._executor.shutdown(wait=True)
        if self._signal:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal = False
