"""Select statements for EPCIS: events with what their mapping needs, and the query filters.

Events are read here with our own statements (not another domain's read models): one row per
event with its item's keys, its location's code and the item's state at that event, in
event id order, a batch at a time (keyset on the id).

The filters invert `mapping`: a bizStep or disposition is not a column but follows from the
event's kind, its `after`, the item's type and its state, so each becomes the conditions
under which the mapping would give it.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased

from qtrack.events.models import Event
from qtrack.integrations.epcis import mapping
from qtrack.integrations.epcis.identifiers import Ref
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.locations.models import Location
from qtrack.workflow.models import Workflow

_earlier = aliased(Event)
# The item's state as of each event: its own new state for a creation or a status change,
# otherwise that of the item's latest such event before it (on the (item_id, seq) index).
STATUS_AT = func.coalesce(
    Event.after["status"].as_string(),
    select(_earlier.after["status"].as_string())
    .where(
        _earlier.item_id == Event.item_id,
        _earlier.seq < Event.seq,
        _earlier.type.in_(mapping.STATE_SETTERS),
    )
    .order_by(_earlier.seq.desc())
    .limit(1)
    .correlate(Event)
    .scalar_subquery(),
)
EVENT_TIME = func.coalesce(Event.occurred_at, Event.recorded_at)
RECORD_TIME = Event.recorded_at

EVENT_COLUMNS = (
    Event.id,
    Event.type,
    Event.occurred_at,
    Event.recorded_at,
    Event.hash,
    # `after` as its JSON text, decoded by the caller with orjson (several times faster than
    # the driver's json module); of `before` only an unpack's container is ever needed.
    cast(Event.after, Text).label("after_json"),
    Event.before["container"].as_string().label("before_container"),
    Item.code,
    Item.gtin,
    Item.serial,
    Item.batch,
    Item.unit,
    Item.type_id,
    Location.code.label("location_code"),
    STATUS_AT.label("status_at"),
)


def events_after(
    after_id: int | None, limit: int, where: Sequence[ColumnElement[bool]]
) -> Select[Any]:
    """The next `limit` events after an event id that meet the conditions, in id order."""
    stmt = (
        select(*EVENT_COLUMNS)
        .join(Item, Item.id == Event.item_id)
        .outerjoin(Location, Location.id == Event.location_id)
        .where(Event.type.not_in(mapping.NOT_EPCIS), *where)
        .order_by(Event.id)
        .limit(limit)
    )
    return stmt if after_id is None else stmt.where(Event.id > after_id)


def workflows_by_type() -> Select[Any]:
    """Each item type's id and its workflow's definition."""
    return select(ItemType.id, Workflow.definition).join(
        Workflow, Workflow.id == ItemType.workflow_id
    )


def parents(codes: Iterable[str]) -> Select[str, str | None, str | None, str | None]:
    """The keys of the containers with these codes."""
    return select(Item.code, Item.gtin, Item.serial, Item.batch).where(Item.code.in_(codes))


def event_type_filter(names: set[str]) -> ColumnElement[bool]:
    """Events that map to these EPCIS event types."""
    conditions: list[ColumnElement[bool]] = []
    if "ObjectEvent" in names:
        conditions.append(Event.type.not_in(mapping.AGGREGATIONS))
    if "AggregationEvent" in names:
        conditions.append(Event.type.in_(mapping.AGGREGATIONS))
    return or_(*conditions) if conditions else false()


def action_filter(actions: set[str]) -> ColumnElement[bool]:
    """Events that map to these actions."""
    conditions: list[ColumnElement[bool]] = []
    if "ADD" in actions:
        conditions.append(Event.type.in_(mapping.ADDS))
    if "DELETE" in actions:
        conditions.append(Event.type.in_(mapping.DELETES))
    if "OBSERVE" in actions:
        conditions.append(Event.type.not_in(mapping.ADDS + mapping.DELETES))
    return or_(*conditions) if conditions else false()


def time_filter(
    column: ColumnElement[datetime] | InstrumentedAttribute[datetime],
    ge: datetime | None,
    lt: datetime | None,
) -> list[ColumnElement[bool]]:
    """At or after `ge` and before `lt`."""
    found: list[ColumnElement[bool]] = []
    if ge is not None:
        found.append(column >= ge)
    if lt is not None:
        found.append(column < lt)
    return found


def _by_type(pairs: Iterable[tuple[int, str]], value: ColumnElement[Any]) -> ColumnElement[bool]:
    """(item type, value) is one of the pairs: grouped by type, one IN list each."""
    grouped: dict[int, list[str]] = {}
    for type_id, key in pairs:
        grouped.setdefault(type_id, []).append(key)
    return or_(
        false(),
        *(and_(Item.type_id == t, value.in_(sorted(keys))) for t, keys in sorted(grouped.items())),
    )


def biz_step_filter(steps: set[str], vocab: mapping.Vocabulary) -> ColumnElement[bool]:
    """Events whose mapping gives one of these business steps."""
    conditions: list[ColumnElement[bool]] = [
        Event.type.in_(sorted(k for k, s in mapping.KIND_BIZ_STEP.items() if s in steps)),
        and_(
            Event.type == "quantity_changed",
            Event.after["kind"]
            .as_string()
            .in_(sorted(k for k, s in mapping.QUANTITY_BIZ_STEP.items() if s in steps)),
        ),
        and_(Event.type == "observed", Event.after["biz_step"].as_string().in_(sorted(steps))),
    ]
    transition = Event.after["transition"].as_string()
    pairs = [key for key, step in vocab.biz_steps.items() if step in steps]
    changed = [_by_type(pairs, transition)]
    if "other" in steps:  # a transition no workflow names any more, or none at all
        known = {t for _, t in vocab.biz_steps}
        changed.append(or_(transition.is_(None), transition.not_in(sorted(known))))
    conditions.append(and_(Event.type == "status_changed", or_(*changed)))
    return or_(*conditions)


def disposition_filter(dispositions: set[str], vocab: mapping.Vocabulary) -> ColumnElement[bool]:
    """Events whose mapping gives one of these dispositions."""
    conditions: list[ColumnElement[bool]] = [
        and_(
            Event.type == "observed",
            Event.after["disposition"].as_string().in_(sorted(dispositions)),
        )
    ]
    if mapping.ARCHIVED_DISPOSITION in dispositions:
        conditions.append(Event.type == "archived")
    pairs = [key for key, found in vocab.dispositions.items() if found in dispositions]
    if pairs:
        by_state = ("archived", "observed", *mapping.AGGREGATIONS)
        conditions.append(and_(Event.type.not_in(by_state), _by_type(pairs, STATUS_AT)))
    return or_(*conditions)


def _quantity_events() -> ColumnElement[bool]:
    """Events that carry the item's quantity (so its class appears in their quantityList)."""
    return or_(
        Event.type == "quantity_changed",
        and_(Event.type == "created", Event.after["quantity"].as_string().is_not(None)),
    )


