"""The change feed: every event, in an order that never changes once read, by cursor.

A position is (txid, event id). On PostgreSQL `txid` is the id of the transaction that wrote
the event (a column default, `pg_current_xact_id()`); on SQLite it is 0. A page is the events
after a position in (txid, id) order, and on PostgreSQL only those whose transaction id is
below the reading snapshot's xmin: every transaction below xmin has ended, so no event can
still appear before the page's last position (no skipping a late commit), and a rolled-back
transaction's rows are never visible (no phantoms). On SQLite one writer at a time holds the
lock from its first write to its commit, so ids are handed out in commit order. The full
argument is in docs/architecture.md, "The change feed".

Durable consumers (`@consumer("webhooks")`) keep their position in `feed_consumer`; a runner
hands each a batch of changes in order and moves its position in the same transaction as
the consumer's own writes: at least once, in order, and exactly once for database writes.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import BigInteger, Select, Text, bindparam, cast, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.clock import utcnow
from qtrack.core.pagination import InvalidCursor, decode_key_cursor, encode_cursor
from qtrack.core.state import AppState
from qtrack.events.models import Event, FeedConsumer
from qtrack.jobs import registry
from qtrack.jobs.registry import JobContext
from qtrack.jobs.runner import backoff_s

log = structlog.get_logger("qtrack.feed")

MAX_PAGE = 1000
START = (0, 0)  # before every event


@dataclass(frozen=True)
class Change:
    """One recorded event, as the feed hands it out."""

    position: str  # the cursor that reads on after this change
    event_id: int
    item_id: int
    seq: int
    kind: str
    actor_id: int | None
    token_id: int | None
    client_event_id: str | None
    occurred_at: datetime | None
    recorded_at: datetime
    location_id: int | None
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None
    signed_by_id: int | None
    signature_meaning: str | None
    hash: str


@dataclass(frozen=True)
class FeedPage:
    """Changes in feed order, and the cursor to read on from (the same position when none)."""

    changes: list[Change]
    next_cursor: str
    has_more: bool


def encode_position(position: tuple[int, int]) -> str:
    """The opaque cursor for a feed position."""
    return encode_cursor(list(position))


def decode_position(cursor: str | None) -> tuple[int, int]:
    """The position a cursor stands for (the start for None); 400 invalid_cursor if it is
    not one of ours."""
    value = decode_key_cursor(cursor, int)
    if value is None:
        return START
    txid, event_id = value
    if isinstance(txid, bool) or txid < 0 or event_id < 0:
        raise InvalidCursor()
    return int(txid), int(event_id)


_COLUMNS = (
    Event.txid, Event.id, Event.item_id, Event.seq, Event.type, Event.actor_id, Event.token_id,
    Event.client_event_id, Event.occurred_at, Event.recorded_at, Event.location_id,
    Event.before, Event.after, Event.reason, Event.signed_by_id, Event.signature_meaning,
    Event.hash,
)  # fmt: skip
# Transactions below the snapshot's xmin have all ended (committed or rolled back).
_XMIN = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
_AFTER = tuple_(Event.txid, Event.id) > tuple_(bindparam("txid"), bindparam("event_id"))


def _page(dialect: str) -> Select[Any]:
    stmt = select(*_COLUMNS).where(_AFTER)
    if dialect == "postgresql":
        stmt = stmt.where(Event.txid < _XMIN)
    return stmt.order_by(Event.txid, Event.id).limit(bindparam("limit"))


def _last(dialect: str) -> Select[int, int]:
    stmt = select(Event.txid, Event.id)
    if dialect == "postgresql":
        stmt = stmt.where(Event.txid < _XMIN)
    return stmt.order_by(Event.txid.desc(), Event.id.desc()).limit(1)


_PAGE = {name: _page(name) for name in ("postgresql", "sqlite")}
_LAST = {name: _last(name) for name in ("postgresql", "sqlite")}


async def read_changes(session: AsyncSession, after: str | None, limit: int = 100) -> FeedPage:
    """The changes after the cursor `after` (None: from the first), at most `limit` (1-1000)."""
    txid, event_id = decode_position(after)
    limit = max(1, min(limit, MAX_PAGE))
    stmt = _PAGE[session.get_bind().dialect.name]
    rows = (await session.execute(stmt, {"txid": txid, "event_id": event_id, "limit": limit})).all()
    changes = [_change(row) for row in rows]
    next_cursor = changes[-1].position if changes else encode_position((txid, event_id))
    return FeedPage(changes, next_cursor, has_more=len(changes) == limit)


def _change(row: Any) -> Change:
    return Change(
        position=encode_position((row.txid, row.id)),
        event_id=row.id,
        item_id=row.item_id,
        seq=row.seq,
        kind=row.type,
        actor_id=row.actor_id,
        token_id=row.token_id,
        client_event_id=row.client_event_id,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        location_id=row.location_id,
        before=row.before,
        after=row.after,
        reason=row.reason,
        signed_by_id=row.signed_by_id,
        signature_meaning=row.signature_meaning,
        hash=row.hash,
    )


async def latest_cursor(session: AsyncSession) -> str:
    """A cursor after every change readable now: reading on from it gives only later ones."""
    row = (await session.execute(_LAST[session.get_bind().dialect.name])).first()
    return encode_position((row.txid, row.id) if row else START)


# Durable consumers ------------------------------------------------------------------------

ConsumerHandler = Callable[[JobContext, AsyncSession, list[Change]], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerSpec:
    """A registered consumer: its handler, where a new one starts, how many changes a batch."""

    name: str
    handler: ConsumerHandler
    start: Literal["beginning", "now"]
    batch: int


_consumers: dict[str, ConsumerSpec] = {}


def consumer(
    name: str, *, start: Literal["beginning", "now"] = "now", batch: int = 100
) -> Callable[[ConsumerHandler], ConsumerHandler]:
    """Register `async def handler(ctx, session, changes) -> None` as the consumer `name`.

    The handler gets the changes after its stored position, in feed order, and writes with
    `session`: its writes and the new position commit together. If it raises, both roll
    back and the same changes come again later (with backoff), so side effects outside the
    database (an HTTP call) must be idempotent or, better, be enqueued as jobs from here.
    A consumer seen for the first time starts after the latest change ("now") or before
    the first ("beginning").
    """
    if not 1 <= batch <= MAX_PAGE:
        raise ValueError(f"batch must be 1-{MAX_PAGE}")

    def register(handler: ConsumerHandler) -> ConsumerHandler:
        old = _consumers.get(name)
        if old is not None and old.handler is not handler:
            raise ValueError(f"feed consumer {name!r} is registered twice")
        _consumers[name] = ConsumerSpec(name, handler, start, batch)
        return handler

    return register


def consumers() -> list[ConsumerSpec]:
    """Every registered consumer, by name."""
    return [_consumers[name] for name in sorted(_consumers)]


def unregister(name: str) -> None:
    """Forget a consumer (tests); its stored position stays."""
    _consumers.pop(name, None)


async def run_consumers(ctx: JobContext, *, max_batches: int = 10) -> int:
    """Give every consumer what is new for it; returns how many changes were handled."""
    handled = 0
    for spec in consumers():
        for _ in range(max_batches):
            count, more = await _one_batch(ctx.state, spec)
            handled += count
            if not more:
                break
    return handled


async def _one_batch(state: AppState, spec: ConsumerSpec) -> tuple[int, bool]:
    # A read first: nothing new must cost no write transaction (on SQLite, the write lock).
    async with state.db.session_scope("read") as session:
        row = (
            await session.execute(
                select(FeedConsumer.txid, FeedConsumer.event_id, FeedConsumer.retry_at).where(
                    FeedConsumer.name == spec.name
                )
            )
        ).first()
        if row is not None:
            if row.retry_at is not None and row.retry_at > utcnow():
                return 0, False
            cursor = encode_position((row.txid, row.event_id))
            if not (await read_changes(session, cursor, 1)).changes:
                return 0, False
    if row is None:
        async with state.db.session_scope() as session:
            await _create(session, spec)
    try:
        async with state.db.session_scope() as session:
            return await _handle(session, state, spec)
    except Exception as exc:
        await _failed(state, spec.name, exc)
        return 0, False


async def _create(session: AsyncSession, spec: ConsumerSpec) -> None:
    cursor = await latest_cursor(session) if spec.start == "now" else None
    txid, event_id = decode_position(cursor)
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(FeedConsumer)
    await session.execute(
        insert.values(
            name=spec.name, txid=txid, event_id=event_id, handled=0, failures=0,
            updated_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["name"])
    )  # fmt: skip


async def _handle(session: AsyncSession, state: AppState, spec: ConsumerSpec) -> tuple[int, bool]:
    # Another runner handling this consumer holds the row: skip it rather than wait.
    held = (
        await session.execute(
            select(FeedConsumer.txid, FeedConsumer.event_id)
            .where(FeedConsumer.name == spec.name)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if held is None:
        return 0, False
    page = await read_changes(session, encode_position((held.txid, held.event_id)), spec.batch)
    if not page.changes:
        return 0, False
    await spec.handler(JobContext(state, f"feed:{spec.name}"), session, page.changes)
    txid, event_id = decode_position(page.next_cursor)
    await session.execute(
        update(FeedConsumer)
        .where(FeedConsumer.name == spec.name)
        .values(
            txid=txid, event_id=event_id, handled=FeedConsumer.handled + len(page.changes),
            failures=0, last_error=None, retry_at=None, updated_at=utcnow(),
        )
    )  # fmt: skip
    return len(page.changes), page.has_more


async def _failed(state: AppState, name: str, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    log.warning("feed_consumer_failed", consumer=name, error=error)
    settings = state.settings
    async with state.db.session_scope() as session:
        failures = (
            await session.scalar(select(FeedConsumer.failures).where(FeedConsumer.name == name))
            or 0
        ) + 1
        delay = backoff_s(failures, settings.jobs_retry_base_s, settings.jobs_retry_max_s)
        await session.execute(
            update(FeedConsumer)
            .where(FeedConsumer.name == name)
            .values(
                failures=failures, last_error=error, updated_at=utcnow(),
                retry_at=utcnow() + timedelta(seconds=delay),
            )
        )  # fmt: skip


async def list_consumers(session: AsyncSession) -> list[FeedConsumer]:
    """Every stored consumer position, by name (for the admin page and the CLI)."""
    return list((await session.scalars(select(FeedConsumer).order_by(FeedConsumer.name))).all())


registry.poller("events.feed", run_consumers)
