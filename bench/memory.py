"""``python -m bench memory``: mint for many distinct customers in-process and watch RSS.

The app is the real one (``create_app`` on a real config), driven with raw
ASGI calls, so every request runs the whole mint path, both rate limiters
included. Each request is a new customer from a new client address, at the
default rates: nothing is limited, and a limiter keeps a key while its TAT is
ahead of now, up to ``rate_limits.max_entries``. RSS should grow until they
hold those few seconds of keys and then stay flat, however many customers
follow. Request logging is
not configured here: nothing is kept of it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message

from bench.workload import (
    ENDPOINT,
    FIRST_CUSTOMER,
    SECRET,
    SECRET_ENV,
    config_text,
    customer_bodies,
)
from service.config import load_settings
from service.signing.keyfiles import write_new_key
from service.web.app import create_app, settle_heap

WARMUP = 2_000
MiB = 1024 * 1024


async def post(app: ASGIApp, body: bytes, client: str) -> int:
    """What uvicorn hands the app for a keep-alive JSON ``POST``; returns the status."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": (client, 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": ENDPOINT,
        "raw_path": ENDPOINT.encode("ascii"),
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

    await app(scope, receive, send)
    # Let the loop turn, as a server's does between requests. Without it, a request that
    # never waits on I/O never yields, and the loop never purges the timers the request
    # cancelled (the body read's deadline): RSS would grow by ~200 bytes a request.
    await asyncio.sleep(0)
    return status


def client_address(n: int) -> str:
    """A distinct IPv4 address per request (16.7 million before any repeat)."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def checkpoints(customers: int, steps: int = 10) -> list[int]:
    return sorted({customers * i // steps for i in range(1, steps + 1)} - {0})


class GCPauses:
    """Records how long each automatic full (generation 2) collection takes."""

    def __init__(self) -> None:
        self.recording = True
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if self.recording and info["generation"] == 2:
            if phase == "start":
                self._started = time.perf_counter()
            else:
                self.pauses.append(time.perf_counter() - self._started)


def rss(pauses: GCPauses) -> int:
    """This process's resident memory after a full collection (not counted as a pause)."""
    pauses.recording = False
    gc.collect()
    pauses.recording = True
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _warm_up(app: ASGIApp) -> None:
    for n, body in enumerate(customer_bodies(FIRST_CUSTOMER, WARMUP)):
        await post(app, body.encode("ascii"), f"192.168.{n >> 8}.{n & 255}")


async def _mint(app: Starlette, customers: int, pauses: GCPauses) -> tuple[int, list[str]]:
    marks = checkpoints(customers)
    rows: list[str] = []
    failures = 0
    start = time.perf_counter()
    before = rss(pauses)
    rows.append(f"| 0 (before) | {before / MiB:.1f} | 0.0 | - | - | 0 |")
    for done, body in enumerate(customer_bodies(FIRST_CUSTOMER + WARMUP, customers), start=1):
        failures += await post(app, body.encode("ascii"), client_address(done)) != 200
        if done == marks[0]:
            marks.pop(0)
            now, seconds = rss(pauses), time.perf_counter() - start
            tracked = app.state.components.state.tracked_keys()
            rows.append(
                f"| {done:,} | {now / MiB:.1f} | {(now - before) / MiB:.1f} "
                f"| {tracked['per_customer']:,} | {tracked['per_ip']:,} | {seconds:.0f} |"
            )
            print(f"  {done:,} customers: RSS {now / MiB:.1f} MiB", file=sys.stderr, flush=True)
    return failures, rows


def run(customers: int, *, max_entries: int = 100_000, freeze: bool = True) -> str:
    """Mint for ``customers`` new customers and return the markdown report."""
    pauses = GCPauses()
    with tempfile.TemporaryDirectory(prefix="shapestoken-bench-") as tmp:
        config = Path(tmp) / "shapestoken.toml"
        config.write_text(config_text(raised=False, max_entries=max_entries))
        write_new_key(Path(tmp) / "keys", "ES256")
        app = create_app(load_settings(config, environ={SECRET_ENV: SECRET}))
        asyncio.run(_warm_up(app))
        if freeze:
            settle_heap()  # as server processes do
        gc.callbacks.append(pauses)
        try:
            failures, rows = asyncio.run(_mint(app, customers, pauses))
        finally:
            gc.callbacks.remove(pauses)
    longest = max(pauses.pauses, default=0.0) * 1000
    lines = [
        f"In-process (create_app + raw ASGI calls), rate_limits.max_entries = {max_entries:,}; "
        f"RSS before = after building the app and {WARMUP:,} warm-up mints.",
        "",
        "| customers minted | RSS MiB | growth MiB | per-customer entries | per-IP entries | s |",
        "|--:|--:|--:|--:|--:|--:|",
        *rows,
        "",
        f"Garbage collector: {len(pauses.pauses)} automatic full collections, longest "
        f"{longest:.1f} ms (start-up objects {'frozen' if freeze else 'not frozen'}).",
    ]
    if failures:
        lines += ["", f"Warning: {failures} requests did not get 200."]
    return "\n".join(lines)
