"""A write request's transaction on a driver connection before its session is made
(core/writetx.py), driven through the request's own session dependency (`get_session`):
one transaction whichever way the statements go, committed or rolled back as the request
ends, the connection given back (or closed when its state is unknown), failures raised as
SQLAlchemy raises them."""

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from qtrack.core.db import Database
from qtrack.core.deferred import driver_transaction, started
from qtrack.core.deps import get_session
from qtrack.core.errors import QtrackError, as_unavailable
from qtrack.core.prepared import PreparedSelect, execute_locked

pytestmark = pytest.mark.postgres_only  # the driver path is PostgreSQL's

_probe = Table(
    "writetx_probe", MetaData(), Column("id", Integer, primary_key=True), Column("v", Integer)
)
_added = insert(_probe).values(v=bindparam("v")).returning(_probe.c.id).cte("added")
ADD = PreparedSelect(select(_added.c.id))
FIND = PreparedSelect(select(_probe.c.v).where(_probe.c.v == bindparam("v")))
# Refused by the server (not by the driver's encoding), so the transaction is failed.
ROOT = PreparedSelect(select(func.sqrt(bindparam("x", type_=Integer)).label("r")))
PID = PreparedSelect(select(func.pg_backend_pid().label("pid")))
ALL = PreparedSelect(select(_probe.c.v).order_by(_probe.c.v))


class Refused(QtrackError):
    status_code, code = 409, "refused"


class RefusedButKept(QtrackError):
    status_code, code, keep_changes = 409, "refused_but_kept", True


@pytest.fixture
async def probe(db: Database) -> None:
    async with db.session_scope() as session:
        await session.execute(
            text(
                "CREATE TABLE writetx_probe (id serial PRIMARY KEY,"
                " v int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
            )
        )


async def _request(app: FastAPI, method: str = "POST") -> tuple[Any, AsyncSession]:
    """The session dependency of a request, started: its generator and its session."""
    request = Request({"type": "http", "method": method, "app": app, "headers": []})
    dependency = get_session(request)
    session = await dependency.__anext__()
    return dependency, session


async def _begun(app: FastAPI) -> tuple[Any, AsyncSession, int]:
    """A write request whose driver transaction has begun: its dependency, its session and
    the backend its statements run on."""
    dependency, session = await _request(app)
    return dependency, session, await _pid(session)


async def _done(dependency: Any) -> None:
    with pytest.raises(StopAsyncIteration):
        await dependency.__anext__()


async def _pid(session: AsyncSession) -> int:
    """The backend the request's statements run on (in its driver transaction, begun)."""
    row = await PID.first_locked(session, {})
    assert row is not None
    return int(row.pid)


def _checked_out(db: Database) -> int:
    return int(db.engine.pool.checkedout())  # type: ignore[attr-defined]


async def _gone(db: Database, pid: int) -> bool:
    """Whether the backend has ended (the server notices a closed socket soon after)."""
    for _ in range(100):
        if not await _backend_alive(db, pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def _values(db: Database) -> list[int]:
    async with db.session_scope() as session:
        found = await session.execute(text("SELECT v FROM writetx_probe ORDER BY v"))
        return list(found.scalars())


async def _backend_alive(db: Database, pid: int) -> bool:
    async with db.session_scope() as session:
        alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
        return bool((await session.execute(alive, {"pid": pid})).scalar_one())


async def test_a_writes_statements_run_in_one_transaction_without_its_session(
    app: FastAPI, db: Database, probe: None
) -> None:
    before = _checked_out(db)
    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 1}) is not None
    assert await ADD.first_locked(session, {"v": 2}) is not None
    assert not started(session)  # never made
    driver = driver_transaction(session)
    assert driver is not None
    assert driver.open
    # A read in the request sees what it wrote; another transaction does not, yet.
    assert await FIND.first(session, {"v": 1}) is not None
    assert await _values(db) == []
    await _done(dependency)
    assert not started(session)
    assert not driver_transaction(session).open  # type: ignore[union-attr]
    assert await _values(db) == [1, 2]
    assert _checked_out(db) == before


async def test_every_row_and_a_savepoint_in_the_driver_transaction(
    app: FastAPI, db: Database, probe: None
) -> None:
    """`all_locked` answers every row, and `execute_locked` runs a savepoint and its
    rollback in the same transaction, with no session made."""
    dependency, session = await _request(app)
    for v in (1, 2):
        assert await ADD.first_locked(session, {"v": v}) is not None
    await execute_locked(session, text("SAVEPOINT probe"))
    assert await ADD.first_locked(session, {"v": 3}) is not None
    rows = await ALL.all_locked(session, {})
    assert [tuple(r) for r in rows] == [(1,), (2,), (3,)]
    assert rows[0]._fields == ("v",)
    await execute_locked(session, text("ROLLBACK TO SAVEPOINT probe"))
    assert [r.v for r in await ALL.all_locked(session, {})] == [1, 2]
    assert not started(session)
    # A failure is SQLAlchemy's, and the request's transaction is rolled back.
    with pytest.raises(DBAPIError):
        await execute_locked(session, text("ROLLBACK TO SAVEPOINT nowhere"))
    with pytest.raises(DBAPIError):
        await dependency.athrow(DBAPIError("x", None, Exception("x")))
    assert await _values(db) == []


