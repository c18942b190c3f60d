"""Keeping on-hand stock in step with every change of an item (`stock.service.apply`).

What an item adds to its type's on-hand: its quantity (quantity-tracked types) or 1, while
it is live: not archived, and in a state that is not done with. Done with are a workflow's
terminal states and "rejected" and "expired" whatever the workflow says
(`workflow.service.DONE_WITH`, which the dashboard reads too): such a lot waits only to be
destroyed. Every change
that alters what an item adds (created, transition, quantity, archive, move, pack, import)
hands the difference to `stock.service.apply`, last, in the change's own transaction.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.items import rules
from qtrack.stock import service as stock_service
from qtrack.workflow.schemas import WorkflowDefinition
from qtrack.workflow.service import DONE_WITH

_ZERO = Decimal(0)


def stocked(definition: WorkflowDefinition, status: str) -> bool:
    """Whether an item in this state is stock on hand (not done with)."""
    state = definition.state(status)
    return not (state is not None and state.terminal) and status not in DONE_WITH


def amount(tracks_quantity: bool, quantity: Decimal | None) -> Decimal:
    """What one live item adds to on-hand: its quantity, or 1 when quantities are not kept."""
    if tracks_quantity:
        return quantity or _ZERO
    return Decimal(1)


async def live(session: AsyncSession, row: Any, status: str | None = None) -> bool:
    """Whether a locked row counts as stock now (or in `status`): not archived, not done with."""
    if row.archived:
        return False
    definition = await rules.definition_for(session, row)
    return stocked(definition, status if status is not None else row.status)


async def counted(session: AsyncSession, row: Any, status: str | None = None) -> Decimal:
    """What a locked row adds to on-hand now (or in `status`): 0 when archived or done with."""
    if not await live(session, row, status):
        return _ZERO
    return amount(row.tracks_quantity, row.quantity)


async def changed(session: AsyncSession, deltas: dict[tuple[int, int | None], Decimal]) -> None:
    """Hand on-hand differences (type id, location id) to the stock levels."""
    if any(deltas.values()):
        await stock_service.apply(session, deltas)


async def one(session: AsyncSession, type_id: int, location_id: int | None, delta: Decimal) -> None:
    """One item's on-hand difference at one place."""
    if delta:
        await stock_service.apply(session, {(type_id, location_id): delta})


async def moved(session: AsyncSession, moves: Iterable[tuple[Any, int | None]]) -> None:
    """Rows (locked, as read) put at new locations: what each adds leaves its old place."""
    deltas: dict[tuple[int, int | None], Decimal] = {}
    for row, new in moves:
        if row.location_id == new:
            continue
        here = await counted(session, row)
        if not here:
            continue
        for key, delta in (((row.type_id, row.location_id), -here), ((row.type_id, new), here)):
            deltas[key] = deltas.get(key, _ZERO) + delta
    await changed(session, deltas)
