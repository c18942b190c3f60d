"""Checkpoint use cases: make one, read them, export them."""

from collections.abc import AsyncIterator, Sequence

import orjson
from sqlalchemy import insert, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.audit import heads
from qtrack.audit.heads import Head
from qtrack.audit.models import Checkpoint, CheckpointHead
from qtrack.audit.statement import FIELDS, HeadsDigest, Statement, sign
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.errors import NotFound
from qtrack.signing import keys

ITEMS_PER_READ = 10_000  # item rows read per statement during a checkpoint's pass
HEADS_PER_INSERT = 5_000
HEADS_PER_LINE = 10_000  # in the export: one JSON line per this many heads
# Held for the transaction: two checkpoints made at once would both link to the same one.
_CHECKPOINT_LOCK = 0x71747261636B01


class CheckpointNotFound(NotFound):
    code, message = "checkpoint_not_found", "No such checkpoint"


async def latest(session: AsyncSession) -> Checkpoint | None:
    """The newest checkpoint, or None before the first."""
    stmt = select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)
    return (await session.scalars(stmt)).first()


async def create_checkpoint(session: AsyncSession, settings: Settings) -> Checkpoint:
    """Sign a checkpoint over every item's chain head now, linked to the one before.

    One pass over the item table in id order (a statement per 10,000 items); the heads that
    moved since the last checkpoint are kept as rows. Call it in a write transaction
    (READ COMMITTED on PostgreSQL, the default); it is what the periodic job runs.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_CHECKPOINT_LOCK})"))
    previous = await latest(session)
    cutoff = await heads.settled_last_event_id(session)
    moved = (
        None
        if previous is None
        else await heads.moved_between(session, previous.last_event_id, cutoff)
    )
    number = previous.id + 1 if previous else 1
    every, changed = HeadsDigest(), HeadsDigest()
    events = 0
    pending: list[dict[str, object]] = []
    after: int | None = 0
    while after is not None:
        page, after = await heads.heads_at(session, cutoff, after_item=after, limit=ITEMS_PER_READ)
        for head in page:
            every.add(head)
            events += head.seq
            if moved is None or head.item_id in moved:
                changed.add(head)
                pending.append(
                    {
                        "checkpoint_id": number,
                        "item_id": head.item_id,
                        "seq": head.seq,
                        "hash": head.hash,
                    }
                )
        if len(pending) >= HEADS_PER_INSERT or (after is None and pending):
            await session.execute(insert(CheckpointHead), pending)
            pending = []
    key_id, private = await keys.signer(session, settings)
    statement = Statement(
        id=number,
        created_at=utcnow(),
        last_event_id=cutoff,
        events=events,
        items=every.count,
        heads_digest=every.hexdigest(),
        changed=changed.count,
        changed_digest=changed.hexdigest(),
        prev_hash=previous.hash if previous else None,
        key_id=key_id,
    )
    row = Checkpoint(
        **{name: getattr(statement, name) for name in FIELDS},
        hash=statement.hash(),
        signature=sign(statement, private),
    )
    session.add(row)
    await session.flush()
    return row


async def get_checkpoint(session: AsyncSession, checkpoint_id: int) -> Checkpoint:
    """One checkpoint by its number; 404 checkpoint_not_found."""
    row = await session.get(Checkpoint, checkpoint_id)
    if row is None:
        raise CheckpointNotFound(
            f"No checkpoint {checkpoint_id}", details={"checkpoint_id": checkpoint_id}
        )
    return row


async def list_checkpoints(
    session: AsyncSession, *, before: int | None, limit: int
) -> Sequence[Checkpoint]:
    """Checkpoints newest first, those numbered below `before` when given."""
    stmt = select(Checkpoint).order_by(Checkpoint.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Checkpoint.id < before)
    return (await session.scalars(stmt)).all()


def checkpoint_line(row: Checkpoint) -> dict[str, object]:
    """A checkpoint as an export line says it: the statement, its hash and signature."""
    return {
        "type": "checkpoint",
        **Statement.of(row).payload(),
        "hash": row.hash,
        "signature": row.signature,
    }


async def recorded_heads(
    session: AsyncSession, checkpoint_id: int, *, after_item: int, limit: int
) -> list[Head]:
    """The heads a checkpoint recorded (those that moved since the one before), by item."""
    stmt = (
        select(CheckpointHead.item_id, CheckpointHead.seq, CheckpointHead.hash)
        .where(CheckpointHead.checkpoint_id == checkpoint_id)
        .where(CheckpointHead.item_id > after_item)
        .order_by(CheckpointHead.item_id)
        .limit(limit)
    )
    return [Head(*row) for row in await session.execute(stmt)]


async def recorded_heads_now(
    session: AsyncSession, *, after: tuple[int, int], upto: int, limit: int
) -> list[tuple[int, Head, str | None]]:
    """The recorded heads after (checkpoint_id, item_id) of checkpoints up to `upto`, in that
    order, each with its checkpoint's number and the hash its chain has at that seq now."""
    positions = (
        select(
            CheckpointHead.checkpoint_id,
            CheckpointHead.item_id,
            CheckpointHead.seq,
            CheckpointHead.hash,
        )
        .where(tuple_(CheckpointHead.checkpoint_id, CheckpointHead.item_id) > tuple_(*after))
        .where(CheckpointHead.checkpoint_id <= upto)
        .order_by(CheckpointHead.checkpoint_id, CheckpointHead.item_id)
        .limit(limit)
        .subquery()
    )
    stmt = heads.with_hash_now(positions).order_by(positions.c.checkpoint_id, positions.c.item_id)
    return [
        (row.checkpoint_id, Head(row.item_id, row.seq, row.hash), row.now)
        for row in await session.execute(stmt)
    ]


async def export_lines(session: AsyncSession) -> AsyncIterator[bytes]:
    """Every checkpoint as JSON Lines, oldest first: its statement line, then its recorded
    heads as `{"type": "heads", "checkpoint": N, "heads": [[item_id, seq, hash], ...]}`."""
    after = 0
    while True:
        stmt = select(Checkpoint).where(Checkpoint.id > after).order_by(Checkpoint.id).limit(100)
        rows = (await session.scalars(stmt)).all()
        if not rows:
            return
        for row in rows:
            yield orjson.dumps(checkpoint_line(row)) + b"\n"
            item = 0
            while True:
                page = await recorded_heads(session, row.id, after_item=item, limit=HEADS_PER_LINE)
                if not page:
                    break
                line = {
                    "type": "heads",
                    "checkpoint": row.id,
                    "heads": [[h.item_id, h.seq, h.hash] for h in page],
                }
                yield orjson.dumps(line) + b"\n"
                item = page[-1].item_id
            after = row.id
