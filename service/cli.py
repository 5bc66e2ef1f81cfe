"""The ``shapestoken`` command: serve, keys, sign, check-config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from service import keys, logs
from service.config import CONFIG_ENV, Settings, config_path, load_settings
from service.errors import ConfigError, ServiceError
from service.signatures import CustomerSigner, parse_customer_id

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        print(f"shapestoken: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shapestoken",
        description="Mint short-lived JWTs for Shopify customers signed by the theme.",
        epilog=f"Configuration: ${CONFIG_ENV}, else ./shapestoken.toml; with neither, "
        "a development default with a demo shop.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="port (default $PORT or 8000)",
    )
    serve.add_argument("--workers", type=int, default=1, help="worker processes (config only)")
    serve.set_defaults(handler=_serve)

    key_cmd = commands.add_parser("keys", help="manage signing keys")
    key_actions = key_cmd.add_subparsers(required=True, metavar="ACTION")
    generate = key_actions.add_parser("generate", help="create the first signing key")
    generate.add_argument(
        "--print",
        action="store_true",
        dest="print_pem",
        help="print a new PEM key for SHAPESTOKEN_SIGNING_KEYS instead of writing a file",
    )
    generate.set_defaults(handler=_keys_generate)
    key_actions.add_parser("rotate", help="add a new active key").set_defaults(handler=_keys_rotate)
    key_actions.add_parser("list", help="list keys and their state").set_defaults(
        handler=_keys_list
    )

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
    sign.set_defaults(handler=_sign)

    check = commands.add_parser("check-config", help="validate the config, print a summary")
    check.set_defaults(handler=_check_config)
    return parser


def _settings(port: int = 8000) -> Settings:
    path = config_path()
    if path is not None:
        return load_settings(path)
    from service.dev import development_settings

    return development_settings(port)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app, settle_heap

    path = config_path()
    settings = _settings(args.port)
    logs.configure(settings.log_format)
    if settings.development:
        from service.dev import LOOPBACK, banner

        if args.host not in LOOPBACK:
            raise ConfigError("development mode binds a loopback address only; add a config")
        if args.workers != 1:
            raise ConfigError("development mode runs one worker; add a config for more")
        for line in banner(settings):
            logs.log.warning(line)
    options = {
        "host": args.host,
        "port": args.port,
        "access_log": False,  # RequestLog writes one line per request, without query strings
        "server_header": False,
        "proxy_headers": True,  # trusted only from --forwarded-allow-ips / FORWARDED_ALLOW_IPS
        "log_level": "info",
    }
    if args.workers > 1:
        assert path is not None
        os.environ[CONFIG_ENV] = str(path.resolve())
        uvicorn.run("service.asgi:app", workers=args.workers, **options)
    else:
        app = create_app(settings)
        settle_heap()
        uvicorn.run(app, **options)
    return 0


def _keys_generate(args: argparse.Namespace) -> int:
    settings = _settings()
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


def _keys_rotate(args: argparse.Namespace) -> int:
    settings = _settings()
    _refuse_env_keys(settings)
    old = keys.load_dir(settings.signing_key_dir)
    key = keys.write_new_key(settings.signing_key_dir, settings.signing_alg)
    print(f"created {settings.signing_key_dir / key.name} ({key.alg}, kid {key.kid}): active")
    if old:
        window = keys.publish_window(settings.max_token_ttl)
        until = datetime.fromtimestamp(time.time() + window, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"previous key {old[0].kid} stays in the JWKS until {until}")
    print("restart every replica (rolling) so they sign with the new key")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from service.app import load_keyring

    settings = _settings()
    ring = load_keyring(settings)
    for key, state in ring.status():
        created = (
            "-"
            if key.created is None
            else datetime.fromtimestamp(key.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        print(f"{key.kid}  {key.alg:<6} created {created}  {state}")
    return 0


def _refuse_env_keys(settings: Settings) -> None:
    if settings.signing_keys_pem is not None:
        raise ConfigError(
            "keys come from SHAPESTOKEN_SIGNING_KEYS; make one with "
            "`shapestoken keys generate --print` and put it first in that variable"
        )


def _sign(args: argparse.Namespace) -> int:
    settings = _settings()
    shop = settings.shops.get(args.shop)
    if shop is None:
        raise ConfigError(f"shop {args.shop} is not configured")
    try:
        customer_id = parse_customer_id(args.customer_id)
    except ServiceError as exc:
        raise ConfigError(exc.description) from exc
    ts = None
    if args.ts is not None:
        ts = int(time.time()) if args.ts == "now" else _digits(args.ts)
    signature = CustomerSigner(shop.id_secrets).sign(customer_id, ts)
    if ts is None:
        print(signature)
    else:
        print(f"ts={ts} signature={signature}")
    return 0


def _digits(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ConfigError("--ts takes a Unix timestamp in digits")
    return int(text)


def _check_config(args: argparse.Namespace) -> int:
    from service.app import load_keyring

    settings = _settings()
    ring = load_keyring(settings)
    print(settings.summary())
    print(f"active key:   {ring.active.kid} ({ring.active.alg}), {len(ring.published())} published")
    print("config OK")
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig()
    sys.exit(main())
