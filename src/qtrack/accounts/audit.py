"""The security log: who did what to access itself (logins, tokens, roles), and from where."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import SecurityEvent, User


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the security log."""

    ip: str | None = None
    user_agent: str | None = None


async def record(
    session: AsyncSession,
    kind: str,
    /,
    *,
    origin: Origin | None = None,
    actor: User | None = None,
    subject: User | None = None,
    username: str | None = None,
    **details: Any,
) -> SecurityEvent:
    """Append one entry to the security log (flushed with the caller's transaction)."""
    origin = origin or Origin()
    event = SecurityEvent(
        kind=kind,
        actor_id=actor.id if actor else None,
        subject_user_id=subject.id if subject else None,
        username=(username or (subject.username if subject else None) or "")[:64] or None,
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:300] or None,
        details=details,
    )
    session.add(event)
    await session.flush()
    return event


async def list_security_events(
    session: AsyncSession, *, before_id: int | None, limit: int, kind: str | None = None
) -> Sequence[SecurityEvent]:
    """Newest first."""
    stmt = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(SecurityEvent.id < before_id)
    if kind:
        stmt = stmt.where(SecurityEvent.kind == kind)
    return (await session.scalars(stmt)).all()
