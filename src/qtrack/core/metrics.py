"""Prometheus metrics: the one place they are declared.

Two modes:

* One process (the default): one registry per app, so tests and several apps in a process
  never clash. A scrape sees this process.
* Several processes (`QTRACK_METRICS_DIR` set): prometheus-client's multiprocess mode. Every
  process (each `qtrack serve` worker, `qtrack worker`) writes its figures to memory-mapped
  files in that directory and a scrape of any of them sums all of them, so `/metrics` shows the
  whole host whichever worker answers. The mode is process-wide (the library decides how a value
  is stored when a series is first used), so it is switched on once, by `enable_multiprocess`.
"""

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

# Buckets chosen around the targets in DESIGN.md: a scan in a few ms, a page in tens.
# `*_created` series double the exposition for no use to us.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ERROR_WINDOW_S = 3600
_ENV = "PROMETHEUS_MULTIPROC_DIR"
REFRESH_S = 10.0  # how often a process updates its own gauges in multiprocess mode
_multiprocess_dir: Path | None = None
_MAX_SERIES = 4096  # request series whose lookup is kept (method, route, status)


def enable_multiprocess(directory: Path) -> None:
    """Store this process's metrics in `directory`, shared with the host's other processes.

    Idempotent for one directory; the library reads the directory from its own variable."""
    global _multiprocess_dir
    if _multiprocess_dir == directory:
        return
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[_ENV] = str(directory)
    # A fresh value class: it opens its files in this directory from now on.
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _multiprocess_dir = directory


def multiprocess_dir() -> Path | None:
    """The directory this process shares its metrics through, if any."""
    return _multiprocess_dir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _file_pids(directory: Path) -> dict[int, list[Path]]:
    pids: dict[int, list[Path]] = {}
    for path in directory.glob("*.db"):
        with contextlib.suppress(ValueError):
            pids.setdefault(int(path.stem.rsplit("_", 1)[-1]), []).append(path)
    return pids


def forget_dead_processes(directory: Path, *, everything: bool = False) -> int:
    """Drop what processes that are gone left in `directory`: their live gauges (workers,
    pool, recent errors), or with `everything` their counters too (at a server's start, so
    the files do not pile up over restarts; Prometheus reads the drop as a counter reset).
    Returns how many processes were forgotten."""
    forgotten = 0
    for pid, paths in _file_pids(directory).items():
        if pid == os.getpid() or _pid_alive(pid):
            continue
        forgotten += 1
        if everything:
            for path in paths:
                path.unlink(missing_ok=True)
        else:
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return forgotten


class ErrorWindow:
    """Error responses of the last hour by class (4xx, 5xx), in minute buckets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: deque[tuple[int, str, int]] = deque()  # (minute, class, count)

    def add(self, status: int) -> None:
        """Count one error response."""
        minute, kind = int(self._clock() // 60), f"{status // 100}xx"
        if self._buckets and self._buckets[-1][:2] == (minute, kind):
            self._buckets[-1] = (minute, kind, self._buckets[-1][2] + 1)
        else:
            self._buckets.append((minute, kind, 1))

    def counts(self) -> dict[str, int]:
        """Errors by class within the window."""
        oldest = int(self._clock() // 60) - ERROR_WINDOW_S // 60
        while self._buckets and self._buckets[0][0] <= oldest:
            self._buckets.popleft()
        totals = {"4xx": 0, "5xx": 0}
        for _minute, kind, count in self._buckets:
            totals[kind] = totals.get(kind, 0) + count
        return totals


class Metrics:
    """The metrics one app (or worker process) records, and the registry /metrics exposes."""

    def __init__(self, *, kind: str = "web", version: str = "") -> None:
        directory = _multiprocess_dir
        self.multiprocess = directory is not None
        self.registry = CollectorRegistry()
        # In multiprocess mode the series live in files: a collector reads them all back, and
        # the metric objects themselves are left out of the registry (they would repeat this
        # process's own share).
        own: CollectorRegistry | None = self.registry
        if directory is not None:
            multiprocess.MultiProcessCollector(self.registry, path=str(directory))  # type: ignore[no-untyped-call]
            own = None
        self.requests = Counter(
            "qtrack_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "qtrack_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.slow_requests = Counter(
            "qtrack_http_slow_requests",
            "Requests slower than QTRACK_SLOW_REQUEST_MS, by route template",
            ["route"],
            registry=own,
        )
        self.slow_queries = Counter(
            "qtrack_db_slow_queries", "Statements slower than QTRACK_SLOW_QUERY_MS", registry=own
        )
        # With a read replica: which database served each authenticated read-only request.
        self.db_reads = Counter(
            "qtrack_db_read_requests",
            "Authenticated read-only requests, by the database that served them "
            "(replica, or primary: none configured, just failed, or the user has just written)",
            ["database"],
            registry=own,
        )
        # Offline sync: what became of the changes devices pushed (applied, rejected, conflict).
        self.pushed_changes = Counter(
            "qtrack_sync_pushed_changes",
            "Changes devices pushed (POST /api/v1/sync/push), by type and outcome",
            ["type", "outcome"],
            registry=own,
        )
        self.job_runs = Counter(
            "qtrack_job_runs",
            "Job attempts finished, by job and outcome (done, retry, dead)",
            ["job", "outcome"],
            registry=own,
        )
        self.errors_last_hour = Gauge(
            "qtrack_http_errors_last_hour",
            "Error responses in the last hour, by class (4xx, 5xx)",
            ["class"],
            multiprocess_mode="livesum",
            registry=own,
        )
        self.pool = Gauge(
            "qtrack_db_pool_connections",
            "Database pool connections by state (summed over the processes)",
            ["state"],
            multiprocess_mode="livesum",
            registry=own,
        )
        # One series per process (the pid label is added in multiprocess mode): who serves.
        self.process_info = Gauge(
            "qtrack_process_info",
            "A qtrack process alive, with its kind (web, worker) and version",
            ["kind", "version"],
            multiprocess_mode="liveall",
            registry=own,
        )
        self.process_info.labels(kind, version).set(1)
        self.error_window = ErrorWindow()
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._pool_stats: Callable[[], dict[str, int]] | None = None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            # Looking a labelled series up costs a lock and a few dicts; every request of a
            # route with one answer would do it again (routes are templates: few keys).
            series = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            if len(self._series) < _MAX_SERIES:
                self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)
        if status >= 400:
            self.error_window.add(status)

    def watch_pool(self, stats: Callable[[], dict[str, int]]) -> None:
        """Expose the database pool's state."""
        self._pool_stats = stats
        self.refresh()

    def refresh(self) -> None:
        """Bring the gauges that describe this process up to date (before a scrape, and every
        few seconds in multiprocess mode, where another process may answer the scrape)."""
        if self._pool_stats is not None:
            for state, value in self._pool_stats().items():
                self.pool.labels(state).set(value)
        for kind, count in self.error_window.counts().items():
            self.errors_last_hour.labels(kind).set(count)

    def register(self, collector: Collector) -> None:
        """Add a collector read at scrape time (figures of the whole site, such as the
        database's size or the job queue: the same whichever process answers)."""
        self.registry.register(collector)

    def samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Every sample the registry exposes, by sample name: what the admin page reads."""
        found: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return found


def start_refreshing(metrics: Metrics) -> "asyncio.Task[None] | None":
    """In multiprocess mode, keep this process's gauges fresh for scrapes another process
    answers (a task to cancel at shutdown); in one process a scrape refreshes them itself."""
    if not metrics.multiprocess:
        return None

    async def tick() -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            metrics.refresh()

    return asyncio.create_task(tick(), name="qtrack-metrics-refresh")
