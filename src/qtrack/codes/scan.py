"""The scan use case: resolve any scanned string, and optionally act on what it names.

One function for every edge (API, web screen, CLI): classify the string (no database), look
up what it names, answer with what the caller may do, and perform the requested action
through the same services the API uses, in the caller's transaction.
"""

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes import service as codes_service
from qtrack.codes.classify import Classified, classify
from qtrack.codes.scan_schemas import (
    ScanAction,
    ScanRequest,
    ScanResult,
)
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.core.errors import ValidationFailed
from qtrack.core.ratelimit import RateLimiter
from qtrack.items import changes, create, expiring, moves, repository, rules, writes
from qtrack.items import service as items_service
from qtrack.items.errors import ItemExpired, ItemNotFound
from qtrack.items.models import Item
from qtrack.items.schemas import ChangeResult, ItemCreate
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from qtrack.signing import tokens
from qtrack.workflow.schemas import WorkflowDefinition


class ScanInvalid(ValidationFailed):
    code, message = "scan_invalid", "The scanned data is not valid"


class NothingToActOn(ValidationFailed):
    code, message = (
        "nothing_to_act_on",
        "The scan did not match an item, so there is nothing to act on",
    )


# What a scan found: the item's lookup row (`items.repository.LOOKUP_COLUMNS`), one Core
# statement, as the API's item lookup reads it.
Found = Any


async def _item_by_code(session: AsyncSession, code: str) -> Found | None:
    try:
        return await items_service.lookup_row(session, code=code)
    except ItemNotFound:
        return None


async def _location_by_code(session: AsyncSession, code: str) -> Location | None:
    return await session.scalar(select(Location).where(Location.code == code.strip().upper()))


async def _item_by_gs1(session: AsyncSession, found: Classified) -> Found | None:
    """The item a GS1 scan describes: GTIN, then batch and serial when the scan has them."""
    data = found.gs1
    if data is None or data.gtin is None:
        return None
    stmt = select(Item.code).where(Item.gtin == data.gtin, Item.archived.is_(False))
    if data.batch:
        stmt = stmt.where(Item.batch == data.batch)
    if data.serial:
        stmt = stmt.where(Item.serial == data.serial)
    codes = (await session.scalars(stmt.order_by(Item.id).limit(2))).all()
    # Only an unambiguous match is an answer; several lots of one GTIN need the batch.
    return await _item_by_code(session, codes[0]) if len(codes) == 1 else None


def _gs1_dict(found: Classified) -> dict[str, Any] | None:
    if found.gs1 is None:
        return None
    data = asdict(found.gs1)
    return {
        k: (str(v) if v is not None and not isinstance(v, dict | str) else v)
        for k, v in data.items()
    }


def _can(principal: Principal, item: Found) -> list[str]:
    if item.archived:
        return []
    can = []
    if principal.can(Permission.ITEM_MOVE):
        can.append("move")
    if principal.can(Permission.ITEM_PACK):
        can.append("pack")
    if item.tracks_quantity and principal.can(Permission.ITEM_DISPENSE):
        can.append("dispense")
    return can


