"""What the jobs machinery shows /readyz and /metrics, and the in-process runner's start."""

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qtrack.core.state import AppState
from qtrack.jobs import service
from qtrack.jobs.runner import Runner
from qtrack.jobs.service import QueueStats


class _Latest:
    """The queue figures of the last look, for a collector that cannot query (it is sync)."""

    stats = QueueStats()


class JobsCollector(Collector):
    """Queue depth, oldest due job, failures and runners, as of the last refresh. (Attempts
    by outcome are counted by each runner as they finish: `qtrack_job_runs`.)"""

    def __init__(self, latest: _Latest) -> None:
        self._latest = latest

    def collect(self) -> Iterable[Metric]:
        stats = self._latest.stats
        jobs = GaugeMetricFamily("qtrack_jobs", "Jobs by state", labels=["state"])
        for state in ("ready", "delayed", "running", "retrying", "dead"):
            jobs.add_metric([state], getattr(stats, state))
        yield jobs
        yield GaugeMetricFamily(
            "qtrack_jobs_oldest_ready_seconds",
            "How long the longest-waiting due job has waited",
            value=stats.oldest_ready_s,
        )
        yield GaugeMetricFamily(
            "qtrack_job_runners", "Processes alive that run jobs", value=stats.runners
        )


def install(state: AppState) -> None:
    """Add the jobs' figures to this app's /readyz and /metrics."""
    latest = _Latest()

    async def refresh() -> None:
        async with state.db.session_scope("read") as session:
            latest.stats = await service.stats(session)

    async def readiness() -> dict[str, Any]:
        await refresh()
        return readiness_entries(latest.stats, state.settings.jobs_stale_after_s)

    state.readiness_checks["jobs"] = readiness
    if state.metrics is not None:
        state.metrics.registry.register(JobsCollector(latest))
        state.before_scrape.append(refresh)


def readiness_entries(stats: QueueStats, stale_after_s: float) -> dict[str, Any]:
    """/readyz's `jobs` verdict and `job_queue` figures."""
    if stats.runners == 0:
        verdict = "degraded: no job runner alive (start `qtrack worker`, or QTRACK_JOBS_IN_PROCESS)"
    elif stats.oldest_ready_s > stale_after_s:
        verdict = f"degraded: the oldest due job has waited {stats.oldest_ready_s:.0f} s"
    else:
        verdict = "ok"
    return {
        "jobs": verdict,
        "job_queue": {
            "ready": stats.ready,
            "delayed": stats.delayed,
            "running": stats.running,
            "retrying": stats.retrying,
            "dead": stats.dead,
            "oldest_ready_s": round(stats.oldest_ready_s, 1),
            "runners": stats.runners,
            "workers": stats.workers,
        },
    }


async def start_in_process(state: AppState) -> Runner | None:
    """The runner `qtrack serve` keeps in its own process, unless QTRACK_JOBS_IN_PROCESS is
    off; in `auto` it stands aside while a `qtrack worker` is alive."""
    if state.settings.jobs_in_process == "off":
        return None
    runner = Runner(state, kind="in-process", concurrency=state.settings.jobs_concurrency)
    await runner.start()
    return runner
