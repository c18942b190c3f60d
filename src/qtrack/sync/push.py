"""Push: the changes a device made offline, each applied once, each answered on its own
(POST /api/v1/sync/push).

Every change is first written to `sync_change` under its (user, change id): a retried batch,
or the same batch sent twice at once, finds the row and gets the stored answer, so nothing is
applied twice. Then the change is applied by the one implementation of its kind, the same
function the API calls (`items.create.register_items`, `items.moves.move`,
`items.changes.change_status` / `change_quantity`, `containers.service.pack` / `unpack`,
`codes.scan.scan`), inside a SAVEPOINT: a refused change is rolled back alone and the rest of
the batch goes on. Its answer is one of:

- `applied`, with the item as it is now and its new version;
- `rejected`, with why: `not_allowed` (a permission, an e-signature, the four-eyes rule) or
  `invalid` (unknown item or location, a rule of the item's type or workflow, bad input);
- `conflict` (reason `stale`): the device acted on a version that is no longer current and
  the change no longer fits, with the server's current item. A move is last-writer-wins by
  device time: a stale move older than the item's last recorded move is `superseded`.
  Dispensing, consuming and receiving add up and are applied on any version while the stock
  lasts; an adjustment (a count) made on an old version is a conflict.

Rejected and conflicting changes stay in `sync_change` with their reason, for the user and
supervisors (`refused()`).
"""

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import STATUS_CHANGES, Permission
from qtrack.accounts.principal import Principal
from qtrack.accounts.service import SignatureFailed, TooManyAttempts
from qtrack.codes import scan as scan_service
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.core.errors import Conflict, DatabaseBusy, QtrackError, ValidationFailed
from qtrack.core.idempotency import IdempotencyRecord
from qtrack.core.jsonvalues import json_safe
from qtrack.core.ratelimit import RateLimiter
from qtrack.events.models import Event
from qtrack.events.service import EventContext
from qtrack.items import changes, create, moves, writes
from qtrack.items import service as items_service
from qtrack.items.errors import (
    Busy,
    ItemNotFound,
    SamePerson,
    SignatureRequired,
    VersionMismatch,
)
from qtrack.items.repository import item_json
from qtrack.items.schemas import ChangeResult
from qtrack.sync import repository
from qtrack.sync.models import SyncChange
from qtrack.sync.schemas import (
    PUSH_CHANGE,
    CreateChange,
    ItemChange,
    MoveChange,
    PackChange,
    PushChange,
    PushRequest,
    QuantityChange,
    ScanChange,
    TransitionChange,
    UnpackChange,
)

# The changes a device can push at all: a caller with none of these may not push.
WRITES: tuple[tuple[str, ...], ...] = (
    (Permission.ITEM_CREATE, Permission.ITEM_MOVE, Permission.ITEM_PACK),
    STATUS_CHANGES,
    (Permission.ITEM_DISPENSE, Permission.ITEM_QUANTITY),
)
NOT_ALLOWED = (PermissionDenied, SignatureRequired, SignatureFailed, TooManyAttempts, SamePerson)
# What a change of each type needs before its use case checks the rest (as the API routes).
NEEDS: dict[str, tuple[str, ...]] = {
    "create": (Permission.ITEM_CREATE,),
    "move": (Permission.ITEM_MOVE,),
    "transition": STATUS_CHANGES,
    "quantity": (Permission.ITEM_DISPENSE, Permission.ITEM_QUANTITY),
    "pack": (Permission.ITEM_PACK,),
    "unpack": (Permission.ITEM_PACK,),
    "scan": (Permission.ITEM_READ,),
}


class Superseded(Conflict):
    code, message = "superseded", "A later move of this item (by device time) is already recorded"


class UnknownRecord(ItemNotFound):
    code, message = "unknown_record", "No item was created with this UUID"


class InvalidChange(ValidationFailed):
    code, message = "invalid_change", "The change is not valid"


class ChangeIdReused(QtrackError):
    status_code, code = 422, "change_id_reused"
    message = "This change id was already used for a different change"


class SignatureNotPushed(QtrackError):
    status_code, code = 403, "signature_not_pushed"
    message = "Changes that need an e-signature are made online, never pushed"


