"""``shapestoken serve``: the HTTP service, or the development default without a config."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from typing import Any

from service.cli.base import Commands
from service.config import CONFIG_ENV, config_path, load_settings
from service.config.values import LOCAL_HOSTS
from service.errors import ConfigError
from service.observability import logs
from service.observability.multiprocess import DIR_ENV, WORKERS_ENV


def register(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="port (default $PORT or 8000)",
    )
    serve.add_argument("--workers", type=int, default=1, help="worker processes (config only)")
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.web.app import create_app, settle_heap
    from service.wiring import log_startup, prepare_database

    path = config_path()
    if path is not None:
        settings = load_settings(path)
    else:
        from service.dev.settings import development_settings

        settings = development_settings(args.port)
    logs.configure(settings.log_format, access_log=settings.access_log)
    if not settings.development:
        from service.wiring import startup_warnings

        for warning in startup_warnings(settings):
            logs.log.warning(warning)
    if settings.development:
        if args.host not in LOCAL_HOSTS:
            raise ConfigError("development mode binds a loopback address only; add a config")
        if args.workers != 1:
            raise ConfigError("development mode runs one worker; add a config for more")
    # Before the banner: a database behind its migrations stops here, naming the command.
    prepare_database(settings)
    if settings.development:
        from service.dev.settings import banner

        for line in banner(settings):
            logs.log.warning(line)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": False,  # RequestLog writes one line per request, without query strings
        "server_header": False,
        # No WebSocket route exists: with WebSockets off an upgrade request is plain
        # HTTP with a JSON answer, and uvicorn never logs its URL and query string.
        "ws": "none",
        # The app takes the client address from FORWARDED_ALLOW_IPS's proxies itself.
        "proxy_headers": False,
        "log_level": "info",
        # uvicorn's own lines (start, stop, errors) in the service's format too.
        "log_config": logs.server_log_config(settings.log_format),
    }
    if args.workers > 1:
        assert path is not None
        os.environ[CONFIG_ENV] = str(path.resolve())
        # The worker count as uvicorn, gunicorn and platforms pass it: each worker
        # reads it to warn when its state is per process.
        os.environ[WORKERS_ENV] = str(args.workers)
        # The workers add up their metrics in one directory, new for this run
        # (service.observability.multiprocess), unless the operator names one.
        made = None
        if not os.environ.get(DIR_ENV):
            made = os.environ[DIR_ENV] = tempfile.mkdtemp(prefix="shapestoken-metrics-")
        try:
            uvicorn.run("service.asgi:app", workers=args.workers, **options)
        finally:
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)
    else:
        app = create_app(settings)
        if not settings.development:
            log_startup(settings, app.state.components.keyring)
        settle_heap()
        uvicorn.run(app, **options)
    return 0
