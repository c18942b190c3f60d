"""`items.validate_keys`: the foreign keys an import into an empty table made again NOT VALID,
checked against every row once the import has committed (`items.bulk_load.validate_key`).

The import queues it; a daily run also finds any key a failed run left NOT VALID. A key already
valid is not looked at again, so a retry, or a twin, does nothing twice.
"""

from typing import Any

from qtrack.items import bulk_load
from qtrack.jobs.registry import JobContext, job, schedule


@job(bulk_load.VALIDATE_KEYS, max_attempts=5, timeout=1800)
async def validate_keys(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Validate every foreign key of `item` and `item_label` still NOT VALID, one a
    transaction."""
    async with ctx.session("read") as session:
        keys = await bulk_load.unvalidated_keys(session)
    for table, name in keys:
        async with ctx.session() as session:
            await bulk_load.validate_key(session, table, name)


schedule(bulk_load.VALIDATE_KEYS, cron="40 3 * * *")