async def push(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    principal: Principal,
    origin: Origin,
    batch: PushRequest,
) -> dict[str, Any]:
    """Apply a device's batch of changes in order; one answer per change, and UUID -> code
    of the items it created."""
    results: list[dict[str, Any]] = []
    created: dict[str, str] = {}
    # The items the batch names, locked first in id order: another device's batch over the same
    # items in another order waits for this one instead of deadlocking against it.
    await writes.lock_in_order(session, _named_codes(batch.changes))
    for raw in batch.changes:
        result = await _one(session, settings, limiter, principal, origin, batch.device_id, raw)
        results.append(result)
        if result["outcome"] == "applied" and result.get("uuid") and result.get("item"):
            created[result["uuid"]] = result["item"]["code"]
    return {"results": results, "created": created}


def _named_codes(raws: list[dict[str, Any]]) -> list[str]:
    """The item and container codes a batch's changes name as they were sent (a change that
    names them by UUID, or inside a scan, is locked when it is applied)."""
    return [
        value
        for raw in raws
        for value in (raw.get("item"), raw.get("container"))
        if isinstance(value, str) and 0 < len(value) <= 64
    ]


def _change_id(raw: dict[str, Any]) -> str | None:
    value = raw.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


async def _one(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    principal: Principal,
    origin: Origin,
    device_id: str | None,
    raw: dict[str, Any],
) -> dict[str, Any]:
    change_id = _change_id(raw)
    try:
        change: PushChange | None = PUSH_CHANGE.validate_python(raw)
        problem = None
    except ValidationError as exc:
        change = None
        problem = _answer(
            change_id,
            "rejected",
            reason="invalid",
            code="validation_error",
            message="The change is not valid",
            details=[
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ],
        )
    if change_id is None:
        return problem or _answer(None, "rejected", reason="invalid", code="validation_error")
    try:
        json_safe(raw)
    except ValueError as exc:
        # Its row could not hold it (a JSON column), so it is answered, not kept: a retry
        # gets the same answer.
        return _answer(
            change_id, "rejected", reason="invalid", code="validation_error",
            message=f"The change cannot be kept: {exc}",
        )  # fmt: skip
    claimed = await _claim(session, principal, device_id, change_id, change, raw)
    if isinstance(claimed, dict):
        return claimed  # answered before: the same answer, nothing applied again
    if problem is None:
        assert change is not None
        problem = await _answered_by_api(session, principal, change) or await _apply_or_refuse(
            session, settings, limiter, principal, origin, change
        )
    _settle(claimed, problem)
    await session.flush()
    return problem


async def _answered_by_api(
    session: AsyncSession, principal: Principal, change: PushChange
) -> dict[str, Any] | None:
    """The answer of a change the API already made under this id as its client event id
    (a client that sent it directly, lost the answer, then queued it for a push)."""
    stored = (
        await session.execute(
            select(IdempotencyRecord.status_code, IdempotencyRecord.body).where(
                IdempotencyRecord.user_id == principal.user_id,
                IdempotencyRecord.key == change.id,
            )
        )
    ).first()
    if stored is None or stored.status_code not in (200, 201) or not isinstance(stored.body, dict):
        return None
    body = stored.body
    item = body.get("item") or next(iter(body.get("items") or []), None)
    if not isinstance(item, dict):
        return None
    events = body.get("events") or (body.get("result") or {}).get("events") or []
    uuid = change.uuid if isinstance(change, CreateChange) else None
    return _answer(
        change.id, "applied", uuid=uuid, item=item, version=item.get("version"), events=events
    )


