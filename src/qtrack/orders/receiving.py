"""Receiving what arrived against an approved order, by scanning or typing.

A receipt names (or lets qtrack find) one line, registers the goods as new lots through
`items.create.register_items` (codes, `created` events, first labels, counts, exactly as any
registration), adds an `order_received` event to each naming the order, and moves the line's
received quantity. Everything holds the order's row lock, so twin receipts take turns: the
second sees the first's quantity (and needs a reason to go past the order), and a retry with
the same `client_event_id` finds the first's receipt and changes nothing; the same id with
something else in the receipt is refused (422 idempotency_key_reused), not taken for a retry.
"""

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes.classify import classify
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.digits import ascii_digits
from qtrack.core.idempotency import IdempotencyKeyReused
from qtrack.events import service as events_service
from qtrack.events.service import Entry
from qtrack.item_types.models import ItemType
from qtrack.items import create, writes
from qtrack.items.models import Item
from qtrack.items.schemas import MAX_BATCH, ItemCreate
from qtrack.orders import repository
from qtrack.orders.actions import check_from
from qtrack.orders.errors import (
    OrderLineNotFound,
    OverReceiveReasonRequired,
    ReceiptInvalid,
    ReceiptLineUnknown,
)
from qtrack.orders.models import RestockOrder, RestockOrderLine, RestockReceipt
from qtrack.orders.schemas import ReceiveBody, ReceiveOutcome
from qtrack.orders.service import check_version, get_order, need, record

RECEIVING = ("approved", "partly_received")


@dataclass(frozen=True)
class Arrived:
    """What a receipt says arrived, the scan and the typed fields merged."""

    gtin: str | None
    batch: str | None
    serial: str | None
    expiry_on: date | None
    expiry_raw: str | None
    quantity: Decimal | None


def arrived(body: ReceiveBody, settings: Settings) -> Arrived:
    """The scan's GS1 data (GTIN, batch, serial, expiry, count) under the typed fields."""
    gs1: dict[str, Any] = {}
    if body.data:
        found = classify(body.data, body.symbology, public_base_url=settings.public_url)
        if found.kind == "invalid":
            raise ReceiptInvalid(
                f"The scan is not valid: {found.error}",
                details={"field": "data", "problem": found.problem},
            )
        if found.gs1 is None:
            raise ReceiptInvalid(
                "The scan holds no GS1 data (GTIN, batch, expiry); type what arrived instead",
                details={"field": "data", "kind": found.kind},
            )
        data = found.gs1
        gs1 = {
            "gtin": data.gtin,
            "batch": data.batch,
            "serial": data.serial,
            "expiry_on": data.expiry_on,
            "expiry_raw": data.expiry_raw,
            "quantity": data.quantity,
        }
    # The raw YYMMDD of the scan is kept unless a different date was typed (the receive
    # screen types the scan's own date into the form: that one keeps it too).
    typed_other = body.expiry_raw is not None or (
        body.expiry_on is not None and body.expiry_on != gs1.get("expiry_on")
    )
    return Arrived(
        gtin=body.gtin or gs1.get("gtin"),
        batch=body.batch or gs1.get("batch"),
        serial=body.serial or gs1.get("serial"),
        expiry_on=body.expiry_on,
        expiry_raw=body.expiry_raw if typed_other else gs1.get("expiry_raw"),
        quantity=body.quantity if body.quantity is not None else gs1.get("quantity"),
    )


async def _types_with_gtin(session: AsyncSession, gtin: str) -> set[int]:
    rows = await session.scalars(select(Item.type_id).where(Item.gtin == gtin).distinct().limit(5))
    return set(rows)


def _same_gtin(ref: str, gtin: str) -> bool:
    return ascii_digits(ref) and len(ref) in (8, 12, 13, 14) and ref.zfill(14) == gtin


async def pick_line(
    session: AsyncSession,
    order: RestockOrder,
    lines: list[tuple[RestockOrderLine, ItemType]],
    *,
    position: int | None,
    type_key: str | None,
    gtin: str | None,
) -> tuple[RestockOrderLine, ItemType]:
    """The line a receipt is for: named, else the only one of the type, else the only one
    whose supplier reference (or earlier lots) has the GTIN, else the only line."""
    if position is not None:
        for line, item_type in lines:
            if line.position == position:
                return line, item_type
        raise OrderLineNotFound(
            f"Order {order.code} has no line {position}",
            details={"order": order.code, "line": position},
        )
    candidates = lines
    if type_key is not None:
        candidates = [(ln, t) for ln, t in lines if t.key == type_key]
    elif gtin is not None:
        candidates = [(ln, t) for ln, t in lines if _same_gtin(ln.supplier_ref, gtin)]
        if not candidates:
            types = await _types_with_gtin(session, gtin)
            candidates = [(ln, t) for ln, t in lines if t.id in types]
    if len(candidates) > 1:
        # Several lines of a kind: the one still waiting for goods, if only one is.
        waiting = [(ln, t) for ln, t in candidates if ln.received_quantity < ln.quantity]
        candidates = waiting if len(waiting) == 1 else candidates
    if len(candidates) != 1:
        raise ReceiptLineUnknown(
            f"Name the line of {order.code} this is for",
            details={
                "order": order.code,
                "lines": [{"line": ln.position, "type": t.key} for ln, t in candidates or lines],
            },
        )
    return candidates[0]


