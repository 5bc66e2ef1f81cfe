"""Every piece of runtime administration, built once on the database's engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from service.admin.accounts import Accounts
from service.admin.blocks import BlockAdmin
from service.admin.clients import ClientAdmin
from service.admin.runtime import RuntimeClients
from service.admin.tokens import TokenAdmin
from service.config import Settings
from service.oauth.registry import ClientRegistry
from service.state import State
from service.state.memory import MemoryState
from service.store.admins import Admins
from service.store.apitokens import ApiTokenStore
from service.store.audit import AuditLog
from service.store.clients import ClientStore


@dataclass
class Administration:
    clients: ClientAdmin
    runtime: RuntimeClients
    blocks: BlockAdmin
    tokens: TokenAdmin
    accounts: Accounts
    audit: AuditLog


def build_administration(
    settings: Settings,
    engine: AsyncEngine,
    *,
    registry: ClientRegistry,
    state: State,
    token_store: ApiTokenStore,
    now: Callable[[], float] = time.time,
) -> Administration:
    audit_log = AuditLog(engine)
    store = ClientStore(engine)
    signal = None
    if not isinstance(state, MemoryState):
        from service.admin.signal import ChangeSignal
        from service.state.redis import RedisState

        if isinstance(state, RedisState):
            signal = ChangeSignal(state.client)
    runtime = RuntimeClients(store, registry, issuer=settings.issuer, now=now, signal=signal)
    return Administration(
        clients=ClientAdmin(
            store,
            settings.clients,
            issuer=settings.issuer,
            max_ttl=settings.max_token_ttl,
            now=now,
            changed=runtime.changed,
        ),
        runtime=runtime,
        blocks=BlockAdmin(state, audit_log, shops=frozenset(settings.shops), now=now),
        tokens=TokenAdmin(token_store, audit_log, now=now),
        accounts=Accounts(Admins(engine), now=now),
        audit=audit_log,
    )


async def config_clients_in_database(settings: Settings, engine: AsyncEngine) -> list[str]:
    """The config's client ids that are also runtime clients (start-up refuses them)."""
    return await ClientStore(engine).live_ids(list(settings.clients))
