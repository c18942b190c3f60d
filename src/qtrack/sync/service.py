"""Reading what devices pushed: the refused changes, for their user and supervisors."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import User
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.sync.models import SyncChange
from qtrack.sync.schemas import RefusedRead

# Who sees everyone's refused changes: those who verify the audit trail (supervisors, admins).
REVIEW = Permission.AUDIT_VERIFY


def may_review(principal: Principal) -> bool:
    """Whether the caller sees every user's refused changes, not only their own."""
    return principal.can(REVIEW)


async def refused(
    session: AsyncSession,
    principal: Principal,
    *,
    everyone: bool = False,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[RefusedRead], int | None]:
    """Pushed changes that were rejected or conflicted, newest first: the caller's own, or
    with `everyone` (reviewers only) all of them; and the id to read on before, if more."""
    stmt = (
        select(SyncChange, User.username)
        .join(User, SyncChange.user_id == User.id)
        .where(SyncChange.outcome.in_(("rejected", "conflict")))
        .order_by(SyncChange.id.desc())
        .limit(limit + 1)
    )
    if not (everyone and may_review(principal)):
        stmt = stmt.where(SyncChange.user_id == principal.user_id)
    if before is not None:
        stmt = stmt.where(SyncChange.id < before)
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    reads = [
        RefusedRead(
            id=row.id,
            change_id=row.change_id,
            user=username,
            device_id=row.device_id,
            type=row.type,
            item=row.item_code,
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            outcome=row.outcome,
            reason=row.reason,
            code=row.error_code,
            message=row.message,
            change=row.payload,
            current=(row.answer or {}).get("item") if row.outcome == "conflict" else None,
        )
        for row, username in rows
    ]
    return reads, (reads[-1].id if more and reads else None)
