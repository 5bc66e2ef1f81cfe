"""Round results, their medians, and the markdown tables the harness prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import LoadResult

SERVICE, BASELINE = "service", "baseline"


@dataclass(frozen=True)
class Round:
    target: str
    workers: int
    index: int
    load: LoadResult
    #: CPU seconds the server process tree used during the round.
    server_cpu_seconds: float | None = None

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.load.requests:
            return None
        return self.server_cpu_seconds / self.load.requests * 1e6


@dataclass(frozen=True)
class Summary:
    workers: int
    service_rps: float
    baseline_rps: float
    #: Median over rounds of service/baseline, each pair run back to back.
    ratio: float
    service_p50_ms: float
    service_p99_ms: float
    baseline_p50_ms: float
    baseline_p99_ms: float
    service_non_2xx: int
    baseline_non_2xx: int
    socket_errors: int
    service_cpu_us: float | None
    baseline_cpu_us: float | None
    wraps: int


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def summarize(rounds: Sequence[Round]) -> list[Summary]:
    """One summary per worker count, from alternating service/baseline rounds."""
    summaries = []
    for workers in sorted({r.workers for r in rounds}):
        service = [r for r in rounds if r.workers == workers and r.target == SERVICE]
        baseline = [r for r in rounds if r.workers == workers and r.target == BASELINE]
        pairs = [
            (s.load.rps / b.load.rps)
            for s, b in zip(service, baseline, strict=False)
            if b.load.rps > 0
        ]
        both = [*service, *baseline]
        summaries.append(
            Summary(
                workers=workers,
                service_rps=_median([r.load.rps for r in service]),
                baseline_rps=_median([r.load.rps for r in baseline]),
                ratio=_median(pairs),
                service_p50_ms=_median([r.load.p50_ms for r in service]),
                service_p99_ms=_median([r.load.p99_ms for r in service]),
                baseline_p50_ms=_median([r.load.p50_ms for r in baseline]),
                baseline_p99_ms=_median([r.load.p99_ms for r in baseline]),
                service_non_2xx=sum(r.load.non_2xx for r in service),
                baseline_non_2xx=sum(r.load.non_2xx for r in baseline),
                socket_errors=sum(r.load.socket_errors for r in both),
                service_cpu_us=_median_or_none([r.cpu_us_per_request for r in service]),
                baseline_cpu_us=_median_or_none([r.cpu_us_per_request for r in baseline]),
                wraps=sum(r.load.wraps for r in both),
            )
        )
    return summaries


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))
            + " |"
        )

    rule = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    return [line(header), rule, *(line(row) for row in rows)]


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def summary_table(summaries: Sequence[Summary]) -> str:
    header = [
        "workers",
        "service req/s",
        "baseline req/s",
        "ratio",
        "service p50 ms",
        "service p99 ms",
        "baseline p50 ms",
        "baseline p99 ms",
        "non-2xx (svc/base)",
        "server CPU µs/req (svc/base)",
    ]
    rows = [
        [
            str(s.workers),
            f"{s.service_rps:,.0f}",
            f"{s.baseline_rps:,.0f}",
            f"{s.ratio:.2f}",
            f"{s.service_p50_ms:.2f}",
            f"{s.service_p99_ms:.2f}",
            f"{s.baseline_p50_ms:.2f}",
            f"{s.baseline_p99_ms:.2f}",
            f"{s.service_non_2xx}/{s.baseline_non_2xx}",
            f"{_us(s.service_cpu_us)}/{_us(s.baseline_cpu_us)}",
        ]
        for s in summaries
    ]
    return "\n".join(_table(header, rows))


def rounds_table(rounds: Sequence[Round]) -> str:
    header = [
        "workers",
        "round",
        "target",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "socket errors",
        "server CPU µs/req",
        "load gen CPU %",
    ]
    rows = [
        [
            str(r.workers),
            str(r.index + 1),
            r.target,
            f"{r.load.requests:,}",
            f"{r.load.rps:,.0f}",
            f"{r.load.p50_ms:.2f}",
            f"{r.load.p99_ms:.2f}",
            str(r.load.non_2xx),
            str(r.load.socket_errors),
            _us(r.cpu_us_per_request),
            f"{r.load.loadgen_cpu_seconds / r.load.seconds * 100:.0f}" if r.load.seconds else "-",
        ]
        for r in rounds
    ]
    return "\n".join(_table(header, rows))


def scaling_line(summaries: Sequence[Summary]) -> str | None:
    """Throughput of the highest worker count relative to one worker, for both apps."""
    by_workers = {s.workers: s for s in summaries}
    if 1 not in by_workers or len(by_workers) < 2:
        return None
    top = by_workers[max(by_workers)]
    one = by_workers[1]
    if not one.service_rps or not one.baseline_rps:
        return None
    return (
        f"Scaling 1 -> {top.workers} workers: service x{top.service_rps / one.service_rps:.2f}, "
        f"baseline x{top.baseline_rps / one.baseline_rps:.2f}."
    )


#: The issue's targets, at one worker: ratio to the baseline, p99, non-2xx.
TARGET_RATIO = 0.6
TARGET_P99_MS = 20.0


def targets_line(summaries: Sequence[Summary]) -> str | None:
    one = next((s for s in summaries if s.workers == 1), None)
    if one is None:
        return None

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return (
        f"Targets at 1 worker: ratio >= {TARGET_RATIO}: {one.ratio:.2f}, "
        f"{mark(one.ratio >= TARGET_RATIO)}; service p99 <= {TARGET_P99_MS:g} ms: "
        f"{one.service_p99_ms:.1f} ms, {mark(one.service_p99_ms <= TARGET_P99_MS)}; "
        f"zero non-2xx: {one.service_non_2xx}, {mark(one.service_non_2xx == 0)}."
    )
