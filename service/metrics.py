"""Request metrics in the Prometheus text format (``GET /metrics``).

Labels are the route template, never the raw path or a shop, so the number of
series stays fixed whatever callers send.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable

from service import __version__

#: Upper bounds (seconds) of the request duration histogram.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

Gauge = tuple[str, str, dict[str, str], Callable[[], float]]


class Metrics:
    def __init__(self, gauges: Iterable[Gauge] = ()) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._gauges = list(gauges)

    def gauge(
        self, name: str, help_text: str, labels: dict[str, str], read: Callable[[], float]
    ) -> None:
        """Report ``read()`` at every scrape."""
        self._gauges.append((name, help_text, labels, read))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[method, route, status] += 1
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
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels.items()
    )
    return f"{{{inner}}}" if inner else ""
