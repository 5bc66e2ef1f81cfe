"""``shapestoken customers block|unblock|list``: stop one customer getting tokens.

A block refuses the customer's mints (403 ``customer_blocked``) and makes every
token issued to them until then inactive, on every replica at once. It lives
in the shared state, so these commands need ``state = "redis://…"``: with
``"memory"`` each server process keeps its own, which no command can reach.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from service.cli.base import Commands, configured_settings
from service.config import RedisURL, Settings
from service.config.values import SHOP_DOMAIN
from service.customers.signatures import parse_customer_id
from service.errors import ConfigError, ServiceError, StateUnavailable
from service.observability.logs import log
from service.support.clock import iso8601

if TYPE_CHECKING:
    from service.state.redis import RedisState

T = TypeVar("T")

#: A command run by hand may wait longer than a request for a distant Redis.
TIMEOUT = 5.0
MAX_REASON = 200
#: Exit status when Redis cannot be reached (the config itself is fine).
EXIT_UNAVAILABLE = 1


def register(commands: Commands) -> None:
    customers = commands.add_parser("customers", help="block or unblock a customer's tokens")
    actions = customers.add_subparsers(required=True, metavar="ACTION")
    block = actions.add_parser("block", help="refuse a customer's tokens, old and new")
    _customer_arguments(block)
    block.add_argument("--reason", default="", help="why, kept with the block (shown by list)")
    block.set_defaults(handler=run_block)
    unblock = actions.add_parser("unblock", help="let a blocked customer get tokens again")
    _customer_arguments(unblock)
    unblock.set_defaults(handler=run_unblock)
    actions.add_parser("list", help="list blocked customers").set_defaults(handler=run_list)


def _customer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shop", help="the shop's myshopify.com domain")
    parser.add_argument("customer_id", metavar="id", help="the Shopify customer id")


def run_block(args: argparse.Namespace) -> int:
    settings = configured_settings()
    shop, customer_id = _customer(args)
    if shop not in settings.shops:
        raise ConfigError(f"shop {shop} is not configured")
    reason = args.reason
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise ConfigError(f"--reason: at most {MAX_REASON} printable characters")
    block = _run(settings, lambda state: state.block(shop, customer_id, reason))
    if block is None:
        return EXIT_UNAVAILABLE
    _audit(settings, "block.create", shop, customer_id, {"reason": reason})
    print(
        f"blocked {shop} {customer_id} at {iso8601(block.since)}: mints answer 403 and every "
        "token issued until now is inactive on every replica"
    )
    return 0


def run_unblock(args: argparse.Namespace) -> int:
    settings = configured_settings()
    # Any shop: a block may outlive its shop's config, and must still be liftable.
    shop, customer_id = _customer(args)
    lifted = _run(settings, lambda state: state.unblock(shop, customer_id))
    if lifted is None:
        return EXIT_UNAVAILABLE
    if not lifted:
        print(f"shapestoken: {shop} {customer_id} is not blocked", file=sys.stderr)
        return 1
    _audit(settings, "block.delete", shop, customer_id, {})
    print(
        f"unblocked {shop} {customer_id}: new tokens work at once; tokens issued before "
        f"the block stay inactive until they expire (at most {settings.max_token_ttl} s)"
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings = configured_settings()
    blocks = _run(settings, lambda state: state.blocks())
    if blocks is None:
        return EXIT_UNAVAILABLE
    if not blocks:
        print("no blocked customers", file=sys.stderr)
    for block in blocks:
        print(f"{block.shop}\t{block.customer_id}\t{iso8601(block.since)}\t{block.reason}")
    return 0


def _audit(
    settings: Settings, action: str, shop: str, customer_id: str, details: dict[str, object]
) -> None:
    """The act in the audit trail as ``cli``, when there is a database to keep it."""
    database = settings.store.database
    if database is None:
        return
    from service.admin import audit
    from service.admin.blocks import target
    from service.store import db
    from service.store.audit import AuditLog

    async def record() -> None:
        engine = db.create_engine(database)
        try:
            event = audit.event(time.time, audit.CLI, action, target(shop, customer_id), details)
            await AuditLog(engine).record(event)
        finally:
            await engine.dispose()

    asyncio.run(record())


def _customer(args: argparse.Namespace) -> tuple[str, str]:
    if not SHOP_DOMAIN.fullmatch(args.shop):
        raise ConfigError(f"{args.shop!r} is not a <name>.myshopify.com domain")
    try:
        return args.shop, parse_customer_id(args.customer_id)
    except ServiceError as exc:
        raise ConfigError(f"customer id: {exc.description}") from exc


def _run(settings: Settings, action: Callable[[RedisState], Awaitable[T]]) -> T | None:
    """``action`` on the shared state; None (after saying why) when Redis cannot answer."""
    if not isinstance(settings.state, RedisURL):
        raise ConfigError(
            'blocks need state = "redis://host:6379/0": with state = "memory" each server '
            "process keeps its own, in its memory, where a command cannot reach it"
        )
    from service.state.monitor import describe
    from service.state.redis import RedisState

    target = settings.state
    state = RedisState.from_url(
        target,
        settings.rate_limits.rates(),
        max_token_ttl=settings.max_token_ttl,
        timeout=TIMEOUT,
    )

    async def go() -> T:
        try:
            return await action(state)
        finally:
            await state.aclose()

    # The server's outage log lines speak of answering 503; this command says it itself.
    log.disabled = True
    try:
        return asyncio.run(go())
    except StateUnavailable as exc:
        cause = exc.__cause__
        detail = describe(cause) if cause is not None else "no answer"
        print(f"shapestoken: cannot reach {target}: {detail}", file=sys.stderr)
        return None
    finally:
        log.disabled = False
