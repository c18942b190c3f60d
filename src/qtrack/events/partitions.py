"""The event table's monthly partitions on PostgreSQL: listing them, creating them ahead,
detaching old ones for archive.

Migration 0019 partitions `event` by RANGE of `recorded_at`, one partition per calendar month
in UTC (`event_y2026m12`), plus `event_default` for an event whose time falls in no monthly
partition. Partitions are created by the database function `qtrack_event_partition(month)`
(the migration, the daily `events.partitions` job and `qtrack db partitions create-ahead` all
call it, so every partition has the same indexes and guards).

Detaching takes the oldest month out of `event` and keeps it as a plain, still append-only
table for the operator to dump and drop. Before it goes, each item's stretch of chain in it is
summarised in `event_archive_head` (first seq and the hash before it, last seq and its hash),
so the chains that continue in `event` still verify link by link (history/verify.py,
audit/heads.py). SQLite has no partitions: everything here says so and changes nothing.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.clock import utcnow
from qtrack.core.errors import Conflict, NotFound, ServiceUnavailable
from qtrack.events.models import EventArchive, EventArchiveHead
from qtrack.jobs.registry import JobContext, job, schedule

log = structlog.get_logger("qtrack.events")

DEFAULT_PARTITION = "event_default"
MONTHLY = re.compile(r"event_y(\d{4})m(\d{2})")
# DDL on `event` waits for every transaction that touches it and queues every scan behind
# it: give up quickly rather than hold the floor back behind a long import.
LOCK_TIMEOUT_MS = 2000


class NotPartitioned(Conflict):
    code, message = "not_partitioned", "The event table is not partitioned (SQLite)"


class PartitionNotFound(NotFound):
    code, message = "partition_not_found", "No such partition of the event table"


class PartitionInUse(Conflict):
    code, message = "partition_in_use", "This partition cannot be detached"


class PartitionBusy(ServiceUnavailable):
    code, message = (
        "partition_busy",
        "The event table is in use by a long transaction; try again shortly",
    )


@dataclass(frozen=True)
class Partition:
    """One partition of `event`: its range of recorded_at (none for the default), an
    estimate of its rows (from the statistics) and its size on disk."""

    name: str
    starts_at: datetime | None
    ends_at: datetime | None
    rows: int
    bytes: int


def month_start(moment: datetime | date) -> date:
    """The first day of the month (in UTC) that `moment` falls in."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(first: date, months: int) -> date:
    """The first day of the month `months` after the month starting on `first`."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(first: date) -> str:
    """The name of the partition for the month starting on `first`."""
    return f"event_y{first.year:04d}m{first.month:02d}"


def _range(name: str) -> tuple[datetime, datetime] | None:
    found = MONTHLY.fullmatch(name)
    if found is None:
        return None
    first = date(int(found[1]), int(found[2]), 1)
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    end = add_months(first, 1)
    return start, datetime(end.year, end.month, 1, tzinfo=UTC)


async def is_partitioned(session: AsyncSession) -> bool:
    """Whether `event` is a partitioned table here (PostgreSQL after migration 0019)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    found = await session.scalar(
        text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('event')")
    )
    return found is not None


async def _require_partitioned(session: AsyncSession) -> None:
    if not await is_partitioned(session):
        raise NotPartitioned()


_LIST = text(
    """
    SELECT c.relname AS name, greatest(c.reltuples, 0)::bigint AS rows,
           pg_total_relation_size(c.oid) AS bytes
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass('event')
    """
)


async def list_partitions(session: AsyncSession) -> list[Partition]:
    """The attached partitions, oldest month first and the default last."""
    await _require_partitioned(session)
    found = []
    for row in await session.execute(_LIST):
        bounds = _range(row.name)
        starts, ends = bounds if bounds else (None, None)
        found.append(Partition(row.name, starts, ends, int(row.rows), int(row.bytes)))
    return sorted(found, key=lambda p: (p.starts_at is None, p.starts_at or datetime.min))


