"""``shapestoken clients create|hash-secret``: OAuth client secrets, shown once, kept as hashes.

Neither command reads the config: ``create`` prints a new confidential
client's secret and the exact ``[clients."<id>"]`` lines to paste, and
``hash-secret`` prints the ``sha256:`` form of a secret you already have.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys

from service.cli.base import Commands
from service.config.clients import parse_client
from service.errors import ConfigError
from service.oauth.registry import hash_secret
from service.support.secret import MIN_SECRET_BYTES

#: 256 random bits, base64url: 43 characters that need no escaping anywhere.
SECRET_BYTES = 32

NOTE = (
    "",
    "Store the secret now: it is shown only this once; the config keeps only its hash.",
    "Paste the [clients] lines into the config and restart the service.",
    "To rotate a secret, put a new hash first in the client's secret_hashes, and remove",
    "the old one once every caller uses the new secret.",
)


def register(commands: Commands) -> None:
    clients = commands.add_parser("clients", help="OAuth client secrets")
    actions = clients.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="make a confidential client: its secret (once) and the config lines"
    )
    create.add_argument("client_id", metavar="CLIENT_ID", help="3-64 of A-Z a-z 0-9 . _ -")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        dest="scopes",
        help="a scope the client may ask for (repeat for several)",
    )
    create.add_argument(
        "--audience",
        action="append",
        dest="audiences",
        help="an allowed audience, the first is the default (repeat; default: the issuer)",
    )
    create.add_argument("--token-ttl", type=int, help="token lifetime, 60-86400 s (default 3600)")
    create.add_argument(
        "--introspect", action="store_true", help="may call /oauth/introspect (an API)"
    )
    create.set_defaults(handler=create_client)
    hash_cmd = actions.add_parser(
        "hash-secret", help="print the sha256: hash of a secret read from stdin"
    )
    hash_cmd.set_defaults(handler=hash_existing)


def create_client(args: argparse.Namespace) -> int:
    secret = secrets.token_urlsafe(SECRET_BYTES)
    table: dict[str, object] = {
        "secret_hashes": [hash_secret(secret.encode("ascii"))],
        "scopes": args.scopes,
    }
    if args.audiences:
        table["audiences"] = args.audiences
    if args.token_ttl is not None:
        table["token_ttl"] = args.token_ttl
    if args.introspect:
        table["introspect"] = True
    # The same checks as at start-up, so the printed lines always load.
    parse_client(args.client_id, table, issuer="https://issuer.invalid")
    print(f"client_id:     {args.client_id}")
    print(f"client_secret: {secret}")
    print()
    print(f"[clients.{_toml(args.client_id)}]")
    for key, value in table.items():
        print(f"{key} = {_toml(value)}")
    for line in NOTE:
        print(line, file=sys.stderr)
    return 0


def hash_existing(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        secret = getpass.getpass("client secret: ").encode("utf-8")
    else:
        secret = sys.stdin.buffer.read()
        # One trailing newline is how `echo` and editors end input, not part of the secret.
        secret = secret.removesuffix(b"\n").removesuffix(b"\r")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are required "
            "(`shapestoken clients create` makes one of 256 random bits)"
        )
    print(hash_secret(secret))
    return 0


def _toml(value: object) -> str:
    # JSON strings, integers, booleans and arrays of them are valid TOML values.
    return json.dumps(value, ensure_ascii=False)
