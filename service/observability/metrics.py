"""Request metrics in the Prometheus text format (``GET /metrics``), kept by prometheus-client.

Every label value comes from the config or the code, never from the request: the
route template (never the raw path), a configured shop, a token kind, an error
code of the service. A value outside those sets is counted as ``unknown`` or
``other``, so the number of series stays fixed whatever callers send.

One process keeps its values in memory. With several worker processes
(``WEB_CONCURRENCY`` > 1) each answers ``/metrics`` in turn, so every worker
writes its values to files that any of them can read: prometheus-client's
multiprocess mode, in ``PROMETHEUS_MULTIPROC_DIR`` (prepared by
:mod:`service.observability.multiprocess` before this module is imported, since prometheus-client
chooses where values live when it is imported). A scrape then adds up every
worker's counts, a dead worker's included (a counter never goes back), and
the gauges of the live ones.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from service import __version__
from service.errors import ServiceError

#: Where the workers' values live, when there are several (see service.observability.multiprocess).
SHARED_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

# A `_created` series per counter and histogram doubles the output and means
# nothing across workers; prometheus-client leaves them out in multiprocess mode.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: RFC 9110 §9 methods and PATCH (RFC 5789); any other is counted as ``OTHER``, so a
#: client cannot add label values (series) by inventing methods.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

#: Upper bounds (seconds) of the request duration histogram.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

#: Seconds between two updates of a worker's gauges when workers share metrics.
REFRESH = 5.0

#: The ``token_use`` words: the ``kind`` of an issued token.
KINDS = frozenset({"customer", "client_credentials", "implicit"})
#: How a customer proved who they are: a signed id, a timestamped one, Shopify's App Proxy.
#: Client tokens carry no proof label value (their client authenticated, or is public).
PROOFS = frozenset({"signature", "timestamp", "app_proxy", ""})
#: The label value for a shop that is not configured, and for a value outside its set.
UNKNOWN, OTHER = "unknown", "other"
#: Error codes the request log sets outside any ServiceError.
LOG_ERRORS = frozenset({"client_closed_request", "server_error"})


def error_codes() -> frozenset[str]:
    """Every ``error`` code of a :class:`ServiceError` subclass loaded so far."""
    codes = set(LOG_ERRORS)
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        kind = pending.pop()
        codes.add(kind.error)
        pending.extend(kind.__subclasses__())
    return frozenset(codes)


class Metrics:
    """The service's metrics, in a registry of their own (tests build one per app)."""

    def __init__(self, shops: Collection[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.shared_dir = SHARED_DIR
        #: The configured shops: the only values of a ``shop`` label (else ``unknown``).
        self.shops = frozenset(shops)
        self._issued = Counter(
            "shapestoken_tokens_issued",
            "Tokens minted, by kind (token_use), configured shop and customer proof.",
            ["kind", "shop", "proof"],
            registry=self.registry,
        )
        self._refusals = Counter(
            "shapestoken_refusals",
            "Requests answered with an error, by error code.",
            ["error"],
            registry=self.registry,
        )
        self._issued_children: dict[tuple[str, str, str], Counter] = {}
        self._refusal_children: dict[str, Counter] = {}
        self._codes = error_codes()
        self._requests = Counter(
            "shapestoken_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._durations = Histogram(
            "shapestoken_request_duration_seconds",
            "Time to answer a request.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        Gauge(
            "shapestoken_info",
            "The running version.",
            ["version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        ).labels(__version__).set(1)
        # One pair of children per (method, route, status): a lookup per request,
        # instead of prometheus-client's label handling (half its cost).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._families: dict[str, Gauge] = {}
        self._gauges: list[tuple[Gauge, Callable[[], float]]] = []

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        key = (method if method in METHODS else "OTHER", route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(key[0], route, str(status)),
                self._durations.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def issued(self, kind: str, shop: str = "", proof: str = "") -> None:
        """Count one minted token; ``shop`` is "" for a client's token."""
        key = (
            kind if kind in KINDS else OTHER,
            shop if not shop or shop in self.shops else UNKNOWN,
            proof if proof in PROOFS else OTHER,
        )
        child = self._issued_children.get(key)
        if child is None:
            child = self._issued_children[key] = self._issued.labels(*key)
        child.inc()

    def refused(self, error: str) -> None:
        """Count one request answered with ``error``; a code the service lacks is ``other``."""
        child = self._refusal_children.get(error)
        if child is None:
            if error not in self._codes:
                self._codes = error_codes()  # a module loaded since may define it
            label = error if error in self._codes else OTHER
            child = self._refusals.labels(label)
            if label == error:  # made-up values are never kept as keys
                self._refusal_children[error] = child
        child.inc()

    def gauge(
        self,
        name: str,
        help_text: str,
        labels: dict[str, str],
        read: Callable[[], float],
        *,
        across_workers: Literal["livesum", "livemax"] = "livesum",
    ) -> None:
        """Report ``read()`` at every scrape.

        ``across_workers`` says how workers' values combine (a prometheus-client
        multiprocess mode): ``livesum`` adds up each live worker's, ``livemax``
        takes the largest (for a value every worker has alike).
        """
        gauge = self._families.get(name)
        if gauge is None:  # several label values of one gauge share its family
            gauge = self._families[name] = Gauge(
                name,
                help_text,
                tuple(labels),
                registry=self.registry,
                multiprocess_mode=across_workers,
            )
        self._gauges.append((gauge.labels(*labels.values()) if labels else gauge, read))

    def register(self, *collectors: Collector) -> None:
        """Report ``collectors`` (prometheus-client metrics) with the service's own."""
        for collector in collectors:
            self.registry.register(collector)

    def refresh(self) -> None:
        """Read every gauge now (before a scrape, and now and then in each worker)."""
        for gauge, read in self._gauges:
            gauge.set(read())

    async def refresh_forever(self, every: float = REFRESH) -> None:
        """Keep this worker's gauges current for the scrapes other workers answer."""
        while True:
            self.refresh()
            await asyncio.sleep(every)

    def render(self) -> str:
        """Every metric in the Prometheus text format (0.0.4); all workers' when shared."""
        self.refresh()
        if self.shared_dir is None:
            return exposition(self.registry)
        forget_dead_workers(self.shared_dir)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        return exposition(registry)


def text(*collectors: Collector) -> str:
    """``collectors`` alone in the Prometheus text format (for a look at a few metrics)."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return exposition(registry)


def exposition(registry: CollectorRegistry) -> str:
    """The Prometheus text format (0.0.4), labels in their declared order and ``le`` last.

    prometheus-client's own writer sorts label names (``le`` first) and writes
    every count as a float; this keeps the lines the service has always written.
    """
    lines: list[str] = []
    for family in registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        lines.append(f"# HELP {name} {family.documentation}")
        lines.append(f"# TYPE {name} {family.type}")
        for sample in family.samples:
            lines.append(f"{sample.name}{_labels(sample.labels)} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    ordered = sorted(labels.items(), key=lambda item: item[0] == "le")  # stable: le last
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in ordered)
    return f"{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isfinite(value) and value.is_integer():
        return str(int(value))
    # Prometheus' spellings of the infinities and NaN.
    return {math.inf: "+Inf", -math.inf: "-Inf"}.get(
        value, repr(value) if value == value else "NaN"
    )


def forget_dead_workers(directory: str) -> None:
    """Drop the live gauges of workers that are gone; their counts stay in the sums."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process now: our workers run as we do
    return True
