"""An item's locked read through the driver (`PreparedSelect.first_locked`, core/prepared.py):
the row the session would give, the lock really held in the session's transaction, and a
failure raised as SQLAlchemy raises it."""

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.core.db import Database
from qtrack.core.errors import as_unavailable
from qtrack.core.prepared import PreparedSelect
from qtrack.items import create, statements
from qtrack.items.schemas import ItemCreate
from tests.factories.accounts import create_user

LOCKED = statements.LOCK_BY_CODE_PREPARED


async def _item(db: Database, **fields: Any) -> tuple[int, str]:
    user = await create_user(db, "locker", "admin")
    actor = Principal(user=user, permissions=frozenset(), via="cli")
    async with db.session_scope() as session:
        (item,) = await create.register_items(
            session,
            specs=[ItemCreate(type="material", **fields)],
            actor=actor,
            settings=db.settings,
        )
    return item.id, item.code


async def test_the_row_the_session_gives(db: Database) -> None:
    _, code = await _item(db, name="Lactose", quantity="25.5", attributes={"grade": "A"})
    async with db.session_scope() as session:
        plain = (await session.execute(statements.LOCK_BY_CODE, {"code": code})).first()
    async with db.session_scope() as session:
        locked = await LOCKED.first_locked(session, {"code": code})
        assert session.in_transaction()
    assert plain is not None
    assert locked is not None
    assert locked._fields == plain._fields
    assert tuple(locked) == tuple(plain)
    assert [type(v) for v in locked] == [type(v) for v in plain]
    async with db.session_scope() as session:
        assert await LOCKED.first_locked(session, {"code": "MAT-NOPE"}) is None


async def test_the_lock_is_held_until_the_transaction_ends(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite locks the whole database for a write transaction")
    _, code = await _item(db)
    nowait = text("SELECT id FROM item WHERE code = :code FOR UPDATE NOWAIT")
    async with db.session_scope() as holder:
        assert await LOCKED.first_locked(holder, {"code": code}) is not None
        with pytest.raises(DBAPIError):  # lock_not_available
            async with db.session_scope() as other:
                await other.execute(nowait, {"code": code})
        # A second locked read in the same transaction: no second BEGIN, the same row.
        again = await LOCKED.first_locked(holder, {"code": code})
        assert again is not None
        assert again.code == code
    async with db.session_scope() as other:
        assert (await other.execute(nowait, {"code": code})).first() is not None


async def test_a_failure_is_raised_as_sqlalchemy_raises_it(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the driver path is PostgreSQL's")
    _, code = await _item(db)
    wait_briefly = text("SET LOCAL lock_timeout = '50ms'")
    async with db.session_scope() as holder:
        await LOCKED.first_locked(holder, {"code": code})
        raised = []
        for run in ("session", "driver"):
            async with db.session_scope() as other:
                await other.execute(wait_briefly)
                try:
                    if run == "session":
                        await other.execute(statements.LOCK_BY_CODE, {"code": code})
                    else:
                        await LOCKED.first_locked(other, {"code": code})
                except DBAPIError as exc:
                    raised.append(exc)
                    await other.rollback()
        assert len(raised) == 2
        through_session, through_driver = raised
        assert type(through_driver) is type(through_session)
        assert type(through_driver.orig) is type(through_session.orig)
        assert getattr(through_driver.orig, "sqlstate", None) == "55P03"  # lock_not_available


async def test_a_lost_connection_is_a_503(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the driver path is PostgreSQL's")
    _, code = await _item(db)
    async with db.session_scope() as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.session_scope() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as raised:
            await LOCKED.first_locked(session, {"code": code})
        assert raised.value.connection_invalidated
        unavailable = as_unavailable(raised.value)
        assert unavailable is not None
        assert unavailable.status_code == 503
        await session.rollback()
    async with db.session_scope() as session:  # the pool serves again
        assert await LOCKED.first_locked(session, {"code": code}) is not None


async def test_a_later_statement_of_the_transaction_reuses_its_connection(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session is asked for its connection once per transaction: a second statement in
    it takes the same connection without asking again; a new transaction (after a commit or a
    rollback) or an invalidated connection asks again."""
    _, code = await _item(db)
    asked: list[object] = []
    original = AsyncSession.connection

    async def counted(self: AsyncSession, *args: Any, **kwargs: Any) -> Any:
        connection = await original(self, *args, **kwargs)
        asked.append(connection)
        return connection

    monkeypatch.setattr(AsyncSession, "connection", counted)
    async with db.session_scope() as session:
        first = await LOCKED.first_locked(session, {"code": code})
        again = await LOCKED.first_locked(session, {"code": code})
        assert first is not None
        assert again is not None
        assert tuple(first) == tuple(again)
        assert len(asked) == 1
        await session.commit()
        assert await LOCKED.first_locked(session, {"code": code}) is not None
        assert len(asked) == 2  # a new transaction
        await session.rollback()
        assert await LOCKED.first_locked(session, {"code": code}) is not None
        assert len(asked) == 3
        await asked[-1].invalidate()  # type: ignore[attr-defined]
        # Asked again, and the statement refused as any statement is on that connection now.
        with pytest.raises(PendingRollbackError):
            await LOCKED.first_locked(session, {"code": code})
        assert len(asked) == 4
        await session.rollback()
        assert await LOCKED.first_locked(session, {"code": code}) is not None
        assert len(asked) == 5


@pytest.mark.postgres_only  # the driver path is PostgreSQL's
async def test_inside_a_savepoint_the_session_is_asked(db: Database) -> None:
    """A statement in a savepoint runs after its SAVEPOINT, even when the transaction's
    connection was taken before: rolled back with the savepoint, what it wrote is gone, and
    a statement that fails in it fails the savepoint only."""
    table = Table(
        "savepoint_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("v", Integer, unique=True),
    )
    added = insert(table).values(v=bindparam("v")).returning(table.c.id).cte("added")
    add = PreparedSelect(select(added.c.id))
    values = text("SELECT v FROM savepoint_probe ORDER BY v")
    async with db.session_scope() as session:
        await session.execute(
            text("CREATE TEMPORARY TABLE savepoint_probe (id serial PRIMARY KEY, v int UNIQUE)")
        )
        assert await add.first_locked(session, {"v": 1}) is not None

        async def added_then_undone() -> None:
            async with session.begin_nested():
                assert await add.first_locked(session, {"v": 2}) is not None
                raise LookupError("undo the savepoint")

        with pytest.raises(LookupError):
            await added_then_undone()
        assert list((await session.execute(values)).scalars()) == [1]
        with pytest.raises(DBAPIError):  # unique_violation, inside the savepoint
            async with session.begin_nested():
                await add.first_locked(session, {"v": 1})
        assert list((await session.execute(values)).scalars()) == [1]  # the transaction lives
        assert await add.first_locked(session, {"v": 3}) is not None
        assert list((await session.execute(values)).scalars()) == [1, 3]
        await session.rollback()
