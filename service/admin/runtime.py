"""This process's copy of the runtime clients, kept current without a restart.

Every change to a runtime client bumps a counter row in the database in the same
transaction. Each process reads that counter at most once a second and, when it
moved, reads every client again and installs them in its
:class:`~service.oauth.registry.ClientRegistry`; the process that made a change
reloads at once. So a change reaches every replica within 2 s, whatever the
shared state. A database that cannot answer leaves the last copy in place
(logged once per outage) and is tried again a second later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from service.admin.clients import runtime_client
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
    ) -> None:
        self.store = store
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

    async def poll(self) -> bool:
        """Reload if the counter moved; whether it did."""
        if self._seen is not None and await self.store.counter() == self._seen:
            return False
        await self.reload()
        return True

    async def run(self) -> None:
        """Poll forever (a task of the server's lifespan)."""
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
