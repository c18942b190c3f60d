"""Audit JSON API: the signed checkpoints, published for whoever verifies the history."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.audit import service as audit_service
from qtrack.audit.schemas import CheckpointRead
from qtrack.core.deps import SessionDep
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=AUTHENTICATED)

# Whoever may verify the audit trail may read what it is verified against.
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_VERIFY))]
MAX_ID = 2**31 - 1  # checkpoint numbers are 32-bit in the database
CheckpointId = Annotated[int, Path(ge=1, le=MAX_ID, description="The checkpoint's number")]


@router.get("/checkpoints", responses=errors(InvalidCursor))
async def list_checkpoints(
    _: Auditor, session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[CheckpointRead]:
    """Checkpoints newest first (the first is the latest); pass `next_cursor` back as `cursor`."""
    before = decode_int_cursor(cursor)
    if before is not None and not 1 <= before <= MAX_ID:
        raise InvalidCursor()
    rows = await audit_service.list_checkpoints(session, before=before, limit=limit)
    return Page(
        items=[CheckpointRead.of(row) for row in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/checkpoints/latest", responses=errors(audit_service.CheckpointNotFound))
async def latest_checkpoint(_: Auditor, session: SessionDep) -> CheckpointRead:
    """The newest checkpoint; 404 checkpoint_not_found before the first."""
    row = await audit_service.latest(session)
    if row is None:
        raise audit_service.CheckpointNotFound("No checkpoint has been made yet")
    return CheckpointRead.of(row)


@router.get("/checkpoints/{checkpoint_id}", responses=errors(audit_service.CheckpointNotFound))
async def get_checkpoint(
    checkpoint_id: CheckpointId, _: Auditor, session: SessionDep
) -> CheckpointRead:
    """One checkpoint by its number."""
    return CheckpointRead.of(await audit_service.get_checkpoint(session, checkpoint_id))
