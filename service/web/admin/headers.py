"""Headers on every dashboard response: no caching, no framing, only our own scripts."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The pages load one stylesheet and one script from /admin/static and post forms
# to themselves; nothing else is allowed, so injected markup can do little.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode("ascii")),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # A new token is on exactly one response: no cache, no back-button copy.
    (b"cache-control", b"no-store"),
]
#: The names above: an app's own value for any of them is replaced.
_NAMES = frozenset(name for name, _ in HEADERS)


class AdminHeaders:
    """Sets :data:`HEADERS` on every response of the dashboard, over the app's own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", ()) if n.lower() not in _NAMES]
                message["headers"] = [*kept, *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
