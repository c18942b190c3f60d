"""`qtrack audit verify`: all chains intact, or the first broken link and a non-zero exit."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from qtrack.accounts.principal import Principal
from qtrack.core.db import Database
from qtrack.events.service import EventContext
from qtrack.items import changes, create
from qtrack.items.schemas import ItemCreate
from tests.conftest import make_settings
from tests.test_cli import invoke


def _seed(url: str, lots: int) -> None:
    """Lots with a few events each, made through the services."""

    async def _run() -> None:
        db = Database(make_settings(url), pooled=False)
        try:
            async with db.session_scope() as session:
                from qtrack.accounts.service import create_user

                user, _ = await create_user(
                    session,
                    db.settings,
                    actor=None,
                    username="op",
                    role="admin",
                    password="a long password",
                )
                actor = Principal(
                    user=user, permissions=frozenset(user.role.permissions), via="cli"
                )
                items = await create.register_items(
                    session,
                    specs=[ItemCreate(type="material", count=lots)],
                    actor=actor,
                    settings=db.settings,
                )
                for item in items:
                    for n in range(2):
                        await changes.edit_item(
                            session,
                            code=item.code,
                            expected_version=n + 1,
                            changes={"name": f"Lot {n}"},
                            actor=actor,
                            reason=None,
                            context=EventContext(),
                        )
        finally:
            await db.dispose()

    asyncio.run(_run())


def _tamper(url: str, backend: str, sql: str) -> None:
    """Do what the database forbids: switch the guard off, as only its owner could."""

    async def _run() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                if backend == "postgresql":
                    await conn.execute(text("ALTER TABLE event DISABLE TRIGGER USER"))
                else:
                    await conn.execute(text("DROP TRIGGER event_no_update"))
                    await conn.execute(text("DROP TRIGGER event_no_delete"))
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(_run())


def test_intact_history_verifies(cli: CliRunner, database_url: str) -> None:
    _seed(database_url, lots=4)
    result = invoke(cli, ["audit", "verify"], QTRACK_DATABASE_URL=database_url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "12 events, 4 items, all chains intact",
        "no checkpoints yet: run `qtrack audit checkpoint` (see docs/audit.md)",
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "UPDATE event SET reason = 'nothing happened' WHERE seq = 2 AND item_id = 2",
            "was altered",
        ),
        ("DELETE FROM event WHERE seq = 2 AND item_id = 3", "events are missing"),
        ("DELETE FROM event WHERE seq = 3 AND item_id = 1", "the chain has 2"),
        ("UPDATE event SET prev_hash = NULL WHERE seq = 3 AND item_id = 4", "does not link"),
    ],
)
def test_tampering_is_found(
    cli: CliRunner, database_url: str, backend: str, sql: str, expected: str
) -> None:
    _seed(database_url, lots=4)
    _tamper(database_url, backend, sql)
    result = invoke(cli, ["audit", "verify"], QTRACK_DATABASE_URL=database_url)
    assert result.exit_code == 1
    assert "BROKEN" in result.output
    assert expected in result.output
