"""``shapestoken admin set-password|add|list|remove``: who may use the dashboard.

``set-password`` prints an Argon2id hash for the config's ``admin_password_hash``
(the administrator ``admin``). ``add``, ``list`` and ``remove`` manage named
administrators in the database; each act is in the audit trail as ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from service.admin.accounts import MIN_PASSWORD, check_name
from service.admin.audit import CLI
from service.cli.base import Commands, configured_settings
from service.config.store import MAX_PASSWORD
from service.errors import ConfigError
from service.support.clock import iso8601

if TYPE_CHECKING:  # SQLAlchemy is imported only when a command runs, not for --help
    from service.admin.accounts import Accounts

T = TypeVar("T")


def register(commands: Commands) -> None:
    admin = commands.add_parser("admin", help="the /admin dashboard and its administrators")
    actions = admin.add_subparsers(required=True, metavar="ACTION")
    set_password = actions.add_parser(
        "set-password",
        help="print an Argon2id hash for admin_password_hash (reads the password from a "
        "prompt, or from stdin when it is not a terminal)",
    )
    set_password.set_defaults(handler=set_password_hash)
    add = actions.add_parser(
        "add",
        help="add a named administrator (password from a prompt, or stdin when it is not a "
        "terminal)",
    )
    add.add_argument("name", help="1-64 of a-z 0-9 . _ -")
    add.set_defaults(handler=add_admin)
    actions.add_parser("list", help="the named administrators").set_defaults(handler=list_admins)
    remove = actions.add_parser("remove", help="remove a named administrator")
    remove.add_argument("name")
    remove.set_defaults(handler=remove_admin)


def set_password_hash(args: argparse.Namespace) -> int:
    # Reads no config: the hash is made before the config that will hold it.
    from argon2 import PasswordHasher

    password = _read_password()
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ConfigError(f"password: at most {MAX_PASSWORD} characters")
    # argon2-cffi's defaults are RFC 9106's second recommendation: Argon2id, 64 MiB, 3 passes.
    print(PasswordHasher().hash(password))
    print(
        "Paste it as admin_password_hash (in single quotes in TOML, or in an environment "
        "variable read with env:NAME), and set session_secret to 32+ random bytes.",
        file=sys.stderr,
    )
    return 0


def add_admin(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    password = _read_password()
    added = _run(lambda accounts: accounts.add(name, password, CLI))
    print(f"added administrator {added.name}: sign in to /admin with this name")
    return 0


def list_admins(args: argparse.Namespace) -> int:
    admins = _run(lambda accounts: accounts.list())
    if not admins:
        print("no named administrators (the config's admin signs in with an empty name)")
    for admin in admins:
        print(f"{admin.name}\t{iso8601(admin.created_at.timestamp())}")
    return 0


def remove_admin(args: argparse.Namespace) -> int:
    if not _run(lambda accounts: accounts.remove(args.name, CLI)):
        print(f"shapestoken: no administrator {args.name[:64]!r}", file=sys.stderr)
        return 1
    print(f"removed administrator {args.name}: their sessions end at their next request")
    return 0


def _run(action: Callable[[Accounts], Awaitable[T]]) -> T:
    settings = configured_settings()
    database = settings.store.database
    if database is None:
        raise ConfigError("database: not configured; named administrators live in a database")
    from service.admin.accounts import Accounts
    from service.store import db
    from service.store.admins import Admins

    async def run() -> T:
        engine = db.create_engine(database)
        try:
            await db.check_current(engine)
            return await action(Accounts(Admins(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline(MAX_PASSWORD + 2)
        return line.removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("password: the two entries differ")
    return first
