"""Registering items: codes from each type's sequence, a `created` event and a first label
each (its token signed when printed: `signing.tokens.label_token`), and the counts; in a few
Core statements whatever the number of items.

`created_rows` is the one definition of what a registration writes for an item; the CSV
importer's bulk loader (`items.bulk_load`) builds its rows with it too, in worker processes,
and only copies them differently.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.events import service as events_service
from qtrack.events.schemas import EventRead
from qtrack.events.service import Entry, EventContext, Recorded
from qtrack.item_types import service as item_types
from qtrack.item_types.models import ItemType
from qtrack.items import counts, on_hand, rules
from qtrack.items.models import Item
from qtrack.items.schemas import ItemCreate
from qtrack.locations import service as locations_service
from qtrack.signing import tokens
from qtrack.workflow import service as workflow_service

_item: Table = Item.__table__  # type: ignore[assignment]
_INSERT_ITEMS = insert(_item)
# The fields of a registration that are the item's own, as given.
FIELDS = (
    "name", "quantity", "batch", "serial", "gtin", "expiry_on", "expiry_raw", "weight_kg",
    "attributes",
)  # fmt: skip


class NewItem(Protocol):
    """What `created_rows` reads of a registration: an `ItemCreate`, or a row the bulk
    loader checked into one and kept (`bulk_rows.Checked`)."""

    @property
    def client_event_id(self) -> str | None: ...
    @property
    def occurred_at(self) -> datetime | None: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...
    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> Decimal | None: ...
    @property
    def batch(self) -> str | None: ...
    @property
    def serial(self) -> str | None: ...
    @property
    def gtin(self) -> str | None: ...
    @property
    def expiry_on(self) -> date | None: ...
    @property
    def expiry_raw(self) -> str | None: ...
    @property
    def weight_kg(self) -> Decimal | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def location(self) -> str | None: ...
    @property
    def count(self) -> int: ...


@dataclass(frozen=True)
class Registered:
    """An item just registered: its id and code, where it is, and its `created` event."""

    id: int
    code: str
    location: str | None
    event: Recorded

    def event_read(self, actor: Principal | None) -> EventRead:
        """The `created` event as the API shows it."""
        return events_service.read_of(
            self.event,
            item_code=self.code,
            actor=actor.username if actor else None,
            location=self.location,
        )


def created_after(code: str, status: str, unit: str, spec: NewItem) -> dict[str, Any]:
    """What a `created` event says the new item is (empty values left out)."""
    values = {
        "code": code, "status": status, "name": spec.name, "location": spec.location,
        "quantity": spec.quantity, "unit": unit, "batch": spec.batch, "serial": spec.serial,
        "gtin": spec.gtin, "expiry_on": spec.expiry_on, "weight_kg": spec.weight_kg,
        "attributes": spec.attributes or None,
    }  # fmt: skip
    return {k: v for k, v in values.items() if v is not None and v != ""}


def created_rows(
    *,
    item_id: int,
    code: str,
    item_type: ItemType,
    status: str,
    location_id: int | None,
    spec: NewItem,
    actor_id: int | None,
    token_id: int | None,
    now: datetime,
) -> tuple[dict[str, Any], Entry, dict[str, Any]]:
    """For one new item: its row (chain head included), its `created` event's entry, and
    that event's row as `events.service.record` writes it at `now`."""
    entry = Entry(
        item_id=item_id,
        head=(0, None),
        location_id=location_id,
        kind="created",
        after=created_after(code, status, item_type.unit, spec),
        context=EventContext(
            client_event_id=spec.client_event_id if spec.count == 1 else None,
            occurred_at=spec.occurred_at,
            latitude=spec.latitude if spec.count == 1 else None,
            longitude=spec.longitude if spec.count == 1 else None,
        ),
    )
    event = events_service.event_values(
        entry, actor_id=actor_id, token_id=token_id, recorded_at=now
    )
    item = {
        "id": item_id, "code": code, "type_id": item_type.id, "status": status,
        "location_id": location_id, "unit": item_type.unit,
        **{name: getattr(spec, name) for name in FIELDS},
        "version": 1, "archived": False, "event_count": 1, "last_event_hash": event["hash"],
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    return item, entry, event


async def draw_ids(session: AsyncSession, count: int) -> list[int]:
    """Ids for `count` new items, drawn before the rows exist (the event hash and the label
    token contain them): from the item sequence on PostgreSQL; on SQLite after the largest
    (the transaction holds SQLite's write lock, BEGIN IMMEDIATE)."""
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        drawn = await session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('item', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(drawn)
    last = await session.scalar(select(func.max(_item.c.id)))
    first = (last or 0) + 1
    return list(range(first, first + count))


async def register_items(
    session: AsyncSession,
    *,
    specs: Sequence[ItemCreate],
    actor: Principal,
    settings: Settings,
) -> list[Registered]:
    """Register items: codes from each type's sequence, one `created` event and a first
    label each (issued with the active signing key, created on first use from the settings'
    secret)."""
    types: dict[str, ItemType] = {}
    locations: dict[str, int] = {}
    # Each type's row locked (in the order of their keys, as every registration takes them),
    # so that a change of the type (its prefix, its quantity tracking) waits for this
    # registration or is read as made; the code counter's bump below re-uses the lock.
    for type_key in sorted({spec.type for spec in specs}):
        types[type_key] = await item_types.get_item_type(session, type_key, locked=True)
    for spec in specs:
        if spec.location and spec.location not in locations:
            locations[spec.location] = (
                await locations_service.open_by_code(session, spec.location)
            ).id
    for index, spec in enumerate(specs):
        rules.check_fields(
            types[spec.type],
            spec.model_dump(),
            loc=["body", "items", str(index)] if len(specs) > 1 else ["body"],
        )
    # One counter bump per type for the whole batch, on the rows locked above.
    needed: dict[int, int] = {}
    for spec in specs:
        type_id = types[spec.type].id
        needed[type_id] = needed.get(type_id, 0) + spec.count
    by_id = {t.id: t for t in types.values()}
    pools = {
        type_id: iter(await item_types.reserve_codes(session, by_id[type_id], count))
        for type_id, count in sorted(needed.items())
    }
    ids = iter(await draw_ids(session, sum(needed.values())))

    now = utcnow()
    items: list[dict[str, Any]] = []
    entries: list[Entry] = []
    places: list[str | None] = []
    added: dict[tuple[int, str], list[int | None]] = {}
    stock: dict[tuple[int, int | None], Decimal] = {}
    for spec in specs:
        item_type = types[spec.type]
        definition = workflow_service.definition_of(item_type.workflow)
        status = definition.initial
        location_id = locations.get(spec.location or "")
        if on_hand.stocked(definition, status):
            key = (item_type.id, location_id)
            stock[key] = stock.get(key, Decimal(0)) + spec.count * on_hand.amount(
                item_type.tracks_quantity, spec.quantity
            )
        for _ in range(spec.count):
            item, entry, _ = created_rows(
                item_id=next(ids), code=next(pools[item_type.id]), item_type=item_type,
                status=status, location_id=location_id, spec=spec, actor_id=actor.user_id,
                token_id=actor.token_id, now=now,
            )  # fmt: skip
            items.append(item)
            entries.append(entry)
            places.append(spec.location)
        added.setdefault((item_type.id, status), []).extend([location_id] * spec.count)
    await session.execute(_INSERT_ITEMS, items)
    recorded = await events_service.record(session, actor, entries, recorded_at=now)
    await tokens.issue_first_labels(
        session, settings, item_ids=[i["id"] for i in items], issued_by=actor.user_id
    )
    await counts.items_added(session, added)
    await on_hand.changed(session, stock)
    return [
        Registered(id=item["id"], code=item["code"], location=place, event=event)
        for item, place, event in zip(items, places, recorded, strict=True)
    ]
