"""Memory: mint for many distinct customers in-process and watch RSS.

The app is the real one (``create_app`` on a real config), driven through raw
ASGI calls, so every request runs the whole mint path including both rate
limiters. Each request also comes from a different client address, so the
per-IP limiter fills up as well. The limiters' caches are cachetools
``TTLCache`` objects bounded by ``rate_limits.max_entries``: RSS should grow
until they are full and then stay flat, however many customers follow.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import workspace
from bench.asgi import Driver, body_batches, service_app
from bench.servers import rss_of
from bench.workspace import FIRST_CUSTOMER
from service.state import State
from service.web.app import settle_heap

WARMUP = 2_000
MiB = 1024 * 1024


@dataclass(frozen=True)
class Checkpoint:
    customers: int
    rss: int
    per_customer: int
    per_ip: int
    seconds: float


def client_address(n: int) -> str:
    """A distinct IPv4 address per request (16.7 million before any repeat)."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class GCPauses:
    """Records how long each automatic full (generation 2) collection takes."""

    def __init__(self) -> None:
        self.recording = True
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.recording or info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)


PAUSES = GCPauses()


def rss() -> int:
    PAUSES.recording = False  # this collection is ours, not the collector's
    gc.collect()
    PAUSES.recording = True
    return rss_of(os.getpid()) or 0


def checkpoints_for(customers: int, steps: int = 10) -> list[int]:
    marks = {customers * i // steps for i in range(1, steps + 1)}
    return sorted(mark for mark in marks if mark > 0)


async def _mint(
    driver: Driver, space: workspace.Workspace, customers: int, state: State
) -> tuple[int, list[Checkpoint]]:
    marks = checkpoints_for(customers)
    points: list[Checkpoint] = []
    failures = 0
    done = 0
    start = time.perf_counter()
    first = FIRST_CUSTOMER + WARMUP
    for batch in body_batches(space, first, customers):
        for body in batch:
            status = await driver.post(body, client_address(done))
            failures += status != 200
            done += 1
            if marks and done == marks[0]:
                marks.pop(0)
                tracked = state.tracked_keys()
                point = Checkpoint(
                    done,
                    rss(),
                    tracked["per_customer"],
                    tracked["per_ip"],
                    time.perf_counter() - start,
                )
                points.append(point)
                print(
                    f"  {done:,} customers: RSS {point.rss / MiB:.1f} MiB, {point.seconds:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return failures, points


async def _warm_up(driver: Driver, space: workspace.Workspace) -> None:
    for batch in body_batches(space, FIRST_CUSTOMER, WARMUP):
        for index, body in enumerate(batch):
            await driver.post(body, f"192.168.{index >> 8}.{index & 255}")


def run(customers: int, *, max_entries: int = 100_000, freeze: bool = True) -> str:
    with tempfile.TemporaryDirectory(prefix="shapestoken-bench-") as tmp:
        space = workspace.create(Path(tmp), rates=workspace.DEFAULT_RATES, max_entries=max_entries)
        app = service_app(space)
        services = app.state.services  # type: ignore[attr-defined]
        driver = Driver(app)
        asyncio.run(_warm_up(driver, space))
        if freeze:
            settle_heap()  # as service.asgi and `shapestoken serve` do
        before = rss()
        gc.callbacks.append(PAUSES)
        try:
            failures, points = asyncio.run(_mint(driver, space, customers, services.state))
        finally:
            gc.callbacks.remove(PAUSES)
    lines = [
        f"In-process (create_app + raw ASGI calls), rate_limits.max_entries = {max_entries:,}; "
        f"RSS before = after building the app and {WARMUP:,} warm-up mints.",
        "",
        "| customers minted | RSS MiB | growth MiB | per-customer entries | per-IP entries | s |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| 0 (before) | {before / MiB:.1f} | 0.0 | - | - | 0 |",
    ]
    for point in points:
        lines.append(
            f"| {point.customers:,} | {point.rss / MiB:.1f} | {(point.rss - before) / MiB:.1f} "
            f"| {point.per_customer:,} | {point.per_ip:,} | {point.seconds:.0f} |"
        )
    longest = max(PAUSES.pauses, default=0.0) * 1000
    lines += [
        "",
        f"Garbage collector: {len(PAUSES.pauses)} automatic full collections, longest "
        f"{longest:.1f} ms (start-up objects {'frozen' if freeze else 'not frozen'}).",
    ]
    if failures:
        lines += ["", f"Warning: {failures} requests did not get 200."]
    return "\n".join(lines)
