"""`qtrack worker`: run background jobs, schedules and feed consumers in this process."""

import asyncio
import signal
from typing import Annotated

import structlog
import typer

from qtrack import __version__, handlers
from qtrack.config import Settings, get_settings
from qtrack.core.db import Database
from qtrack.core.logging import configure_logging
from qtrack.core.metrics import Metrics, enable_multiprocess, start_refreshing
from qtrack.core.ratelimit import create_rate_limiter
from qtrack.core.redis import create_redis
from qtrack.core.state import AppState
from qtrack.jobs.runner import Runner

log = structlog.get_logger("qtrack.worker")


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Jobs run at the same time (QTRACK_JOBS_CONCURRENCY)."),
    ] = None,
) -> None:
    """Run jobs until stopped (SIGTERM or Ctrl-C finish the running ones first).

    Start as many as the work needs, on any machine that reaches the database: they never
    run one job twice at once, and a job whose worker died runs again once its lease ends.
    """
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_work(settings, concurrency or settings.jobs_concurrency))


async def _work(settings: Settings, concurrency: int) -> None:
    db = Database(settings)
    redis = create_redis(settings)
    ticker = None
    metrics = None
    if settings.metrics_enabled and settings.metrics_dir is not None:
        # The web workers' /metrics and /admin/system then count this process too.
        enable_multiprocess(settings.metrics_dir)
        metrics = Metrics(kind="worker", version=__version__)
        metrics.watch_pool(db.pool_stats)
        db.slow_query_listeners.append(metrics.slow_queries.inc)
        ticker = start_refreshing(metrics)
    state = AppState(
        settings=settings, db=db, redis=redis, metrics=metrics, limiter=create_rate_limiter(redis)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = Runner(state, kind="worker", concurrency=concurrency)
    try:
        await runner.start()
        log.info(
            "worker_started", runner=runner.id, concurrency=concurrency,
            jobs=[spec.name for spec in handlers.registered_jobs()],
        )  # fmt: skip
        await stop.wait()
        log.info("worker_stopping", runner=runner.id, running=runner.busy)
        await runner.stop()
    finally:
        if ticker is not None:
            ticker.cancel()
        if redis is not None:
            await redis.aclose()
        await db.dispose()
    log.info("worker_stopped", runner=runner.id)
