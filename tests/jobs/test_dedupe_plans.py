"""Enqueueing with a dedupe key keeps working once PostgreSQL plans the statement generically
(after five runs of a prepared statement on one connection it may stop using the values)."""

import pytest
from sqlalchemy import text

from qtrack.core.db import Database
from qtrack.jobs import service


@pytest.mark.postgres_only
async def test_a_deduplicated_enqueue_survives_a_generic_plan(db: Database) -> None:
    async with db.session_scope() as session:
        await session.execute(text("SET plan_cache_mode = force_generic_plan"))
        ids = [
            await service.enqueue(session, "jobs.prune", dedupe_key=f"key-{n % 4}")
            for n in range(8)
        ]
    # Four keys: each second enqueue of a key finds the first one still waiting.
    assert ids[4:] == ids[:4]
    assert len(set(ids)) == 4
