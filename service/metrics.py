"""Request metrics in the Prometheus text format (``GET /metrics``).

Labels are the route template, never the raw path or a shop, so the number of
series stays fixed whatever callers send.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from service import __version__

#: RFC 9110 §9 methods and PATCH (RFC 5789); any other is counted as ``OTHER``, so a
#: client cannot add label values (series) by inventing methods.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

#: Upper bounds (seconds) of the request duration histogram.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

Gauge = tuple[str, str, dict[str, str], Callable[[], float]]


class Series(Protocol):
    """A metric that renders its own lines (HELP, TYPE and samples)."""

    def render(self) -> list[str]: ...


class Metrics:
    def __init__(self, gauges: Iterable[Gauge] = ()) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._gauges = list(gauges)
        self._series: list[Series] = []

    def register(self, *series: Series) -> None:
        """Render ``series`` at every scrape, after the request metrics."""
        self._series.extend(series)

    def gauge(
        self, name: str, help_text: str, labels: dict[str, str], read: Callable[[], float]
    ) -> None:
        """Report ``read()`` at every scrape."""
        self._gauges.append((name, help_text, labels, read))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[method if method in METHODS else "OTHER", route, status] += 1
        buckets = self._buckets.get(route)
        if buckets is None:
            buckets = self._buckets[route] = [0] * (len(BUCKETS) + 1)
        buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[route] = self._sums.get(route, 0.0) + seconds

    def render(self) -> str:
        lines = [
            "# HELP shapestoken_info The running version.",
            "# TYPE shapestoken_info gauge",
            f'shapestoken_info{{version="{__version__}"}} 1',
            "# HELP shapestoken_requests_total HTTP requests answered.",
            "# TYPE shapestoken_requests_total counter",
        ]
        for (method, route, status), count in sorted(self.requests.items()):
            labels = _labels(method=method, route=route, status=str(status))
            lines.append(f"shapestoken_requests_total{labels} {count}")
        lines += [
            "# HELP shapestoken_request_duration_seconds Time to answer a request.",
            "# TYPE shapestoken_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self._buckets.items()):
            total = 0
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                total += count
                labels = _labels(route=route, le=bound)
                lines.append(f"shapestoken_request_duration_seconds_bucket{labels} {total}")
            lines.append(
                f"shapestoken_request_duration_seconds_sum{_labels(route=route)} "
                f"{self._sums[route]:.6f}"
            )
            lines.append(
                f"shapestoken_request_duration_seconds_count{_labels(route=route)} {total}"
            )
        described: set[str] = set()
        for name, help_text, gauge_labels, read in self._gauges:
            if name not in described:  # HELP and TYPE once per metric name
                described.add(name)
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines.append(f"{name}{_labels(**gauge_labels)} {read():g}")
        for series in self._series:
            lines += series.render()
        return "\n".join(lines) + "\n"


class LabelledCounter:
    """A counter with one label, e.g. errors by operation."""

    def __init__(self, name: str, help_text: str, label: str) -> None:
        self.name, self.help_text, self.label = name, help_text, label
        self.counts: Counter[str] = Counter()

    def inc(self, value: str) -> None:
        self.counts[value] += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} counter"]
        for value, count in sorted(self.counts.items()):
            lines.append(f"{self.name}{_labels(**{self.label: value})} {count}")
        return lines


class Histogram:
    """A histogram of durations with one label, e.g. time in the state backend by operation."""

    def __init__(
        self, name: str, help_text: str, label: str, buckets: tuple[float, ...] = BUCKETS
    ) -> None:
        self.name, self.help_text, self.label, self.buckets = name, help_text, label, buckets
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, value: str, seconds: float) -> None:
        counts = self._counts.get(value)
        if counts is None:
            counts = self._counts[value] = [0] * (len(self.buckets) + 1)
        counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self._sums[value] = self._sums.get(value, 0.0) + seconds

    def render(self) -> list[str]:
        name = self.name
        lines = [f"# HELP {name} {self.help_text}", f"# TYPE {name} histogram"]
        for value, counts in sorted(self._counts.items()):
            total = 0
            for bound, count in zip([*map(str, self.buckets), "+Inf"], counts, strict=True):
                total += count
                lines.append(f"{name}_bucket{_labels(**{self.label: value, 'le': bound})} {total}")
            labels = _labels(**{self.label: value})
            lines.append(f"{name}_sum{labels} {self._sums[value]:.6f}")
            lines.append(f"{name}_count{labels} {total}")
        return lines


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels.items()
    )
    return f"{{{inner}}}" if inner else ""
