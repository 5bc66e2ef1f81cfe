"""The module-level ASGI app for servers: ``uvicorn service.asgi:app``."""

from __future__ import annotations

from service.web.app import app_from_environment

app = app_from_environment()
