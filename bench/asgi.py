"""Drive an ASGI app in-process with raw ASGI calls: no server, no sockets.

What uvicorn hands the app for a keep-alive ``POST`` with a JSON body, built
by hand; the app's own middleware, routing, endpoint and response code all run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message

from bench import workspace
from bench.workspace import ENDPOINT, Workspace


class Driver:
    def __init__(self, app: ASGIApp, path: str = ENDPOINT) -> None:
        self.app = app
        self.path = path
        self._raw_path = path.encode("ascii")

    async def post(self, body: bytes, client: str = "127.0.0.1") -> int:
        """POST ``body`` as JSON and return the response status."""
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": (client, 50000),
            "scheme": "http",
            "method": "POST",
            "root_path": "",
            "path": self.path,
            "raw_path": self._raw_path,
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
            "state": {},
        }
        messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        status = 0

        async def receive() -> Message:
            # After the body, a server reports a disconnect only when the client leaves.
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


def service_app(space: Workspace) -> ASGIApp:
    """The real app for ``space``'s config, built by ``create_app`` (logging not set up)."""
    from service.config import load_settings
    from service.web.app import create_app

    settings = load_settings(space.config, environ=space.server_environ())
    return create_app(settings)


def body_batches(
    space: Workspace, first: int, count: int, batch: int = 10_000
) -> Iterator[list[bytes]]:
    """Signed bodies as bytes, ``batch`` at a time (a million do not sit in memory at once)."""
    position = first
    end = first + count
    while position < end:
        size = min(batch, end - position)
        yield [
            body.encode("ascii") for body in workspace.customer_bodies(space.secret, position, size)
        ]
        position += size
