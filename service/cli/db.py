"""``shapestoken db upgrade``: create or migrate the database of API tokens."""

from __future__ import annotations

import argparse
import asyncio
import sys

from service.cli.base import Commands, configured_settings


def register(commands: Commands) -> None:
    db = commands.add_parser("db", help="the SQL database of API tokens")
    actions = db.add_subparsers(required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade",
        help="create or migrate the schema; safe on every deploy (a Procfile release: line)",
    )
    upgrade.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    settings = configured_settings()
    database = settings.store.database
    if database is None:
        # Not an error: the same release step serves deployments with and without one.
        print("no database configured: nothing to migrate", file=sys.stderr)
        return 0
    from service.store import db

    async def upgrade() -> tuple[str | None, str]:
        engine = db.create_engine(database, migrations=True)
        try:
            return await db.upgrade(engine, database)
        finally:
            await engine.dispose()

    before, after = asyncio.run(upgrade())
    if before == after:
        print(f"{database.display}: already at revision {after}")
    else:
        print(f"{database.display}: migrated from {before or 'an empty database'} to {after}")
    return 0
