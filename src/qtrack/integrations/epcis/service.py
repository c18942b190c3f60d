"""EPCIS use cases: query events, export them all as one document, capture a partner's."""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.events.service import EventContext
from qtrack.integrations.epcis import capture as reading
from qtrack.integrations.epcis import identifiers, mapping, repository, validation
from qtrack.integrations.epcis.errors import CaptureTooLarge, DocumentInvalid
from qtrack.integrations.epcis.query import EventQuery
from qtrack.integrations.epcis.schemas import (
    CapturedMention,
    CaptureReport,
    UnknownMention,
    UnknownReason,
)
from qtrack.items import changes as item_changes
from qtrack.items.models import Item
from qtrack.workflow.schemas import WorkflowDefinition

EXPORT_BATCH = 2000
_PARENTS_KEPT = 10_000  # containers remembered across batches of an export


async def vocabulary(session: AsyncSession, settings: Settings) -> mapping.Vocabulary:
    """Every item type's CBV words, from the workflows as they are now."""
    rows = (await session.execute(repository.workflows_by_type())).all()
    return mapping.vocabulary(
        settings.public_url,
        {row.id: WorkflowDefinition.model_validate(row.definition) for row in rows},
    )


def conditions(query: EventQuery, vocab: mapping.Vocabulary) -> list[ColumnElement[bool]]:
    """The query's filters as conditions on the event rows."""
    base = vocab.base_url
    where: list[ColumnElement[bool]] = []
    if query.event_types is not None:
        where.append(repository.event_type_filter(query.event_types))
    if query.actions is not None:
        where.append(repository.action_filter(query.actions))
    if query.biz_steps is not None:
        where.append(repository.biz_step_filter(query.biz_steps, vocab))
    if query.dispositions is not None:
        where.append(repository.disposition_filter(query.dispositions, vocab))
    where += repository.time_filter(repository.EVENT_TIME, query.ge_event_time, query.lt_event_time)
    where += repository.time_filter(
        repository.RECORD_TIME, query.ge_record_time, query.lt_record_time
    )
    for uris, make in (
        (query.any_epc, repository.epc_filter),
        (query.any_epc_class, repository.epc_class_filter),
    ):
        if uris is not None:
            where.append(make(_refs(uris, base)))
    for places, field, within in (
        (query.read_points, "read_point", False),
        (query.biz_locations, "biz_location", False),
        (query.read_points_within, "read_point", True),
        (query.biz_locations_within, "biz_location", True),
    ):
        if places is not None:
            refs = _refs(places, base)
            where.append(repository.place_filter(refs, places, field, within=within))
    if query.event_ids is not None:
        where.append(repository.event_id_filter(query.event_ids))
    return where


def _refs(uris: Sequence[str], base: str) -> list[identifiers.Ref]:
    # An identifier qtrack cannot read names nothing qtrack made: it just matches nothing.
    return [ref for ref in (identifiers.parse(u, base) for u in uris) if ref is not None]


async def _rows(session: AsyncSession, stmt: Any) -> Sequence[Any]:
    """The rows of a Core select, run on the session's connection (no ORM layer to pass)."""
    connection = await session.connection()
    return (await connection.execute(stmt)).all()


async def _mapped(
    session: AsyncSession,
    rows: Sequence[Any],
    vocab: mapping.Vocabulary,
    parents: dict[str, mapping.Parent],
) -> list[dict[str, Any]]:
    """The rows as EPCIS events, their containers looked up once per batch."""
    afters = [orjson.loads(row.after_json) if row.after_json else {} for row in rows]
    wanted: set[str] = set()
    for row, after in zip(rows, afters, strict=True):
        code = mapping.container_of(row.type, after, row.before_container)
        if code and code not in parents:
            wanted.add(code)
    if wanted:
        if len(parents) > _PARENTS_KEPT:
            parents.clear()
        for found in (await session.execute(repository.parents(sorted(wanted)))).all():
            parents[found.code] = mapping.Parent(found.code, found.gtin, found.serial, found.batch)
    return [
        mapping.to_epcis(row, after, vocab, parents)
        for row, after in zip(rows, afters, strict=True)
    ]


async def query_events(
    session: AsyncSession, settings: Settings, query: EventQuery
) -> tuple[dict[str, Any], int | None]:
    """One page of events as an EPCISQueryDocument, and the last event id when more follow."""
    vocab = await vocabulary(session, settings)
    stmt = repository.events_after(query.after_id, query.per_page + 1, conditions(query, vocab))
    rows = await _rows(session, stmt)
    more = len(rows) > query.per_page
    rows = rows[: query.per_page]
    events = await _mapped(session, rows, vocab, {})
    document = mapping.query_document(events, utcnow().isoformat())
    return document, rows[-1].id if more else None


