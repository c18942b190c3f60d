"""`items.validate_keys`: the foreign keys an import into an empty table made again NOT VALID,
checked against every row once the import has committed (`items.bulk_load.validate_key`).

A key already valid is skipped, so a retry, or a twin, does nothing twice.
"""

from typing import Any

from qtrack.items import bulk_load
from qtrack.jobs.registry import JobContext, job


@job(bulk_load.VALIDATE_KEYS, max_attempts=5, timeout=1800)
async def validate_keys(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Validate each named key (`payload["keys"]`: [table, constraint] pairs), one a
    transaction."""
    for table, name in payload["keys"]:
        async with ctx.session() as session:
            await bulk_load.validate_key(session, table, name)
