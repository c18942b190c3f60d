"""What every change of an item shares: its locked row, its next event, its answer.

A change reads the item's row locked (`statements.LOCK_BY_CODE`; with its containers and
contents, `moves`), decides from what it read, records the event through
`events.service.record` and moves the item's chain head with one prebuilt UPDATE, all on the
request's session in Core statements. The answer (`ChangeResult`) is built from what was read
and written, never read back.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.core.deferred import dialect_name
from qtrack.events import service as events_service
from qtrack.events.schemas import EventRead
from qtrack.events.service import Entry, EventContext, Recorded, Signature
from qtrack.item_types.models import QUANTITY
from qtrack.items import repository, statements
from qtrack.items.errors import ItemArchived, ItemNotFound
from qtrack.items.models import Item
from qtrack.items.schemas import ChangeResult

# A row of `statements.LOCK_COLUMNS`: the item as read under its row lock.
Row = Any
# "At the item's own location", for `entry` (None is a location too: nowhere).
_HERE: Any = object()
# The scale of quantities and weights (`item_types.models.QUANTITY`).
_STORED_DECIMAL = Decimal(1).scaleb(-(QUANTITY.scale or 0))


def normal(code: str) -> str:
    """A code as stored: trimmed, upper case."""
    return code.strip().upper()


def context_of(body: Any) -> EventContext:
    """The event context a request body carries."""
    return EventContext(
        client_event_id=getattr(body, "client_event_id", None),
        occurred_at=getattr(body, "occurred_at", None),
        latitude=getattr(body, "latitude", None),
        longitude=getattr(body, "longitude", None),
    )


async def lock(session: AsyncSession, code: str, *, allow_archived: bool = False) -> Row:
    """The item's row, locked for this transaction; 404 if unknown, 409 if archived."""
    row = await statements.LOCK_BY_CODE_PREPARED.first_locked(session, {"code": normal(code)})
    if row is None:
        raise ItemNotFound(f"No item '{code}'")
    if row.archived and not allow_archived:
        raise ItemArchived(details={"code": row.code})
    return row


async def lock_in_order(session: AsyncSession, codes: Iterable[str]) -> None:
    """Lock the rows of the items these codes name (those that exist) in id order, for a
    transaction that then changes them one by one in an order of its own (an offline device's
    batch, `sync.push`): two such transactions over the same items wait for each other instead
    of deadlocking. SQLite runs one writer at a time: nothing to do there."""
    wanted = sorted({normal(code) for code in codes})
    if not wanted or dialect_name(session) != "postgresql":
        return
    by_id = select(Item.id).where(Item.code.in_(wanted)).order_by(Item.id).with_for_update()
    await session.execute(by_id)


def entry(
    row: Row,
    kind: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    location_id: int | None = _HERE,
    reason: str | None = None,
    signature: Signature | None = None,
    context: EventContext | None = None,
) -> Entry:
    """The row's next event, after its chain head as read under the lock (at the row's
    location unless another is given)."""
    return Entry(
        item_id=row.id,
        head=(row.event_count, row.last_event_hash),
        location_id=row.location_id if location_id is _HERE else location_id,
        kind=kind,
        before=before,
        after=after,
        reason=reason,
        signature=signature,
        context=context or EventContext(),
    )


def head(recorded: Recorded) -> dict[str, Any]:
    """The parameters that move an item's chain head to this event."""
    return {
        "item_id": recorded.item_id,
        "new_event_count": recorded.seq,
        "new_last_event_hash": recorded.hash,
        "new_updated_at": recorded.recorded_at,
    }


async def move_heads(session: AsyncSession, recorded: Iterable[Recorded]) -> None:
    """Move the chain heads of rows whose own fields did not change (containers)."""
    params = [head(r) for r in recorded]
    if params:
        await session.execute(statements.SET_HEAD, params)


def read(recorded: Recorded, code: str, actor: Principal | None, location: str | None) -> EventRead:
    """An event just recorded as the API shows it."""
    return events_service.read_of(
        recorded, item_code=code, actor=actor.username if actor else None, location=location
    )


def unchanged(row: Row) -> ChangeResult:
    """The answer to a change that changed nothing: the item as it is, no events."""
    return answer(row, [])


def answer(row: Row, events: list[EventRead], **changed: Any) -> ChangeResult:
    """The item as the change left it (`changed`: its new values), and the events: one
    validation in pydantic-core, the item's values inside it (docs/benchmarks.md, issue 15,
    eleventh pass)."""
    for key, value in changed.items():
        if isinstance(value, Decimal):
            # As the column gives it back: 2.5 is stored, and read, as 2.500000.
            changed[key] = value.quantize(_STORED_DECIMAL)
    return ChangeResult.model_validate(
        {"item": repository.item_values(row, **changed), "events": events}
    )
