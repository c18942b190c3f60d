"""A short per-process cache of authentication rows (credential ⋈ user ⋈ role).

Saves the authentication statement on most requests. A row is kept at most `TTL_S` seconds
and every check that depends on the clock (expiry) still runs on each request. Anything that
revokes a credential or changes a user or role calls `forget()` (the services do, and any
ORM update or delete of a user, role, token or login does too): the cache is emptied at
once and again when that transaction commits, and a row read by a request that overlapped
such a change is never stored. Other worker processes see the change within `TTL_S`.
"""

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, object_session

from qtrack.accounts.models import ApiToken, LoginSession, Role, User

TTL_S = 2.0
_MAX_ROWS = 10_000
_FORGET = "qtrack_forget_principals"

_rows: dict[tuple[str, str], tuple[float, Any]] = {}
_generation = 0


def generation() -> int:
    """Take before reading a row; `store` drops the row if a change happened since."""
    return _generation


def get(kind: str, key: str) -> Any | None:
    """The cached row for a credential, if it is fresh."""
    hit = _rows.get((kind, key))
    if hit is None:
        return None
    if hit[0] <= time.monotonic():
        _rows.pop((kind, key), None)
        return None
    return hit[1]


def store(kind: str, key: str, row: Any, read_at_generation: int) -> None:
    """Keep a row just read, unless something was forgotten while it was being read."""
    if read_at_generation != _generation:
        return
    if len(_rows) >= _MAX_ROWS:
        _rows.clear()
    _rows[(kind, key)] = (time.monotonic() + TTL_S, row)


def _clear() -> None:
    global _generation
    _generation += 1
    _rows.clear()


def forget(session: AsyncSession | None = None) -> None:
    """Drop every cached row now, and again when `session` commits or rolls back (a request
    that reads between this change and its commit would otherwise cache the old row)."""
    _clear()
    if session is not None:
        session.sync_session.info[_FORGET] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _after_transaction(session: Session) -> None:
    if session.info.pop(_FORGET, False):
        _clear()


def _changed(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    # Whatever changed the row (a service, the CLI, a test), the cache must not outlive it.
    session = object_session(target)
    _clear()
    if session is not None:
        session.info[_FORGET] = True


for _model in (User, Role, ApiToken, LoginSession):
    event.listen(_model, "after_update", _changed)
    event.listen(_model, "after_delete", _changed)
