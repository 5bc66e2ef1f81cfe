"""``shapestoken check-config``: validate the config and print it with secrets masked."""

from __future__ import annotations

import argparse

from service.cli.base import Commands, configured_settings


def register(commands: Commands) -> None:
    check = commands.add_parser("check-config", help="validate the config, print a summary")
    check.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from service.services import load_keyring

    settings = configured_settings()
    ring = load_keyring(settings)
    print(settings.summary())
    print(f"active key:   {ring.active.kid} ({ring.active.alg}), {len(ring.published())} published")
    print("config OK")
    return 0
