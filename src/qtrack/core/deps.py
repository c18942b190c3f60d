"""Request-scoped dependencies shared by every domain."""

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.config import Settings
from qtrack.core.db import Mode
from qtrack.core.deferred import DeferredSession, driver_transaction, started
from qtrack.core.errors import QtrackError
from qtrack.core.state import AppState, app_state, app_state_dep

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed after the handler returns and before the response
    is sent; rolled back if anything raised.

    The session is closed only if a transaction is still open when it is done with (a commit
    or rollback that failed): a session holding no transaction holds no connection, and
    closing it would cost a task and a greenlet for nothing (about 5 % of a scan lookup's
    CPU, whose statement runs on a borrowed connection, core/prepared.py).

    A write request whose statements all ran through the driver never made its session: its
    transaction is a `DriverTransaction` (core/writetx.py), committed or rolled back here
    likewise, last, and its connection given back. (Made later, the session ran on that
    connection and its commit or rollback ended the database's transaction already.)"""
    mode: Mode = "read" if request.method in _READ_METHODS else "write"
    db = app_state(request).db
    # Made when first used: a lookup answered from caches and a borrowed connection never
    # uses it (core/deferred.py).
    session = DeferredSession(db.sessionmaker(mode), writes=mode == "write")
    commit = False
    try:
        yield session
        if started(session) and _touched(session):
            await session.commit()
        commit = True
    except QtrackError as exc:
        commit = exc.keep_changes
        if started(session):
            await (session.commit() if exc.keep_changes else session.rollback())
            if db.replica is not None:
                await db.request_done(session, exc)
        raise
    except BaseException as exc:
        if started(session):
            await session.rollback()
            if db.replica is not None:
                await db.request_done(session, exc)
        raise
    finally:
        driver = driver_transaction(session)
        # Cancelled (mid-statement, mid-commit), a driver transaction's connection is not
        # rolled back but closed: what it holds is unknown.
        abandon = driver is not None and isinstance(sys.exc_info()[1], asyncio.CancelledError)
        try:
            if started(session) and session.in_transaction():
                await session.__aexit__(None, None, None)  # closed, even if cancelled meanwhile
        finally:
            if driver is not None:
                await driver.end(commit=commit, abandon=abandon)
    if db.replica is not None and started(session):
        # Which database served it; a committed write's author. (A session never made was
        # routed nowhere and wrote nothing.)
        await db.request_done(session, None)


def _touched(session: AsyncSession) -> bool:
    """Whether the session has anything to commit: a transaction begun (a statement ran) or
    objects to flush. A request answered without either (a scan lookup whose statement ran
    on a borrowed connection, core/prepared.py) has nothing to commit, and committing
    nothing would still begin and end an empty transaction."""
    sync = session.sync_session
    # `_is_clean` is what the session's own flush asks: nothing new, deleted or marked
    # modified (cheaper than `dirty`, which compares every loaded object's attributes).
    return sync.in_transaction() or not sync._is_clean()


async def get_settings(request: Request) -> Settings:
    """The settings of the app serving this request."""
    return app_state(request).settings


# scope="function": the commit above runs when the endpoint returns, so a failed commit is
# an error response, and a 2xx means the data is on disk.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[AppState, Depends(app_state_dep)]
