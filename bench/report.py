"""The rounds' medians, the same-run ratios, the targets, as markdown a README can take."""

from __future__ import annotations

import math
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


def _shown(value: float | None, digits: int, target: float, at_least: bool) -> str:
    """``value`` with ``digits`` decimals, rounded toward failing where plain rounding
    would carry it across ``target``: the figure and its verdict must agree (a ratio of
    0.797 against >= 0.8 shows as 0.79, not 0.80)."""
    if value is None:
        return "-"
    rounded = round(value, digits)
    if (rounded >= target) != (value >= target) or (rounded <= target) != (value <= target):
        scaled = value * 10**digits
        rounded = (math.floor(scaled) if at_least else math.ceil(scaled)) / 10**digits
    return f"{rounded:.{digits}f}"


def targets_table(rounds: Sequence[Round]) -> str:
    """The same-run ratios and the service's p99 per worker count; the verdict at 1 worker."""
    counts = sorted({r.workers for r in rounds})

    def per_workers(measure: Callable[[int], float | None]) -> dict[int, float | None]:
        return {w: measure(w) for w in counts}

    # (what, its value per worker count, target, at least (else at most), digits shown)
    rows: list[tuple[str, dict[int, float | None], float, bool, int]] = [
        (
            "service / bare Starlette, req/s",
            per_workers(lambda w: ratio(rounds, w, "service", "baseline")),
            MIN_VS_BASELINE,
            True,
            2,
        ),
        (
            "service / naive peer, req/s",
            per_workers(lambda w: ratio(rounds, w, "service", "naive")),
            MIN_VS_NAIVE,
            True,
            2,
        ),
        (
            "service on Redis / in memory, req/s",
            per_workers(lambda w: ratio(rounds, w, "redis", "service")),
            MIN_REDIS_VS_MEMORY,
            True,
            2,
        ),
        (
            "service p99, ms",
            per_workers(lambda w: _median([r.load.p99_ms for r in _of(rounds, "service", w)])),
            MAX_P99_MS,
            False,
            1,
        ),
        (
            "non-2xx + socket errors, every app",
            per_workers(
                lambda w: sum(
                    r.load.non_2xx + r.load.socket_errors for r in rounds if r.workers == w
                )
            ),
            0,
            False,
            0,
        ),
    ]
    header = " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in counts)
    lines = [f"| same run | {header} | target | at 1 worker |", "|---|" + "--:|" * len(counts)]
    lines[1] += "--:|---|"
    for name, values, target, at_least, digits in rows:
        one = values.get(1)
        if one is None:
            verdict = "not measured"
        else:
            verdict = "met" if (one >= target if at_least else one <= target) else "**NOT met**"
        cells = " | ".join(_shown(values[w], digits, target, at_least) for w in counts)
        bound = f"{'>=' if at_least else '<='} {target:g}" if target else "0"
        lines.append(f"| {name} | {cells} | {bound} | {verdict} |")
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
