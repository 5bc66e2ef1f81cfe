"""The rounds' medians, the same-run ratios, the targets, as markdown a README can take."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from bench.wrk import LoadResult

LABELS = {
    "service": "service, `state = memory`",
    "redis": "service, `state = redis`",
    "naive": "naive peer (`bench/naive.py`)",
    "baseline": "bare Starlette (`bench/baseline.py`)",
    "granian": "service under the Procfile (Granian)",
}
#: The issue's targets, at one worker.
MIN_VS_BASELINE = 0.45
MIN_VS_NAIVE = 1.6
MIN_REDIS_VS_MEMORY = 0.8
MAX_P99_MS = 10.0


@dataclass(frozen=True)
class Round:
    app: str
    workers: int
    index: int
    load: LoadResult
    #: CPU µs per request of the app's process tree during the round.
    cpu_us: float
    #: CPU µs per request of redis-server itself (the Redis rounds only).
    redis_cpu_us: float | None = None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _of(rounds: Sequence[Round], app: str, workers: int) -> list[Round]:
    return [r for r in rounds if r.app == app and r.workers == workers]


def ratio(rounds: Sequence[Round], workers: int, top: str, bottom: str) -> float | None:
    """Median over rounds of ``top`` req/s / ``bottom`` req/s, each pair from one round."""
    below = {r.index: r.load.rps for r in _of(rounds, bottom, workers)}
    return _median(
        [r.load.rps / below[r.index] for r in _of(rounds, top, workers) if below.get(r.index)]
    )


def _cell(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def apps_table(rounds: Sequence[Round]) -> str:
    """One row per app and worker count: medians over its rounds, totals of failures."""
    lines = [
        "| app | workers | req/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU µs/req |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    medians = [attrgetter(name) for name in ("load.rps", "load.p50_ms", "load.p99_ms", "cpu_us")]
    for workers in sorted({r.workers for r in rounds}):
        for app, label in LABELS.items():
            mine = _of(rounds, app, workers)
            if not mine:
                continue
            rps, p50, p99, cpu = (_median([get(r) for r in mine]) for get in medians)
            lines.append(
                f"| {label} | {workers} | {_cell(rps, ',.0f')} | {_cell(p50, '.1f')} "
                f"| {_cell(p99, '.1f')} | {sum(r.load.non_2xx for r in mine)} "
                f"| {sum(r.load.socket_errors for r in mine)} | {_cell(cpu, '.0f')} |"
            )
    return "\n".join(lines)


def targets_table(rounds: Sequence[Round]) -> str:
    """The same-run ratios and the service's p99 per worker count; the verdict at 1 worker."""
    counts = sorted({r.workers for r in rounds})
    p99 = {w: _median([r.load.p99_ms for r in _of(rounds, "service", w)]) for w in counts}
    failed = {
        w: sum(r.load.non_2xx + r.load.socket_errors for r in rounds if r.workers == w)
        for w in counts
    }
    rows: list[tuple[str, dict[int, float | None], str, str, Callable[[float], bool]]] = [
        (
            "service / bare Starlette, req/s",
            {w: ratio(rounds, w, "service", "baseline") for w in counts},
            ".2f",
            f">= {MIN_VS_BASELINE}",
            lambda value: value >= MIN_VS_BASELINE,
        ),
        (
            "service / naive peer, req/s",
            {w: ratio(rounds, w, "service", "naive") for w in counts},
            ".2f",
            f">= {MIN_VS_NAIVE}",
            lambda value: value >= MIN_VS_NAIVE,
        ),
        (
            "service on Redis / in memory, req/s",
            {w: ratio(rounds, w, "redis", "service") for w in counts},
            ".2f",
            f">= {MIN_REDIS_VS_MEMORY}",
            lambda value: value >= MIN_REDIS_VS_MEMORY,
        ),
        (
            "service p99, ms",
            p99,
            ".1f",
            f"<= {MAX_P99_MS:g}",
            lambda value: value <= MAX_P99_MS,
        ),
        (
            "non-2xx + socket errors, every app",
            {w: float(n) for w, n in failed.items()},
            ".0f",
            "0",
            lambda value: value == 0,
        ),
    ]
    header = " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in counts)
    lines = [f"| same run | {header} | target | at 1 worker |", "|---|" + "--:|" * len(counts)]
    lines[1] += "--:|---|"
    for name, values, form, target, holds in rows:
        one = values.get(1)
        verdict = "not measured" if one is None else "met" if holds(one) else "**NOT met**"
        cells = " | ".join(_cell(values[w], form) for w in counts)
        lines.append(f"| {name} | {cells} | {target} | {verdict} |")
    return "\n".join(lines)


def notes(rounds: Sequence[Round]) -> list[str]:
    """What the tables leave out: Redis' own CPU, and any customer sent twice."""
    lines = []
    redis = _median([r.redis_cpu_us for r in rounds if r.redis_cpu_us is not None])
    if redis is not None:
        lines.append(
            f"redis-server's own CPU: {redis:.0f} µs per request (not in the service's row)."
        )
    wraps = sum(r.load.wraps for r in rounds)
    if wraps:
        lines.append(f"Warning: wrk threads ran out of fresh customers {wraps} times.")
    return lines


def markdown(rounds: Sequence[Round], preamble: str) -> str:
    """The whole report: how it was measured, the apps, the ratios and targets, notes."""
    parts = [preamble, apps_table(rounds), targets_table(rounds), *notes(rounds)]
    return "\n\n".join(parts)