async def _claim(
    session: AsyncSession,
    principal: Principal,
    device_id: str | None,
    change_id: str,
    change: PushChange | None,
    raw: dict[str, Any],
) -> SyncChange | dict[str, Any]:
    """The change's row, written first; or the stored answer when it came before."""
    occurred_at = change.occurred_at if change is not None else None
    row = SyncChange(
        user_id=principal.user_id,
        change_id=change_id,
        device_id=device_id,
        type=str(raw.get("type"))[:32],
        record_uuid=change.uuid if isinstance(change, CreateChange) else None,
        item_code=getattr(change, "item", None),
        base_version=getattr(change, "base_version", None),
        occurred_at=occurred_at,
        payload=raw,
    )
    try:
        # A twin in flight holds the unique key: this waits for it to commit, then fails.
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        stored = await session.scalar(
            select(SyncChange).where(
                SyncChange.user_id == principal.user_id, SyncChange.change_id == change_id
            )
        )
        if stored is None:
            return _answer(
                change_id, "rejected", reason="invalid", code="uuid_reused",
                message="Another change of yours already created an item with this UUID",
            )  # fmt: skip
        if stored.payload != raw or stored.answer is None:
            return _answer(
                change_id, "rejected", reason="invalid", code=ChangeIdReused.code,
                message=ChangeIdReused.message,
            )  # fmt: skip
        return stored.answer
    return row


def _settle(row: SyncChange, answer: dict[str, Any]) -> None:
    row.outcome = answer["outcome"]
    row.reason = answer.get("reason")
    row.error_code = answer.get("code")
    row.message = (answer.get("message") or "")[:1000] or None
    row.answer = answer
    if answer.get("item"):
        row.item_code = answer["item"]["code"]


def _answer(change_id: str | None, outcome: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": change_id,
        "outcome": outcome,
        **{k: v for k, v in fields.items() if v is not None},
    }


async def _apply_or_refuse(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    principal: Principal,
    origin: Origin,
    change: PushChange,
) -> dict[str, Any]:
    code: str | None = None
    try:
        code = await _target(session, change)
        # The savepoint rolls this change back alone; none of these errors keeps changes
        # (no password is ever pushed).
        async with session.begin_nested():
            result = await _apply(session, settings, limiter, principal, origin, change, code)
    except Busy as exc:
        # A move that gave way to another change of the same container is not refused for
        # good: the whole batch is answered 503 and sent again (docs/sync.md), as when the
        # database picks this batch to end a deadlock (`core.errors.DatabaseBusy`).
        raise DatabaseBusy() from exc
    except QtrackError as exc:
        return await _refused(session, change, code, exc)
    uuid = change.uuid if isinstance(change, CreateChange) else None
    return _answer(
        change.id,
        "applied",
        uuid=uuid,
        item=result.item.model_dump(mode="json"),
        version=result.item.version,
        events=[event.model_dump(mode="json") for event in result.events],
    )


async def _target(session: AsyncSession, change: PushChange) -> str | None:
    """The code of the item a change is about (a UUID made offline is looked up)."""
    if not isinstance(change, ItemChange):
        return None
    if change.item is not None:
        return change.item
    assert change.item_uuid is not None
    return await _code_of_uuid(session, change.item_uuid)


async def _code_of_uuid(session: AsyncSession, uuid: str) -> str:
    code = await session.scalar(
        select(SyncChange.item_code).where(
            SyncChange.record_uuid == uuid, SyncChange.outcome == "applied"
        )
    )
    if code is None:
        raise UnknownRecord(details={"uuid": uuid})
    return code


def _context(change: PushChange) -> EventContext:
    return EventContext(
        client_event_id=change.id,
        occurred_at=change.occurred_at,
        latitude=change.latitude,
        longitude=change.longitude,
    )


def _need(principal: Principal, kind: str) -> None:
    if not any(principal.can(p) for p in NEEDS[kind]):
        raise PermissionDenied(details={"needs_any_of": list(NEEDS[kind])})