async def resolve_json(
    session: AsyncSession, settings: Settings, principal: Principal, body: ScanRequest
) -> tuple[dict[str, Any], Found | None]:
    """Say what the data is and what it matches: `ScanResult` as it is written in JSON (every
    field, in the model's order), and the item's lookup row when it matched one.

    The one body of a scan's answer. `resolve` validates it into the model; the API answers a
    scan without an action with it as it is, as the item lookup answers with its row's JSON
    (`items.service.detail_json`): validating the model and serializing it again cost about
    5 % of such a scan's instructions (docs/benchmarks.md, issue 15, twelfth pass).
    `tests/codes/test_scan_json.py` holds the two to the same JSON."""
    found = classify(body.data, body.symbology, public_base_url=settings.public_url)
    if found.kind == "invalid":
        raise ScanInvalid(
            found.error or "The scanned data is not valid",
            details={"reason": found.error, "problem": found.problem, "ai": found.ai},
        )
    hit: Found | None = None
    location: Location | None = None
    label_status = None
    message = "Nothing in qtrack matches this"
    if found.kind == "qtrack_token":
        verdict = await tokens.verify(session, codes_service.token_of(found.value))
        label_status, message = verdict.status, verdict.message
        if verdict.status == "valid" and verdict.item_id is not None:
            hit = await items_service.lookup_row(session, item_id=verdict.item_id)
    elif found.kind in ("qtrack_code", "legacy_json"):
        hit = await _item_by_code(session, found.value)
        if hit is None and found.kind == "qtrack_code":
            location = await _location_by_code(session, found.value)
    elif found.kind in ("gs1", "gs1_digital_link", "ean_upc"):
        hit = await _item_by_gs1(session, found)
        if hit is None:
            message = "No item matches this GS1 data; it can be received as a new item"

    item = hit
    answer: dict[str, Any] = {
        "kind": found.kind,
        "matched": "item" if item else "location" if location else "none",
        "value": found.value,
        "symbology": found.symbology,
        "label_status": label_status,
        "message": f"Item {item.code}"
        if item
        else f"Location {location.code}"
        if location
        else message,
        "item": None,
        "location": None,
        "gs1": _gs1_dict(found),
        "actions": (),
        "can": [],
        "offers": [],
        "result": None,
        "warnings": [],
    }
    if item is not None:
        definition = await rules.definition_for(session, item)
        answer["item"] = repository.item_json(item)
        answer["actions"] = rules.for_caller(
            "scan", item, principal, lambda: _actions(definition, item, principal)
        )
        answer["can"] = _can(principal, item)
        answer["warnings"] = await _warnings(session, settings, item, definition, body)
    elif location is not None:
        answer["location"] = {"code": location.code, "name": location.name, "kind": location.kind}
    elif found.gs1 is not None and found.gs1.gtin and principal.can(Permission.ITEM_CREATE):
        answer["offers"] = ["receive"]
    return answer, item


async def resolve(
    session: AsyncSession, settings: Settings, principal: Principal, body: ScanRequest
) -> tuple[ScanResult, Found | None]:
    """Say what the data is and what it matches, as the model (`resolve_json`, validated)."""
    answer, item = await resolve_json(session, settings, principal, body)
    return ScanResult.model_validate(answer), item


def _actions(
    definition: WorkflowDefinition, item: Any, principal: Principal
) -> tuple[dict[str, Any], ...]:
    # Shared between answers (`rules.for_caller`): only read, never changed.
    return tuple(
        rules.action_json(t)
        for t in rules.transitions_open(definition, item.status, item.archived, principal)
    )


async def scan(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    principal: Principal,
    body: ScanRequest,
    origin: Origin,
) -> ScanResult:
    """Resolve a scan and, when asked, act on it in the same transaction; the answer's
    message then says what was done."""
    result, item = await resolve(session, settings, principal, body)
    action = body.action
    if action is None:
        return result
    context = writes.context_of(body)
    if action.kind == "receive":
        changed = await _receive(session, settings, principal, result, action, body)
        result.matched, result.offers = "item", []
    elif item is None:
        raise NothingToActOn(details={"kind": result.kind, "matched": result.matched})
    elif action.kind == "transition":
        changed = await changes.change_status(
            session,
            settings,
            limiter,
            code=item.code,
            transition=_need(action.transition, "transition"),
            to=None,
            actor=principal,
            reason=action.reason,
            password=action.password,
            origin=origin,
            context=context,
        )
    elif action.kind == "move":
        changed = await moves.move(
            session,
            code=item.code,
            location=_need(action.location, "location"),
            actor=principal,
            reason=action.reason,
            context=context,
        )
    elif action.kind == "pack":
        changed = await containers_service.pack(
            session,
            code=item.code,
            container=_need(action.container, "container"),
            actor=principal,
            context=context,
        )
    else:
        changed = await changes.change_quantity(
            session,
            code=item.code,
            kind="dispense",
            amount=_need(action.amount, "amount"),
            actor=principal,
            reason=action.reason,
            context=context,
            settings=settings,
        )
    result.result = changed
    result.item = changed.item
    result.message = _done(action, changed)
    return result


