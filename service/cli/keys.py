"""``shapestoken keys generate|rotate|list``: the signing keys."""

from __future__ import annotations

import argparse
import sys

from service.cli.base import Commands, configured_settings
from service.config import KEYS_ENV, Settings
from service.errors import ConfigError
from service.signing import keyfiles, keys
from service.support.clock import iso8601


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
    rotate_help = "add a key: published at once, signing after key_activation_delay"
    actions.add_parser("rotate", help=rotate_help).set_defaults(handler=rotate)
    actions.add_parser("list", help="list keys and their state").set_defaults(handler=list_keys)
    reload_help = "make every server reading signing_key_dir read it again now (within 1 s)"
    actions.add_parser("reload", help=reload_help).set_defaults(handler=reload_keys)


def generate_key(args: argparse.Namespace) -> int:
    settings = configured_settings()
    if args.print_pem:
        sys.stdout.write(keys.generate(settings.signing_alg).pem().decode("ascii"))
        return 0
    _refuse_env_keys(settings)
    existing = keyfiles.load_dir(settings.signing_key_dir)
    if existing:
        raise ConfigError(
            f"{settings.signing_key_dir} already holds {len(existing)} key(s); "
            "use `shapestoken keys rotate` to add a new one"
        )
    key = keyfiles.write_new_key(settings.signing_key_dir, settings.signing_alg)
    print(f"created {settings.signing_key_dir / key.name} ({key.alg}, kid {key.kid})")
    print("it is the first key: it signs at once")
    return 0


def rotate(args: argparse.Namespace) -> int:
    from service.wiring import load_keyring

    settings = configured_settings()
    _refuse_env_keys(settings)
    key = keyfiles.write_new_key(settings.signing_key_dir, settings.signing_alg)
    ring = load_keyring(settings)
    starts = ring.starts(key)
    print(f"created {settings.signing_key_dir / key.name} ({key.alg}, kid {key.kid})")
    if starts is None:
        print("it is the only key: it signs at once")
        return 0
    print(
        f"published now; signs from {iso8601(starts)} "
        f"(key_activation_delay = {settings.key_activation_delay}s)"
    )
    print(
        "running servers reading this directory publish it within a second (or run "
        "`shapestoken keys reload`), no restart needed; "
        f"the key it replaces stays published until {iso8601(starts + ring.window)}"
    )
    return 0


def reload_keys(args: argparse.Namespace) -> int:
    from service.wiring import load_keyring

    settings = configured_settings()
    _refuse_env_keys(settings)
    ring = load_keyring(settings)  # what the servers will read: refused here if broken
    keyfiles.request_reload(settings.signing_key_dir)
    print(
        f"asked every server reading {settings.signing_key_dir} to read its keys again: "
        f"within a second each worker publishes {len(ring.published())} key(s), "
        f"{ring.active.kid} signing; no worker restarts"
    )
    return 0


def list_keys(args: argparse.Namespace) -> int:
    from service.wiring import load_keyring

    ring = load_keyring(configured_settings())
    for key, state in ring.status():
        created = "-" if key.created is None else iso8601(key.created)
        print(f"{key.kid}  {key.alg:<6} created {created}  {state}")
    return 0


def _refuse_env_keys(settings: Settings) -> None:
    if settings.signing_keys_pem is not None:
        raise ConfigError(
            f"keys come from {KEYS_ENV}; make one with `shapestoken keys generate --print`, "
            "add it last to that variable and deploy, then after key_activation_delay "
            "move it first and deploy again"
        )