def epc_filter(refs: Iterable[Ref]) -> ColumnElement[bool]:
    """Events naming one of these instances in their epcList, childEPCs or parentID."""
    box = aliased(Item)  # the container, apart from the event's own item
    conditions: list[ColumnElement[bool]] = []
    for ref in refs:
        if ref.code is not None:
            # Our URI names the item only when it has no GS1 name of its own (`identify`);
            # a container is named so unless it has a GTIN and a serial (`instance_uri`).
            conditions.append(
                and_(
                    Item.code == ref.code,
                    or_(Item.gtin.is_(None), and_(Item.serial.is_(None), Item.batch.is_(None))),
                )
            )
            named = and_(box.code == ref.code, or_(box.gtin.is_(None), box.serial.is_(None)))
        elif ref.gtin is not None and ref.serial is not None and ref.lot is None:
            conditions.append(and_(Item.gtin == ref.gtin, Item.serial == ref.serial))
            named = and_(box.gtin == ref.gtin, box.serial == ref.serial)
        else:
            continue
        containers = select(box.code).where(named)
        conditions.append(
            or_(
                and_(Event.type == "packed", Event.after["container"].as_string().in_(containers)),
                and_(
                    Event.type == "unpacked",
                    Event.before["container"].as_string().in_(containers),
                ),
            )
        )
    return or_(false(), *conditions)


def epc_class_filter(refs: Iterable[Ref]) -> ColumnElement[bool]:
    """Events naming one of these classes in their quantityList or childQuantityList."""
    conditions: list[ColumnElement[bool]] = []
    for ref in refs:
        if ref.gtin is not None and ref.lot is not None and ref.serial is None:
            lot = and_(Item.gtin == ref.gtin, Item.batch == ref.lot)
            # Known by its lot: every event of the item names it; a serialised item of the
            # lot counts its quantity in it.
            conditions.append(and_(lot, or_(Item.serial.is_(None), _quantity_events())))
        elif ref.gtin is not None and ref.lot is None and ref.serial is None:
            conditions.append(and_(Item.gtin == ref.gtin, Item.batch.is_(None), _quantity_events()))
        elif ref.code is not None:
            conditions.append(and_(Item.code == ref.code, Item.gtin.is_(None), _quantity_events()))
    return or_(false(), *conditions)


def place_filter(
    refs: Sequence[Ref], uris: Sequence[str], field: str, *, within: bool = False
) -> ColumnElement[bool]:
    """Events at these places (or, `within`, anywhere in their subtrees): qtrack locations,
    or the places an observer named (`field`: read_point or biz_location; no tree known)."""
    codes = sorted({r.location for r in refs if r.location is not None})
    ours: ColumnElement[bool] = false()
    if codes and within:
        top = aliased(Location)
        ours = exists(select(top.id).where(top.code.in_(codes), Location.path.startswith(top.path)))
    elif codes:
        ours = Location.code.in_(codes)
    return or_(
        and_(Event.type != "observed", ours),
        and_(Event.type == "observed", Event.after[field].as_string().in_(sorted(set(uris)))),
    )


_OUR_EVENT_ID = re.compile(
    r"^urn:uuid:([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-[89ab]([0-9a-f]{3})-([0-9a-f]{12})$"
)


def event_id_filter(event_ids: Iterable[str]) -> ColumnElement[bool]:
    """Events with these eventIDs (`mapping.event_id`: 126 of the hash's first 128 bits)."""
    patterns = []
    for value in event_ids:
        found = _OUR_EVENT_ID.match(value.lower())
        if found:
            a, b, c, d, e = found.groups()
            patterns.append(Event.hash.like(f"{a}{b}_{c}_{d}{e}%"))
    return or_(false(), *patterns)
