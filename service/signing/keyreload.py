"""Re-reading the signing keys in a running process: every 30 s, and at once on SIGHUP.

``keys rotate`` writes a new key file; every process publishes it within a
minute, with no restart, and it signs only after ``key_activation_delay``
(:class:`~service.signing.keys.KeyRing`). A directory that cannot be read, or holds a
broken file, keeps the keys already loaded: the error is logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from service.errors import ConfigError
from service.observability.logs import log
from service.signing.keys import KeyRing, SigningKey

#: Seconds between two reads of the key directory ("at least once a minute").
RELOAD_INTERVAL = 30.0


class KeyReloader:
    def __init__(
        self,
        ring: KeyRing,
        read: Callable[[], list[SigningKey]],
        *,
        interval: float = RELOAD_INTERVAL,
    ) -> None:
        self.ring = ring
        self.interval = interval
        self._read = read
        self._wake = asyncio.Event()
        self._failure: str | None = None
        self._signal = False

    async def reload(self) -> None:
        """Read the keys (off the event loop) and swap them in; log what changed."""
        try:
            found = await asyncio.to_thread(self._read)
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

    def wake(self) -> None:
        """Reload now (SIGHUP), instead of at the end of the interval."""
        self._wake.set()

    async def run(self) -> None:
        """Reload every ``interval`` seconds, or when woken, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.reload()

    def listen_for_sighup(self) -> bool:
        """Reload on SIGHUP; False where signals cannot be handled (not the main thread)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.wake)
        except (ValueError, RuntimeError, NotImplementedError):
            return False
        self._signal = True
        return True

    def close(self) -> None:
        if self._signal:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal = False