async def _apply(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    principal: Principal,
    origin: Origin,
    change: PushChange,
    code: str | None,
) -> ChangeResult:
    _need(principal, change.type)
    context = _context(change)
    if isinstance(change, CreateChange):
        return await _create(session, settings, principal, change)
    if isinstance(change, ScanChange):
        return await _scan(session, settings, limiter, principal, origin, change)
    assert code is not None
    if isinstance(change, MoveChange):
        await _refuse_superseded(session, change, code)
        return await moves.move(
            session, code=code, location=change.location, actor=principal,
            reason=change.reason, context=context,
        )  # fmt: skip
    if isinstance(change, TransitionChange):
        return await changes.change_status(
            session, settings, limiter, code=code, transition=change.transition, to=change.to,
            actor=principal, reason=change.reason, password=None, origin=origin, context=context,
        )  # fmt: skip
    if isinstance(change, QuantityChange):
        if change.kind == "adjust" and await _stale(session, change, code):
            # A count is an absolute figure: one made on an old version would undo what
            # happened since.
            raise VersionMismatch(details={"base_version": change.base_version})
        return await changes.change_quantity(
            session, code=code, kind=change.kind, amount=change.amount, actor=principal,
            reason=change.reason, context=context, settings=settings,
        )  # fmt: skip
    if isinstance(change, PackChange):
        container = change.container
        if container is None:
            if change.container_uuid is None:
                raise InvalidChange("Name the container by code or by UUID")
            container = await _code_of_uuid(session, change.container_uuid)
        return await containers_service.pack(
            session, code=code, container=container, actor=principal, context=context
        )
    assert isinstance(change, UnpackChange)
    return await containers_service.unpack(
        session, code=code, actor=principal, reason=change.reason, context=context
    )


async def _create(
    session: AsyncSession, settings: Settings, principal: Principal, change: CreateChange
) -> ChangeResult:
    if change.record.count != 1:
        raise InvalidChange("A pushed create makes one item (count 1)")
    spec = change.record.model_copy(
        update={"client_event_id": change.id, "occurred_at": change.occurred_at}
    )
    (registered,) = await create.register_items(
        session, specs=[spec], actor=principal, settings=settings
    )
    (item,) = await items_service.read_items(session, [registered.id])
    return ChangeResult(item=item, events=[registered.event_read(principal)])


async def _scan(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    principal: Principal,
    origin: Origin,
    change: ScanChange,
) -> ChangeResult:
    body = change.scan.model_copy(
        update={
            "client_event_id": change.id,
            "occurred_at": change.scan.occurred_at or change.occurred_at,
        }
    )
    if body.action is None:
        raise InvalidChange("A pushed scan must carry an action")
    if body.action.password is not None:
        raise SignatureNotPushed()
    result = await scan_service.scan(
        session, settings, limiter, principal=principal, body=body, origin=origin
    )
    assert result.result is not None
    return result.result


async def _current(session: AsyncSession, code: str | None) -> Any:
    if code is None:
        return None
    return (await session.execute(repository.ITEM_BY_CODE, {"code": code.upper()})).first()


async def _stale(session: AsyncSession, change: ItemChange, code: str) -> bool:
    """Whether the device acted on a version of the item that is no longer current."""
    if change.base_version is None:
        return False
    current = await _current(session, code)
    return current is not None and current.version != change.base_version


def _last_move_of(item_id: int) -> Select[datetime]:
    return select(func.max(func.coalesce(Event.occurred_at, Event.recorded_at))).where(
        Event.item_id == item_id, Event.type == "moved"
    )


async def _refuse_superseded(session: AsyncSession, change: MoveChange, code: str) -> None:
    """Last writer wins by device time: a move made on an old version, earlier than the
    item's last recorded move, is not applied over it."""
    if change.base_version is None:
        return
    current = await _current(session, code)
    if current is None or current.version == change.base_version:
        return
    last = await session.scalar(_last_move_of(current.id))
    if last is not None and last > change.occurred_at:
        raise Superseded(details={"last_move_at": last.isoformat()})


async def _refused(
    session: AsyncSession, change: PushChange, code: str | None, exc: QtrackError
) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": exc.code, "message": exc.message, "details": exc.details}
    if isinstance(exc, NOT_ALLOWED) or exc.status_code in (401, 403):
        return _answer(change.id, "rejected", reason="not_allowed", **fields)
    stale = isinstance(exc, Superseded | VersionMismatch)
    if not stale and isinstance(change, ItemChange) and code is not None:
        stale = await _stale(session, change, code)
    if stale:
        current = await _current(session, code)
        item = item_json(current) if current is not None else None
        return _answer(change.id, "conflict", reason="stale", item=item, **fields)
    return _answer(change.id, "rejected", reason="invalid", **fields)
