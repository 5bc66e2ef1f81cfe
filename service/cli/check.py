"""``shapestoken check-config``: validate the config and print it with secrets masked."""

from __future__ import annotations

import argparse
import sys
import time

from service.cli.base import Commands, configured_settings
from service.support.clock import iso8601


def register(commands: Commands) -> None:
    check = commands.add_parser("check-config", help="validate the config, print a summary")
    check.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from service.wiring import load_keyring, startup_warnings

    settings = configured_settings()
    ring = load_keyring(settings)
    print(settings.summary())
    active = ring.active
    print(f"active key:   {active.kid} ({active.alg}), {len(ring.published())} published")
    for key in ring.keys:
        starts = ring.starts(key)
        if starts is not None and key is not active and starts > time.time():
            print(f"next key:     {key.kid} ({key.alg}) signs from {iso8601(starts)}")
    warnings = startup_warnings(settings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"config OK ({len(warnings)} warning{'' if len(warnings) == 1 else 's'})")
    return 0
