"""The shapestoken command: one module per group of subcommands, each with register()."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.cli import admin, check, client_secrets, customers, db, keys, serve, sign, tokens
from service.cli.base import EXIT_CONFIG
from service.config import CONFIG_ENV
from service.errors import ConfigError, StoreUnavailable

#: Modules whose ``register(commands)`` adds subcommands, in help order.
COMMANDS = (serve, keys, sign, check, client_secrets, customers, tokens, db, admin)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        print(f"shapestoken: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreUnavailable as exc:
        print(f"shapestoken: cannot reach the database: {exc.cause}", file=sys.stderr)
        return 1
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapestoken",
        description="Mint short-lived JWTs for Shopify customers signed by the theme.",
        epilog=f"Configuration: ${CONFIG_ENV}, else ./shapestoken.toml. Without either, "
        "only `serve` runs (development mode, a demo shop); other commands exit 2.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser
