"""``shapestoken keys generate|rotate|list``: the signing keys."""

from __future__ import annotations

import argparse
import sys
import time

from service import keys
from service.cli.base import Commands, configured_settings
from service.clock import iso8601
from service.config import KEYS_ENV, Settings
from service.errors import ConfigError


def register(commands: Commands) -> None:
    key_cmd = commands.add_parser("keys", help="manage signing keys")
    actions = key_cmd.add_subparsers(required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="create the first signing key")
    generate.add_argument(
        "--print",
        action="store_true",
        dest="print_pem",
        help=f"print a new PEM key for {KEYS_ENV} instead of writing a file",
    )
    generate.set_defaults(handler=generate_key)
    actions.add_parser("rotate", help="add a new active key").set_defaults(handler=rotate)
    actions.add_parser("list", help="list keys and their state").set_defaults(handler=list_keys)


def generate_key(args: argparse.Namespace) -> int:
    settings = configured_settings()
    if args.print_pem:
        sys.stdout.write(keys.generate(settings.signing_alg).pem().decode("ascii"))
        return 0
    _refuse_env_keys(settings)
    existing = keys.load_dir(settings.signing_key_dir)
    if existing:
        raise ConfigError(
            f"{settings.signing_key_dir} already holds {len(existing)} key(s); "
            "use `shapestoken keys rotate` to add a new one"
        )
    key = keys.write_new_key(settings.signing_key_dir, settings.signing_alg)
    print(f"created {settings.signing_key_dir / key.name} ({key.alg}, kid {key.kid})")
    return 0


def rotate(args: argparse.Namespace) -> int:
    settings = configured_settings()
    _refuse_env_keys(settings)
    old = keys.load_dir(settings.signing_key_dir)
    key = keys.write_new_key(settings.signing_key_dir, settings.signing_alg)
    print(f"created {settings.signing_key_dir / key.name} ({key.alg}, kid {key.kid}): active")
    if old:
        until = iso8601(time.time() + keys.publish_window(settings.max_token_ttl))
        print(f"previous key {old[0].kid} stays in the JWKS until {until}")
    print("restart every replica (rolling) so they sign with the new key")
    return 0


def list_keys(args: argparse.Namespace) -> int:
    from service.services import load_keyring

    ring = load_keyring(configured_settings())
    for key, state in ring.status():
        created = "-" if key.created is None else iso8601(key.created)
        print(f"{key.kid}  {key.alg:<6} created {created}  {state}")
    return 0


def _refuse_env_keys(settings: Settings) -> None:
    if settings.signing_keys_pem is not None:
        raise ConfigError(
            f"keys come from {KEYS_ENV}; make one with "
            "`shapestoken keys generate --print` and put it first in that variable"
        )