async def _warnings(
    session: AsyncSession,
    settings: Settings,
    item: Found,
    definition: WorkflowDefinition,
    body: ScanRequest,
) -> list[dict[str, Any]]:
    """An expired item says so; when dispensing or picking, a lot that is not the first to
    expire at its location says which one is (first expired, first out). As `ScanWarning` is
    written in JSON."""
    today = rules.site_today(settings)
    try:
        rules.refuse_if_expired(item, definition, today, "used")
    except ItemExpired as exc:
        return [{"code": "expired", "message": exc.message, "details": exc.details}]
    picking = body.fefo or (body.action is not None and body.action.kind == "dispense")
    if not picking or item.expiry_on is None or item.location_id is None or item.archived:
        return []
    earlier = await expiring.first_to_expire(
        session,
        await items_service.expiry_states(session),
        today=today,
        type_id=item.type_id,
        gtin=item.gtin,
        location_ids=[item.location_id],
        exclude_id=item.id,
        limit=1,
    )
    if not earlier or earlier[0][0].expiry_on is None:
        return []
    first = earlier[0][0]
    if first.expiry_on >= item.expiry_on:
        return []
    return [
        {
            "code": "fefo",
            "message": f"{first.code} at {item.location_code} expires earlier "
            f"({first.expiry_on.isoformat()}): use it first",
            "details": {
                "suggested": first.code,
                "suggested_expiry_on": first.expiry_on.isoformat(),
                "scanned_expiry_on": item.expiry_on.isoformat(),
            },
        }
    ]


def _need(value: Any, field: str) -> Any:
    if value is None:
        raise ValidationFailed(
            f"This action needs '{field}'",
            details=[{"loc": ["body", "action", field], "msg": "required", "type": "missing"}],
        )
    return value


def _done(action: ScanAction, changed: ChangeResult) -> str:
    """What an action did, in a sentence (the scan screen shows it as the outcome)."""
    item = changed.item
    if not changed.events:
        return f"{item.code}: nothing to change"
    if action.kind == "receive":
        held = f" with {_amount(item.quantity)} {item.unit or ''}".rstrip()
        return f"Received {item.code}" + (held if item.quantity is not None else "")
    if action.kind == "transition":
        return f"{item.code} is now {item.status.replace('_', ' ')}"
    if action.kind == "move":
        return f"{item.code} moved to {item.location}"
    if action.kind == "pack":
        return f"{item.code} packed into {item.container}"
    left = f"{_amount(item.quantity)} {item.unit or ''}".rstrip()
    return f"Dispensed {_amount(action.amount)} of {item.code}; {left} left"


def _amount(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


async def _receive(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    result: ScanResult,
    action: ScanAction,
    body: ScanRequest,
) -> ChangeResult:
    """Register a new item from the GS1 data on a supplier's label."""
    if not principal.can(Permission.ITEM_CREATE):
        raise PermissionDenied(details={"missing": [Permission.ITEM_CREATE.value]})
    if result.gs1 is None or not result.gs1.get("gtin"):
        raise ScanInvalid("Only a scan with a GTIN can be received")
    if result.item is not None:
        raise ScanInvalid(
            "This GS1 data already matches an item", details={"item": result.item.code}
        )
    gs1 = result.gs1
    if action.location:
        await locations_service.get_by_code(session, action.location)
    spec = ItemCreate(
        type=_need(action.type, "type"),
        name=action.name or "",
        location=action.location,
        gtin=gs1["gtin"],
        batch=gs1.get("batch"),
        serial=gs1.get("serial"),
        expiry_raw=gs1.get("expiry_raw"),
        quantity=gs1.get("quantity") if action.amount is None else action.amount,
        weight_kg=gs1.get("net_weight_kg"),
        client_event_id=body.client_event_id,
        occurred_at=body.occurred_at,
    )
    (created,) = await create.register_items(
        session, specs=[spec], actor=principal, settings=settings
    )
    return ChangeResult(
        item=await items_service.read_item(session, created.id),
        events=[created.event_read(principal)],
    )