def _amount(line_type: ItemType, given: Decimal | None) -> Decimal:
    """How much arrived: for a type that counts no quantity, a number of items (default 1)."""
    if line_type.tracks_quantity:
        # A typed quantity is more than 0 (its schema); a scan's count (GS1 AI 30) may be 0.
        if given is None or given <= 0:
            raise ReceiptInvalid(
                f"Say how much {line_type.key} arrived (in {line_type.unit}), more than 0",
                details={"field": "quantity"},
            )
        return given
    count = Decimal(1) if given is None else given
    if count != count.to_integral_value() or not 1 <= count <= MAX_BATCH:
        raise ReceiptInvalid(
            f"{line_type.key} is received as a whole number of items, 1 to {MAX_BATCH}",
            details={"field": "quantity"},
        )
    return count


def _spec(body: ReceiveBody, what: Arrived, line_type: ItemType, amount: Decimal) -> ItemCreate:
    try:
        return ItemCreate(
            type=line_type.key,
            name=body.name or "",
            location=body.location or None,
            gtin=what.gtin,
            batch=what.batch,
            serial=what.serial,
            expiry_on=what.expiry_on,
            expiry_raw=what.expiry_raw,
            quantity=amount if line_type.tracks_quantity else None,
            count=1 if line_type.tracks_quantity else int(amount),
            client_event_id=body.client_event_id,
            occurred_at=body.occurred_at,
        )
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ReceiptInvalid(
            "; ".join(p["message"] for p in problems), details={"problems": problems}
        ) from None


def fingerprint(body: ReceiveBody) -> str:
    """What a receipt said, hashed: a retry says the same."""
    said = body.model_dump(mode="json", exclude={"client_event_id"})
    return hashlib.sha256(orjson.dumps(said, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def _repeat(
    session: AsyncSession, order: RestockOrder, body: ReceiveBody, print_: str
) -> ReceiveOutcome | None:
    """The first receipt of this `client_event_id`, when this one is its retry."""
    if body.client_event_id is None:
        return None
    prior = await session.scalar(
        select(RestockReceipt).where(
            RestockReceipt.order_id == order.id,
            RestockReceipt.client_event_id == body.client_event_id,
        )
    )
    if prior is None:
        return None
    # Receipts recorded before fingerprints were kept have none; their retries are answered.
    if prior.fingerprint is not None and prior.fingerprint != print_:
        raise IdempotencyKeyReused(
            f"client_event_id '{body.client_event_id}' was already used on {order.code} "
            "for a different receipt",
            details={"order": order.code, "client_event_id": body.client_event_id},
        )
    position = await session.scalar(
        select(RestockOrderLine.position).where(RestockOrderLine.id == prior.line_id)
    )
    return ReceiveOutcome(
        line=position or 0,
        quantity=prior.quantity,
        items=list(prior.item_codes),
        over_received=prior.reason is not None,
        repeated=True,
        order=await repository.read(session, order),
    )


async def receive(
    session: AsyncSession,
    settings: Settings,
    *,
    ref: str | int,
    body: ReceiveBody,
    actor: Principal,
    expected_version: int | None = None,
) -> ReceiveOutcome:
    """Record what arrived against an approved (or partly received) order: new lots, the
    line's received quantity, and the order's status. A retry (the same client event id and
    the same receipt) answers the first receipt whatever the order's version since."""
    need(actor, Permission.ORDER_RECEIVE)
    order = await get_order(session, ref, lock=True)
    print_ = fingerprint(body)
    repeated = await _repeat(session, order, body, print_)
    if repeated is not None:
        return repeated
    check_version(order, expected_version)
    check_from(order, *RECEIVING, step="received")
    what = arrived(body, settings)
    lines = await repository.lines_of(session, order.id)
    line, line_type = await pick_line(
        session, order, lines, position=body.line, type_key=body.type, gtin=what.gtin
    )
    amount = _amount(line_type, what.quantity)
    after = line.received_quantity + amount
    over = after > line.quantity
    if over and body.reason is None:
        raise OverReceiveReasonRequired(
            f"Line {line.position} of {order.code} ordered {line.quantity.normalize():f}; "
            f"{line.received_quantity.normalize():f} arrived before and {amount.normalize():f} "
            "now: say why more is taken in",
            details={
                "order": order.code,
                "line": line.position,
                "ordered": str(line.quantity),
                "received": str(line.received_quantity),
                "arriving": str(amount),
            },
        )
    spec = _spec(body, what, line_type, amount)
    registered = await create.register_items(session, specs=[spec], actor=actor, settings=settings)
    reason = body.reason or f"Received on order {order.code}"
    marked = await events_service.record(
        session,
        actor,
        [
            Entry(
                item_id=r.id,
                head=(r.event.seq, r.event.hash),
                location_id=r.event.location_id,
                kind="order_received",
                after={"order": order.code, "line": line.position, "over_received": over},
                reason=reason,
            )
            for r in registered
        ],
    )
    await writes.move_heads(session, marked)
    codes = [r.code for r in registered]
    session.add(
        RestockReceipt(
            order_id=order.id,
            line_id=line.id,
            quantity=amount,
            gtin=what.gtin,
            batch=what.batch,
            expiry_on=spec.expiry_on,
            item_codes=codes,
            reason=body.reason,
            client_event_id=body.client_event_id,
            fingerprint=print_,
            received_by_id=actor.user_id,
            received_at=utcnow(),
        )
    )
    line.received_quantity = after
    complete = all(
        (after if ln.id == line.id else ln.received_quantity) >= ln.quantity for ln, _ in lines
    )
    order.status = "received" if complete else "partly_received"
    if complete:
        order.received_at = utcnow()
    order.version += 1
    record(
        session,
        order,
        "received",
        actor,
        line=line.position,
        quantity=str(amount),
        items=codes[:50],
        over_received=over,
        reason=body.reason,
    )
    await session.flush()
    return ReceiveOutcome(
        line=line.position,
        quantity=amount,
        items=codes,
        over_received=over,
        repeated=False,
        order=await repository.read(session, order),
    )
