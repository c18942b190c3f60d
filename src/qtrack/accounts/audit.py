"""The security log: who did what to access itself (logins, tokens, roles), and from where."""

from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qtrack.accounts.models import SecurityEvent, User

# Every kind of entry the security log holds; `record` takes only these (mypy checks the
# callers), and the admin page's filter lists them.
SecurityKind = Literal[
    "login", "login_failed", "login_throttled", "logout", "refresh_token_reused",
    "password_changed", "password_change_failed", "password_reset", "signature_ok",
    "signature_failed", "user_created", "user_disabled", "user_enabled", "role_changed",
    "role_created", "role_deleted", "token_created", "token_revoked",
    "signing_key_rotated", "signing_key_retired",
    "webhook_created", "webhook_changed", "webhook_deleted", "webhook_secret_rotated",
    "webhook_disabled",
]  # fmt: skip
SECURITY_KINDS: tuple[str, ...] = get_args(SecurityKind)


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the security log."""

    ip: str | None = None
    user_agent: str | None = None
    # Who acted when no qtrack user did: the CLI names the OS user (`cli:alice`).
    by: str | None = None


async def record(
    session: AsyncSession,
    kind: SecurityKind,
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
    if actor is None and origin.by:
        details = {"by": origin.by[:64], **details}
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
    session: AsyncSession,
    *,
    before_id: int | None,
    limit: int,
    kind: str | None = None,
    username: str | None = None,
) -> list[tuple[SecurityEvent, str | None]]:
    """Security events newest first, each with who acted (the actor's username, or what acted
    without a user, e.g. `cli:alice`), in one query; narrowed to one kind and to what was
    done to or by one user."""
    actor = aliased(User)
    stmt = (
        select(SecurityEvent, actor.username)
        .outerjoin(actor, actor.id == SecurityEvent.actor_id)
        .order_by(SecurityEvent.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(SecurityEvent.id < before_id)
    if kind:
        stmt = stmt.where(SecurityEvent.kind == kind)
    if username:
        name = username.strip().lower()
        # The subject's name is kept on the event (also for failed logins of unknown names);
        # the actor is found by id, so what a user did to others shows too.
        stmt = stmt.where(or_(SecurityEvent.username == name, actor.username == name))
    return [
        (event, actor_name or _by(event))
        for event, actor_name in (await session.execute(stmt)).all()
    ]


def _by(event: SecurityEvent) -> str | None:
    by = (event.details or {}).get("by")
    return by if isinstance(by, str) else None