async def export_document(
    session: AsyncSession,
    settings: Settings,
    *,
    since: datetime | None,
    until: datetime | None,
    write: Callable[[bytes], object],
    batch: int = EXPORT_BATCH,
) -> int:
    """Write every event (eventTime in [since, until)) as one EPCISDocument, a batch at a
    time, so memory stays flat however many there are; returns how many."""
    vocab = await vocabulary(session, settings)
    where = repository.time_filter(repository.EVENT_TIME, since, until)
    head = orjson.dumps(mapping.document_head(utcnow().isoformat()))
    opening, closing = head[: -len(b"]}}")], b"]}}"  # the event list is the last thing
    write(opening)
    parents: dict[str, mapping.Parent] = {}
    after: int | None = None
    count = 0
    while True:
        rows = await _rows(session, repository.events_after(after, batch, where))
        if not rows:
            break
        events = await _mapped(session, rows, vocab, parents)
        write((b"," if count else b"") + orjson.dumps(events)[1:-1])
        count += len(rows)
        after = rows[-1].id
        if len(rows) < batch:
            break
    write(closing)
    return count


async def _item_of(
    session: AsyncSession, settings: Settings, uri: str
) -> tuple[str | None, UnknownReason | None]:
    """The one live item an identifier names, or why there is none."""
    ref = identifiers.parse(uri, settings.public_url)
    if ref is None:
        return None, "not_understood"
    stmt = select(Item.code, Item.archived).order_by(Item.archived, Item.id).limit(3)
    if ref.code is not None:
        stmt = stmt.where(Item.code == ref.code)
    elif ref.gtin is not None:
        stmt = stmt.where(Item.gtin == ref.gtin)
        if ref.serial is not None:
            stmt = stmt.where(Item.serial == ref.serial)
        if ref.lot is not None:
            stmt = stmt.where(Item.batch == ref.lot)
    else:
        return None, "no_item"  # one of our locations: not an item
    rows = (await session.execute(stmt)).all()
    live = [row.code for row in rows if not row.archived]
    if len(live) == 1:
        return live[0], None
    if live:
        return None, "ambiguous"
    return None, "archived" if rows else "no_item"


def _document(body: bytes, limit: int) -> dict[str, Any]:
    """The body as a valid EPCISDocument; 400 with every problem located, 413 if too many."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DocumentInvalid(details=[{"pointer": "", "message": f"not JSON: {exc}"}]) from exc
    events = (document.get("epcisBody") or {}) if isinstance(document, dict) else {}
    listed = events.get("eventList") if isinstance(events, dict) else None
    if isinstance(listed, list) and len(listed) > limit:
        raise CaptureTooLarge(
            f"The document holds {len(listed)} events; one capture takes at most {limit}",
            details={"events": len(listed), "limit": limit},
        )
    problems = validation.problems(document)
    if not problems and document.get("type") != "EPCISDocument":
        problems = [{"pointer": "/type", "message": "capture takes an EPCISDocument"}]
    if problems:
        raise DocumentInvalid(details=problems)
    return dict(document)


async def capture(
    session: AsyncSession, settings: Settings, *, actor: Principal, body: bytes
) -> CaptureReport:
    """Record each event of a partner's EPCISDocument as an observation on every item it names
    that qtrack knows, all or nothing; report the identifiers qtrack could not place."""
    document = _document(body, settings.epcis_capture_limit)
    events = reading.read(document)
    identifiers = sum(len(event.mentions) for event in events)
    if identifiers > settings.epcis_capture_max_identifiers:
        limit = settings.epcis_capture_max_identifiers
        raise CaptureTooLarge(
            f"The document's events name {identifiers} identifiers; one capture takes at most "
            f"{limit}",
            details={"identifiers": identifiers, "limit": limit},
        )
    resolved: dict[str, tuple[str | None, UnknownReason | None]] = {}
    unknown: list[UnknownMention] = []
    work: list[tuple[str, int, reading.PartnerEvent, reading.Mention, str | None]] = []
    for event in events:
        parent = next((m.identifier for m in event.mentions if m.role == "parent"), None)
        named: set[str] = set()
        for mention in event.mentions:
            if mention.identifier not in resolved:
                resolved[mention.identifier] = await _item_of(session, settings, mention.identifier)
            code, reason = resolved[mention.identifier]
            if code is None:
                unknown.append(
                    UnknownMention(
                        event_index=event.index,
                        epcis_event_id=event.epcis_event_id,
                        pointer=mention.pointer,
                        identifier=mention.identifier,
                        reason=reason or "no_item",
                    )
                )
            elif code not in named:  # an item named twice in one event is told once
                named.add(code)
                work.append((code, len(work), event, mention, parent))
    recorded: list[tuple[int, CapturedMention]] = []
    already: list[tuple[int, CapturedMention]] = []
    # Items are locked in code order, so two captures naming the same items cannot deadlock.
    for code, order, event, mention, parent in sorted(work, key=lambda w: w[:2]):
        result = await item_changes.observe(
            session,
            code=code,
            actor=actor,
            observation=reading.told(event, mention, parent),
            context=EventContext(
                client_event_id=event.client_event_id, occurred_at=event.occurred_at
            ),
        )
        told = CapturedMention(
            event_index=event.index,
            epcis_event_id=event.epcis_event_id,
            pointer=mention.pointer,
            identifier=mention.identifier,
            item=result.item.code,
            seq=result.events[0].seq if result.events else None,
        )
        (recorded if result.events else already).append((order, told))
    return CaptureReport(
        events=len(events),
        recorded=[told for _, told in sorted(recorded, key=lambda w: w[0])],
        already_recorded=[told for _, told in sorted(already, key=lambda w: w[0])],
        unknown=unknown,
    )
