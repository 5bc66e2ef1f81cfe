"""``shapestoken admin set-password``: the dashboard password, as an Argon2id hash to paste."""

from __future__ import annotations

import argparse
import getpass
import sys

from service.admin.accounts import MIN_PASSWORD
from service.cli.base import Commands
from service.config.store import MAX_PASSWORD
from service.errors import ConfigError


def register(commands: Commands) -> None:
    admin = commands.add_parser("admin", help="the /admin dashboard")
    actions = admin.add_subparsers(required=True, metavar="ACTION")
    set_password = actions.add_parser(
        "set-password",
        help="print an Argon2id hash for admin_password_hash (reads the password from a "
        "prompt, or from stdin when it is not a terminal)",
    )
    set_password.set_defaults(handler=set_password_hash)


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


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline(MAX_PASSWORD + 2)
        return line.removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("New dashboard password: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("password: the two entries differ")
    return first
