"""Prometheus metrics: one registry per app, so tests and several apps in a process never clash."""

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Buckets chosen around the targets in DESIGN.md: a scan in a few ms, a page in tens.
# `*_created` series double the exposition for no use to us.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PoolCollector(Collector):
    """Reads the database pool's use at scrape time instead of tracking it on every checkout."""

    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "qtrack_db_pool_connections", "Database pool connections by state", labels=["state"]
        )
        for state, value in self._stats().items():
            gauge.add_metric([state], value)
        yield gauge


class Metrics:
    """The metrics one app exposes at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qtrack_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qtrack_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def watch_pool(self, stats: Callable[[], dict[str, int]]) -> None:
        """Expose the database pool's state."""
        self.registry.register(PoolCollector(stats))
