"""The jobs machinery's own job: forget finished jobs after a while."""

from typing import Any

import structlog

from qtrack.jobs import service
from qtrack.jobs.registry import JobContext, job, schedule

log = structlog.get_logger("qtrack.jobs")


@job("jobs.prune", max_attempts=3, timeout=300)
async def prune(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Delete jobs finished more than QTRACK_JOBS_KEEP_DONE_DAYS ago (dead ones stay)."""
    async with ctx.session() as session:
        deleted = await service.prune(session, keep_days=ctx.settings.jobs_keep_done_days)
    log.info("jobs_pruned", deleted=deleted)


schedule("jobs.prune", cron="30 3 * * *")
