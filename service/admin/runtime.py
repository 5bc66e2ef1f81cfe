"""This process's copy of the runtime clients, kept current without a restart.

Every change to a runtime client bumps a counter row in the database in the same
transaction. Each process reads that counter at most once a second and, when it
moved, reads every client again and installs them in its
:class:`~service.oauth.registry.ClientRegistry`; the process that made a change
reloads at once, and with Redis state it publishes a message that makes the
others reload at once too (:mod:`service.admin.signal`). The counter alone
brings every replica up to date within 2 s, whatever the shared state. A
database that cannot answer leaves the last copy in place (logged once per
outage) and is tried again a second later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from service.admin.clients import runtime_client
from service.admin.signal import ChangeSignal
from service.errors import ServiceError, StoreUnavailable
from service.oauth.registry import ClientRegistry, RuntimeClient
from service.observability.logs import log
from service.store.clients import ClientStore

#: Seconds between two reads of the change counter (every replica within 2 s).
POLL_EVERY = 1.0


class RuntimeClients:
    def __init__(
        self,
        store: ClientStore,
        registry: ClientRegistry,
        *,
        issuer: str,
        now: Callable[[], float] = time.time,
        interval: float = POLL_EVERY,
        signal: ChangeSignal | None = None,
    ) -> None:
        self.store = store
        #: Redis pub/sub when the state is on Redis: other replicas hear of a change at once.
        self.signal = signal
        self.registry = registry
        self.issuer = issuer
        self.interval = interval
        self._now = now
        self._seen: int | None = None
        self._down = False
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        """Read every runtime client and install them (the counter first: a change
        made between the two reads is read again at the next poll)."""
        async with self._lock:
            counter = await self.store.counter()
            rows = await self.store.all()
            now = self._now()
            installed: dict[str, RuntimeClient] = {}
            for row in rows:
                try:
                    installed[row.client_id] = runtime_client(row, issuer=self.issuer, now=now)
                except ServiceError as exc:
                    # Stored under older rules: refused until an administrator fixes it.
                    log.warning(
                        "runtime client refused by the current rules",
                        extra={"fields": {"client_id": row.client_id, "why": exc.description}},
                    )
            self.registry.install(installed)
            self._seen = counter

    async def changed(self) -> None:
        """After a change made here: apply it at once, and tell the other replicas."""
        await self.reload()
        if self.signal is not None:
            await self.signal.publish()

    async def reload_quietly(self) -> None:
        """Reload on another replica's message; an outage is the poller's to report."""
        try:
            await self.reload()
        except StoreUnavailable:
            pass  # the poll retries within a second

    async def poll(self) -> bool:
        """Reload if the counter moved; whether it did."""
        if self._seen is not None and await self.store.counter() == self._seen:
            return False
        await self.reload()
        return True

    async def run(self) -> None:
        """Poll forever, and listen for other replicas' messages (the server's lifespan)."""
        if self.signal is None:
            await self._poll_forever()
            return
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._poll_forever())
            tasks.create_task(self.signal.listen(self.reload_quietly))

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
                if self._down:
                    self._down = False
                    log.warning("database available again: runtime clients are current")
            except StoreUnavailable as exc:
                if not self._down:
                    self._down = True
                    log.warning(
                        "database unavailable: runtime clients stay as last read",
                        extra={"fields": {"cause": exc.cause}},
                    )
            await asyncio.sleep(self.interval)
