"""``shapestoken sign``: what a theme renders for a customer, to check a set-up end to end."""

from __future__ import annotations

import argparse
import time

from service.cli.base import Commands, configured_settings
from service.customers.signatures import CustomerSigner, parse_customer_id
from service.errors import ConfigError, ServiceError


def register(commands: Commands) -> None:
    sign = commands.add_parser("sign", help="print the signature a theme renders for a customer")
    sign.add_argument("--shop", required=True, help="the shop's myshopify.com domain")
    sign.add_argument(
        "--ts",
        nargs="?",
        const="now",
        default=None,
        help="timestamped mode: sign '<id>:<ts>' (ts defaults to now)",
    )
    sign.add_argument("customer_id", metavar="ID")
    sign.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = configured_settings()
    shop = settings.shops.get(args.shop)
    if shop is None:
        raise ConfigError(f"shop {args.shop} is not configured")
    if not shop.signed_ids:
        raise ConfigError(f"shop {args.shop} has no id_secrets: it takes App Proxy requests only")
    try:
        customer_id = parse_customer_id(args.customer_id)
    except ServiceError as exc:
        raise ConfigError(exc.description) from exc
    ts = None
    if args.ts is not None:
        ts = int(time.time()) if args.ts == "now" else _digits(args.ts)
    signature = CustomerSigner(shop.id_secrets).sign(customer_id, ts)
    print(signature if ts is None else f"ts={ts} signature={signature}")
    return 0


def _digits(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ConfigError("--ts takes a Unix timestamp in digits")
    return int(text)
