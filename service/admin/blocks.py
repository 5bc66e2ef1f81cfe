"""Blocked customers from the admin API and the dashboard, with the audit trail.

A block lives in the shared state, so it needs ``state = "redis://…"``: with
``"memory"`` each server process keeps its own, where no request to one
replica reaches the others (``shared_state_required``, as the CLI refuses).
Who blocked a customer (``by``) is read from the audit trail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from service.admin import audit
from service.admin.errors import SharedStateRequired
from service.config.values import SHOP_DOMAIN
from service.customers.signatures import parse_customer_id
from service.errors import InvalidRequest, NotFound, ServiceError
from service.state import State
from service.state.memory import MemoryState
from service.store.audit import AuditLog
from service.support.clock import iso8601

MAX_REASON = 200


def target(shop: str, customer_id: str) -> str:
    return f"{shop}/{customer_id}"


class BlockAdmin:
    def __init__(
        self,
        state: State,
        audit_log: AuditLog,
        *,
        shops: frozenset[str],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.audit = audit_log
        self.shops = shops
        self._now = now

    @property
    def shared(self) -> bool:
        return not isinstance(self.state, MemoryState)

    async def list(self) -> list[dict[str, object]]:
        self._require_shared()
        blocks = await self.state.blocks()
        by = await self.audit.latest_actors(
            "block.create", [target(b.shop, b.customer_id) for b in blocks]
        )
        return [
            {
                "shop": block.shop,
                "customer_id": block.customer_id,
                "reason": block.reason,
                "blocked_at": iso8601(block.since),
                "by": by.get(target(block.shop, block.customer_id)),
            }
            for block in blocks
        ]

    async def block(
        self, shop: object, customer_id: object, reason: object, actor: str
    ) -> dict[str, object]:
        self._require_shared()
        shop, customer_id = _customer(shop, customer_id)
        if shop not in self.shops:
            raise InvalidRequest("`shop`: not a configured shop.")
        if not isinstance(reason, str) or len(reason) > MAX_REASON or not reason.isprintable():
            raise InvalidRequest(f"`reason`: at most {MAX_REASON} printable characters.")
        block = await self.state.block(shop, customer_id, reason)
        where = target(shop, customer_id)
        await self.audit.record(
            audit.event(self._now, actor, "block.create", where, {"reason": reason})
        )
        return {
            "shop": block.shop,
            "customer_id": block.customer_id,
            "reason": block.reason,
            "blocked_at": iso8601(block.since),
            "by": actor,
        }

    async def unblock(self, shop: str, customer_id: str, actor: str) -> None:
        self._require_shared()
        try:
            shop, customer_id = _customer(shop, customer_id)
        except InvalidRequest:
            raise NotFound("This customer is not blocked.") from None
        if not await self.state.unblock(shop, customer_id):
            raise NotFound("This customer is not blocked.")
        await self.audit.record(
            audit.event(self._now, actor, "block.delete", target(shop, customer_id))
        )

    def _require_shared(self) -> None:
        if not self.shared:
            raise SharedStateRequired()


def _customer(shop: object, customer_id: object) -> tuple[str, str]:
    if not isinstance(shop, str) or not SHOP_DOMAIN.fullmatch(shop):
        raise InvalidRequest("`shop`: a <name>.myshopify.com domain.")
    try:
        return shop, parse_customer_id(customer_id)
    except ServiceError:
        raise InvalidRequest("`customer_id`: a Shopify customer id, 1 to 20 digits.") from None