async def test_a_session_made_later_joins_the_transaction(
    app: FastAPI, db: Database, probe: None
) -> None:
    before = _checked_out(db)
    for base, outcome in ((10, "commit"), (20, "rollback")):
        dependency, session, pid = await _begun(app)
        assert await ADD.first_locked(session, {"v": base}) is not None
        # Any other statement makes the session: on the same connection, in the same
        # transaction, and without a second BEGIN (which PostgreSQL would warn about).
        await session.execute(text("INSERT INTO writetx_probe (v) VALUES (:v)"), {"v": base + 1})
        assert started(session)
        joined = await session.execute(text("SELECT pg_backend_pid()"))
        assert joined.scalar_one() == pid
        assert await ADD.first_locked(session, {"v": base + 2}) is not None
        assert await _values(db) == ([] if outcome == "commit" else [10, 11, 12])
        if outcome == "commit":
            await _done(dependency)
        else:
            with pytest.raises(LookupError):
                await dependency.athrow(LookupError("the request failed"))
        assert await _values(db) == [10, 11, 12]  # the first request's, committed; not the second's
        assert await _backend_alive(db, pid)  # given back to the pool
        assert _checked_out(db) == before


async def test_a_refusal_undoes_the_request_unless_it_keeps_its_changes(
    app: FastAPI, db: Database, probe: None
) -> None:
    dependency, session, pid = await _begun(app)
    assert await ADD.first_locked(session, {"v": 1}) is not None
    with pytest.raises(Refused):
        await dependency.athrow(Refused())
    assert await _values(db) == []
    assert await _backend_alive(db, pid)  # rolled back and given back, not closed

    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 2}) is not None
    with pytest.raises(RefusedButKept):
        await dependency.athrow(RefusedButKept())
    assert await _values(db) == [2]


async def test_a_failed_statement_fails_the_transaction_as_in_the_session(
    app: FastAPI, db: Database, probe: None
) -> None:
    """Raised as SQLAlchemy raises it, and the transaction stays failed: a statement after it
    is refused too (it does not run on its own, committed), and nothing is kept."""
    before = _checked_out(db)
    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 1}) is not None
    with pytest.raises(DBAPIError) as raised:  # invalid_argument_for_power_function
        await ROOT.first_locked(session, {"x": -1})
    assert not raised.value.connection_invalidated
    with pytest.raises(DBAPIError) as refused:  # in_failed_sql_transaction
        await ADD.first_locked(session, {"v": 2})
    assert "aborted" in str(refused.value)
    with pytest.raises(DBAPIError):
        await dependency.athrow(refused.value)
    assert await _values(db) == []
    assert _checked_out(db) == before
    dependency, session = await _request(app)  # the pool serves again
    assert await ADD.first_locked(session, {"v": 3}) is not None
    await _done(dependency)
    assert await _values(db) == [3]


async def test_a_session_made_later_rolls_back_what_the_driver_wrote(
    app: FastAPI, db: Database, probe: None
) -> None:
    """Made after the driver's writes, the session is in their transaction from the start:
    its rollback undoes them, and a session made but not used still commits them."""
    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 1}) is not None
    assert session.in_transaction()  # made here, in the transaction already
    await session.rollback()
    assert await FIND.first(session, {"v": 1}) is None
    assert await ADD.first_locked(session, {"v": 2}) is not None
    await _done(dependency)
    assert await _values(db) == [2]

    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 3}) is not None
    assert session.info is not None  # made, nothing run through it
    await _done(dependency)
    assert await _values(db) == [2, 3]

    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 4}) is not None

    async def added_then_undone() -> None:
        async with session.begin_nested():
            assert await ADD.first_locked(session, {"v": 5}) is not None
            raise LookupError("undo the savepoint")

    with pytest.raises(LookupError):
        await added_then_undone()
    assert await FIND.first(session, {"v": 5}) is None
    assert await FIND.first(session, {"v": 4}) is not None
    with pytest.raises(Refused):
        await dependency.athrow(Refused())
    assert await _values(db) == [2, 3]


async def test_a_failed_commit_fails_the_request_and_keeps_nothing(
    app: FastAPI, db: Database, probe: None
) -> None:
    before = _checked_out(db)
    dependency, session, pid = await _begun(app)
    assert await ADD.first_locked(session, {"v": 5}) is not None
    assert await ADD.first_locked(session, {"v": 5}) is not None  # checked at COMMIT
    with pytest.raises(IntegrityError):
        await dependency.__anext__()
    assert await _values(db) == []
    assert await _gone(db, pid)  # its state unknown: closed, not given back
    assert _checked_out(db) == before


async def test_a_cancelled_request_closes_its_connection(
    app: FastAPI, db: Database, probe: None
) -> None:
    before = _checked_out(db)
    dependency, session, pid = await _begun(app)
    assert await ADD.first_locked(session, {"v": 7}) is not None
    with pytest.raises(asyncio.CancelledError):
        await dependency.athrow(asyncio.CancelledError())
    assert await _gone(db, pid)
    assert await _values(db) == []
    assert _checked_out(db) == before


async def test_a_lost_connection_is_a_503_and_the_pool_serves_again(
    app: FastAPI, db: Database, probe: None
) -> None:
    before = _checked_out(db)
    dependency, session, pid = await _begun(app)
    async with db.session_scope() as killer:
        await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(DBAPIError) as raised:
        await ADD.first_locked(session, {"v": 1})
    assert raised.value.connection_invalidated
    unavailable = as_unavailable(raised.value)
    assert unavailable is not None
    assert unavailable.status_code == 503
    with pytest.raises(DBAPIError):
        await dependency.athrow(raised.value)
    dependency, session = await _request(app)
    assert await ADD.first_locked(session, {"v": 2}) is not None
    await _done(dependency)
    assert await _values(db) == [2]
    assert _checked_out(db) == before


async def test_a_read_request_never_begins_one(app: FastAPI, db: Database, probe: None) -> None:
    dependency, session = await _request(app, "GET")
    assert await FIND.first_locked(session, {"v": 1}) is None
    assert driver_transaction(session) is None
    assert started(session)
    await _done(dependency)
