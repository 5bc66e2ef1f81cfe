"""The module-level ASGI app for servers: ``uvicorn service.asgi:app``."""

from __future__ import annotations

from service.observability.multiprocess import share_metrics

# Before anything imports prometheus-client, which picks where values live on import.
share_metrics()

from service.web.app import app_from_environment  # noqa: E402

app = app_from_environment()
