"""The audit domain's background work: a signed checkpoint over every chain head each hour."""

from typing import Any

import structlog

from qtrack.audit import service
from qtrack.jobs.registry import JobContext, job, schedule

log = structlog.get_logger("qtrack.audit")


@job("audit.checkpoint", max_attempts=3, timeout=900)
async def checkpoint(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Sign a checkpoint now; a busy history (`history_busy`) is retried with backoff."""
    async with ctx.session() as session:
        row = await service.create_checkpoint(session, ctx.settings)
    log.info("audit_checkpoint", checkpoint=row.id)


schedule("audit.checkpoint", cron="5 * * * *")
