"""The expiry sweep as durable background work: daily, shortly after the site's midnight.

Each batch commits on its own (a backlog never holds thousands of row locks), and the sweep
is idempotent: a retry, or a twin run by another worker, finds done what was done.
"""

from typing import Any

from qtrack.expiry import service
from qtrack.items import rules
from qtrack.items.expiring import SweepBatch
from qtrack.jobs.registry import JobContext, job, schedule

SWEEP = service.SWEEP_JOB


@job(SWEEP, max_attempts=5, timeout=600)
async def sweep(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Expire every live item past its expiry date, a batch a transaction."""
    today = rules.site_today(ctx.settings)
    total = SweepBatch()
    after: int | None = 0
    while after is not None:
        async with ctx.session() as session:
            batch, after = await service.sweep_batch(
                session, today=today, after_id=after, size=service.BATCH
            )
        total.expired += batch.expired
        total.left += batch.left
    service.report(today, total)


schedule(SWEEP, cron="5 0 * * *")