async def _lock_timeout(session: AsyncSession) -> None:
    await session.execute(text(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}"))


def _busy(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available


@dataclass(frozen=True)
class Made:
    """What `create_ahead` did: the partitions it created, and the months it could not
    create because `event_default` already holds events of theirs."""

    created: list[str]
    blocked: list[str]


async def create_ahead(session: AsyncSession, *, months: int, now: datetime | None = None) -> Made:
    """Create the partitions missing from this month to `months` months ahead.

    Each month on its own (a savepoint): a month whose events already went to the default
    partition (the job did not run for that long) cannot be made — PostgreSQL refuses to
    leave rows in the default that belong to a new partition, and the rows cannot be moved
    (they are append-only) — but the months after it still are."""
    await _require_partitioned(session)
    first = month_start(now or utcnow())
    made = Made([], [])
    await _lock_timeout(session)
    for offset in range(months + 1):
        month = add_months(first, offset)
        try:
            async with session.begin_nested():
                name = await session.scalar(
                    text("SELECT qtrack_event_partition(:month)"), {"month": month}
                )
        except DBAPIError as exc:
            if _busy(exc):
                raise PartitionBusy() from exc
            if getattr(exc.orig, "sqlstate", None) != "23514":  # check_violation
                raise
            made.blocked.append(partition_name(month))
            log.warning("event_partition_blocked", partition=partition_name(month))
            continue
        if name is not None:
            made.created.append(str(name))
    return made


class PartitionsBlocked(Conflict):
    code, message = (
        "partitions_blocked",
        "Some months cannot get a partition: their events are in event_default",
    )


# Each item's stretch of chain in the table being archived: first and last event, and
# whether every link in between holds (consecutive seqs, each prev_hash the hash before).
_BROKEN_LINKS = """
SELECT count(*) FROM (
    SELECT seq, prev_hash, lag(seq) OVER w AS prev_seq, lag(hash) OVER w AS before_hash
    FROM {table} WINDOW w AS (PARTITION BY item_id ORDER BY seq)
) AS links
WHERE prev_seq IS NOT NULL AND (seq <> prev_seq + 1 OR prev_hash IS DISTINCT FROM before_hash)
"""
_SUMMARY = """
INSERT INTO event_archive_head
    (archive, item_id, first_seq, first_prev_hash, last_seq, last_hash)
SELECT :name, f.item_id, f.seq, f.prev_hash, l.seq, l.hash
FROM (SELECT DISTINCT ON (item_id) item_id, seq, prev_hash FROM {table}
      ORDER BY item_id, seq) AS f
JOIN (SELECT DISTINCT ON (item_id) item_id, seq, hash FROM {table}
      ORDER BY item_id, seq DESC) AS l ON l.item_id = f.item_id
"""


async def detach(
    session: AsyncSession,
    name: str,
    *,
    checkpointed_upto: int | None = None,
    now: datetime | None = None,
) -> EventArchive:
    """Take the oldest monthly partition out of `event`, keep it as a plain append-only table
    named the same, and record what it held (`event_archive`, `event_archive_head`).

    Only the oldest attached month may go (so an item's archived events always come before
    the ones still in `event`), and never the current month or a later one. When checkpoints
    are made (`checkpointed_upto`: the latest one's cutoff), the month must lie before that
    cutoff: verifying the latest checkpoint then finds every archived head it needs."""
    await _require_partitioned(session)
    attached = await list_partitions(session)
    partition = next((p for p in attached if p.name == name), None)
    if partition is None or partition.starts_at is None or partition.ends_at is None:
        if name == DEFAULT_PARTITION:
            raise PartitionInUse("The default partition stays attached")
        raise PartitionNotFound(f"'{name}' is not an attached monthly partition of event")
    oldest = attached[0]
    if partition.name != oldest.name:
        raise PartitionInUse(f"Detach the oldest month first: {oldest.name}")
    moment = now or utcnow()
    if partition.ends_at > datetime.combine(month_start(moment), datetime.min.time(), UTC):
        raise PartitionInUse(f"'{name}' is this month's or a later one: events still land in it")
    # Safe to splice into SQL: the name is one of the attached partitions listed above.
    table = f'"{name}"'
    try:
        await _lock_timeout(session)
        await session.execute(text(f"ALTER TABLE event DETACH PARTITION {table}"))
    except DBAPIError as exc:
        if _busy(exc):
            raise PartitionBusy() from exc
        raise
    # The row guard came from the parent and went with the detach; the table stays append-only.
    await session.execute(
        text(
            f"CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION qtrack_event_append_only()"
        )
    )
    broken = int(await session.scalar(text(_BROKEN_LINKS.format(table=table))) or 0)
    if broken:
        raise PartitionInUse(
            f"'{name}' holds {broken} broken links: run `qtrack audit verify` and keep it attached"
        )
    stats = (
        await session.execute(text(f"SELECT count(*), min(id), max(id) FROM {table}"))  # noqa: S608
    ).one()
    if checkpointed_upto is not None and stats[2] is not None and stats[2] > checkpointed_upto:
        raise PartitionInUse(
            f"'{name}' holds events after the latest checkpoint (up to #{checkpointed_upto}): "
            "make a checkpoint first (`qtrack audit checkpoint`)"
        )
    archive = EventArchive(
        name=name,
        starts_at=partition.starts_at,
        ends_at=partition.ends_at,
        events=int(stats[0]),
        first_id=stats[1],
        last_id=stats[2],
        detached_at=moment,
    )
    session.add(archive)
    await session.flush()
    await session.execute(text(_SUMMARY.format(table=table)), {"name": name})
    log.info("event_partition_detached", partition=name, events=archive.events)
    return archive


@job("events.partitions", max_attempts=5, timeout=300)
async def make_partitions(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Create the event table's partitions QTRACK_EVENT_PARTITIONS_AHEAD months ahead."""
    async with ctx.session() as session:
        if not await is_partitioned(session):
            return
        made = await create_ahead(session, months=ctx.settings.event_partitions_ahead)
    if made.created:
        log.info("event_partitions_created", partitions=made.created)
    if made.blocked:  # after the commit: the months that could be made are kept
        raise PartitionsBlocked(
            f"{', '.join(made.blocked)}: their events went to event_default; they stay there "
            '(docs/deploy.md, "The event table\'s partitions")'
        )


schedule("events.partitions", cron="20 2 * * *")


@dataclass(frozen=True)
class ArchivedChain:
    """What the archives say about one item's chain before its events in `event`: the next
    seq and the hash it must link to, or the problem when the archived stretches do not
    join up (a gap, or a stretch that does not link to the one before)."""

    next_seq: int
    last_hash: str | None
    problem: str | None = None


async def archived_chains(
    session: AsyncSession, item_ids: list[int] | None = None
) -> dict[int, ArchivedChain]:
    """For each item with archived events (of those given, or all), where its archived chain
    ends. Nothing on a database that never detached a partition."""
    stmt = select(
        EventArchiveHead.item_id,
        EventArchiveHead.first_seq,
        EventArchiveHead.first_prev_hash,
        EventArchiveHead.last_seq,
        EventArchiveHead.last_hash,
    ).order_by(EventArchiveHead.item_id, EventArchiveHead.first_seq)
    if item_ids is not None:
        stmt = stmt.where(EventArchiveHead.item_id.in_(item_ids))
    chains: dict[int, ArchivedChain] = {}
    for item_id, first_seq, first_prev, last_seq, last_hash in await session.execute(stmt):
        known = chains.get(item_id, ArchivedChain(1, None))
        if known.problem is not None:
            continue
        if first_seq != known.next_seq:
            known = ArchivedChain(
                known.next_seq,
                known.last_hash,
                f"archived events from seq {known.next_seq} on"
                f" are missing (the archives hold seq {first_seq} next)",
            )
        elif first_prev != known.last_hash:
            known = ArchivedChain(
                known.next_seq,
                known.last_hash,
                f"the archived event at seq {first_seq} does not link to the one before it",
            )
        else:
            known = ArchivedChain(last_seq + 1, last_hash)
        chains[item_id] = known
    return chains
