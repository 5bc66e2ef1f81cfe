"""``shapestoken tokens create|list|revoke``: API tokens from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from service.cli.base import Commands, configured_settings
from service.config import RedisURL, Settings
from service.errors import ConfigError, ServiceError
from service.store.stk import (
    DEFAULT_EXPIRY,
    NEVER,
    ApiToken,
    TokenInputError,
    is_id,
    parse_expiry,
    utc,
)
from service.support.clock import iso8601

if TYPE_CHECKING:  # SQLAlchemy is imported only when a command runs, not for --help
    from service.store.apitokens import ApiTokenStore

T = TypeVar("T")
COLUMNS = ("ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "STATUS", "REVOKED")
#: Who a revocation from the command line is recorded as (``revoked_by``).
REVOKED_BY = "cli"


def register(commands: Commands) -> None:
    tokens = commands.add_parser("tokens", help="API tokens for integrations")
    actions = tokens.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="make a token: the token alone on stdout, its id on stderr"
    )
    create.add_argument("--name", required=True, help="what uses it, e.g. crm-sync")
    create.add_argument(
        "--scope", action="append", required=True, help="one of api_scopes; repeat for more"
    )
    create.add_argument(
        "--expires",
        default=DEFAULT_EXPIRY,
        help=f"lifetime, e.g. 12h, 90d, 6w, 1y, or {NEVER} (default: {DEFAULT_EXPIRY})",
    )
    create.set_defaults(handler=create_token)
    listing = actions.add_parser("list", help="active tokens (--all: revoked and expired too)")
    listing.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    listing.set_defaults(handler=list_tokens)
    revoke = actions.add_parser("revoke", help="revoke a token by id, at once")
    revoke.add_argument("id", help="the token's id, from `tokens list`")
    revoke.set_defaults(handler=revoke_token)


def create_token(args: argparse.Namespace) -> int:
    try:
        expires_in = parse_expiry(args.expires)

        async def create(store: ApiTokenStore) -> tuple[ApiToken, str]:
            record, token = await store.create(
                name=args.name, scopes=args.scope, expires_in=expires_in, created_by=_who()
            )
            await _audit(
                store, "token.create", record, {"name": record.name, "scopes": list(record.scopes)}
            )
            return record, token

        record, token = _run(create)
    except TokenInputError as exc:
        raise ConfigError(f"--{exc.field}: {exc.message}") from None
    expires = "never" if record.expires_at is None else _time(record.expires_at)
    print(
        f"created API token {record.id} ({record.name}; {' '.join(record.scopes)}; "
        f"expires {expires}). It is shown once: store it now.",
        file=sys.stderr,
    )
    print(token)
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    records = _run(lambda store: store.list(include_inactive=args.all))
    now = utc(time.time())
    rows = [COLUMNS, *(_columns(record, now) for record in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    if not is_id(args.id):
        raise ConfigError(f"id: {args.id[:40]!r} is not a token id (see `shapestoken tokens list`)")

    async def revoke(store: ApiTokenStore) -> tuple[ApiToken, bool, float]:
        before = await store.get(args.id)
        if before is None:
            raise ConfigError(f"id: no token {args.id}")
        if before.revoked_at is not None:
            return before, False, store.reach
        after = await store.revoke(args.id, by=REVOKED_BY)
        assert after is not None
        await _audit(store, "token.revoke", after, {})
        return after, True, store.reach

    record, changed, reach = _run(revoke, reach=True)
    assert record.revoked_at is not None
    when = _time(record.revoked_at)
    if changed:
        # With Redis, the servers hear it at once; without, their caches expire.
        print(
            f"revoked token {record.id} ({record.name}) at {when}; "
            f"refused everywhere within {reach:g} s"
        )
    else:
        print(f"token {record.id} ({record.name}) was already revoked at {when}")
    return 0


def _columns(record: ApiToken, now: datetime) -> tuple[str, ...]:
    return (
        record.id,
        record.name,
        " ".join(record.scopes),
        _time(record.created_at),
        "never" if record.expires_at is None else _time(record.expires_at),
        "never" if record.last_used_at is None else _time(record.last_used_at),
        record.status(now),
        _revoked(record),
    )


def _revoked(record: ApiToken) -> str:
    """When and by whom a token was revoked; ``-`` for a token that is not."""
    if record.revoked_at is None:
        return "-"
    return f"{_time(record.revoked_at)} by {record.revoked_by or 'unknown'}"


def _time(value: datetime) -> str:
    return iso8601(value.timestamp())


async def _audit(
    store: ApiTokenStore, action: str, record: ApiToken, details: dict[str, object]
) -> None:
    """The act in the audit trail, as ``cli`` (never the token)."""
    from service.admin import audit
    from service.store.audit import AuditLog

    event = audit.event(time.time, audit.CLI, action, record.id, details)
    await AuditLog(store.engine).record(event)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def _run(action: Callable[[ApiTokenStore], Awaitable[T]], *, reach: bool = False) -> T:
    """``action`` on the store; ``reach``: revocations are announced to the servers."""
    settings = configured_settings()

    async def run() -> T:
        async with _store(settings) as store:
            if reach and isinstance(settings.state, RedisURL):
                async with _announcing(settings.state, settings, store):
                    return await action(store)
            return await action(store)

    return asyncio.run(run())


@contextlib.asynccontextmanager
async def _announcing(
    url: RedisURL, settings: Settings, store: ApiTokenStore
) -> AsyncIterator[None]:
    """Announce the store's revocations on Redis, as a server does (see service.wiring)."""
    from service.cli.customers import TIMEOUT
    from service.state.redis import RedisState
    from service.store.apitokens import CACHE_TTL
    from service.wiring import announce_revocations

    state = RedisState.from_url(
        url, settings.rate_limits.rates(), max_token_ttl=settings.max_token_ttl, timeout=TIMEOUT
    )
    announce_revocations(store, state)  # a command runs no listener: it caches nothing
    announce = store.announce
    assert announce is not None

    async def told(token_id: str) -> None:
        try:
            await announce(token_id)
        except ServiceError:
            store.reach = CACHE_TTL  # the servers' caches expire: the bound without Redis
            raise

    store.announce = told
    try:
        yield
    finally:
        await state.aclose()


@contextlib.asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[ApiTokenStore]:
    database = settings.store.database
    if database is None:
        raise ConfigError(
            "database: not configured; API tokens live in a database "
            '(database = "sqlite:///var/shapestoken.db" and api_scopes = [...])'
        )
    from service.store import db
    from service.store.apitokens import ApiTokenStore

    engine = db.create_engine(database)
    try:
        await db.check_current(engine)
        yield ApiTokenStore(engine, issuer=settings.issuer, scopes=settings.store.api_scopes)
    finally:
        await engine.dispose()
