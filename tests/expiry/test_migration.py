"""Migration 0015: the expiry window column, and the expired flag on states keyed expired."""

import json
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qtrack import migrations


def _expired_flags(conn: Connection) -> dict[str, dict[str, Any]]:
    flags = {}
    for key, stored in conn.execute(text("SELECT key, definition FROM workflow")):
        definition = json.loads(stored) if isinstance(stored, str) else stored
        flags[key] = {s["key"]: s.get("expired") for s in definition["states"] if "key" in s}
    return flags


async def test_0015_marks_the_expired_states_and_gives_them_back(database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrations.downgrade_on, "0013")
            before = await conn.run_sync(_expired_flags)
            assert all(v is None for states in before.values() for v in states.values())
            await conn.run_sync(migrations.upgrade_on, "head")
            after = await conn.run_sync(_expired_flags)
            assert after["material"]["expired"] is True
            assert after["supply"]["expired"] is True
            assert set(after["bag"].values()) == {None}
            windows = await conn.execute(text("SELECT DISTINCT expiry_window_days FROM item_type"))
            assert [w for (w,) in windows] == [30]
    finally:
        await engine.dispose()
