"""The tracking benchmark's write checks: after the loads, every acknowledged transition has
its one event, the items, counts and chains agree with the events."""

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from sqlalchemy import select

from benchmarks.tracking_load import State
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.events.chain import canonical_fields, event_hash
from qtrack.events.models import Event
from qtrack.items.models import Item


@dataclass
class WriteCheck:
    """What the database says after the scans that write."""

    events: int  # status_changed events recorded
    acked: int  # 2xx responses wrk saw
    lost: int  # acknowledged, but no event
    duplicated: int  # items with more than one status_changed event
    unacknowledged: int  # events whose response wrk never read (in flight when it stopped)
    in_flight: int  # requests wrk sent but never saw answered
    items_off: int  # items whose status or chain head disagrees with their events
    counts_ok: bool  # the maintained counts equal a recount
    chains_checked: int
    chain_breaks: list[str]

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.unacknowledged <= self.in_flight
            and self.items_off == 0
            and self.counts_ok
            and not self.chain_breaks
        )


async def check_writes(dsn: str, acked: Sequence[int]) -> tuple[int, int, int, bool]:
    """Lost, duplicated and inconsistent items, and whether the counts agree with the items."""
    conn = await asyncpg.connect(dsn)
    try:
        codes = [f"MAT-{n:06d}" for n in acked]
        # Given thousands of codes, PostgreSQL may look each up through the trigram index
        # (`ix_item_code_trgm` answers equality too): a bitmap scan over the posting lists of
        # "MAT", "-00", "000"... that every code shares, ~40 ms a code, and the check ran for
        # over ten minutes at two million items (2026-12-06). The unique index answers at once.
        await conn.execute("SET enable_bitmapscan = off")
        found = await conn.fetchval(
            # A join with the codes, not `= ANY(array)`: with thousands of codes PostgreSQL
            # picks a bitmap scan whose recheck walks the whole array for every row.
            "SELECT count(DISTINCT i.id) FROM unnest($1::text[]) AS c(code)"
            " JOIN item i ON i.code = c.code JOIN event e ON e.item_id = i.id"
            " WHERE e.type = 'status_changed'",
            codes,
        )
        duplicated = await conn.fetchval(
            "SELECT count(*) FROM (SELECT item_id FROM event WHERE type = 'status_changed'"
            " GROUP BY item_id HAVING count(*) > 1) d"
        )
        items_off = await conn.fetchval(
            "SELECT count(*) FROM item i JOIN event e ON e.item_id = i.id AND e.seq = 2"
            " WHERE i.status <> 'quarantine' OR i.event_count <> 2"
            " OR i.last_event_hash <> e.hash OR e.type <> 'status_changed'"
        ) + await conn.fetchval(
            "SELECT count(*) FROM item WHERE status = 'quarantine' AND event_count <> 2"
        )
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM (SELECT type_id, status, count(*) AS n FROM item"
            " WHERE NOT archived GROUP BY type_id, status) r"
            # The counts are spread over shard rows: compare their sums.
            " FULL JOIN (SELECT type_id, status, sum(count) AS n FROM status_count"
            " GROUP BY type_id, status HAVING sum(count) <> 0) m"
            " USING (type_id, status) WHERE r.n IS DISTINCT FROM m.n"
        )
        return len(set(acked)) - int(found), int(duplicated), int(items_off), mismatched == 0
    finally:
        await conn.close()


async def check_chains(database_url: str, item_ids: Sequence[int]) -> list[str]:
    """Recompute every hash of these items' chains, as `qtrack audit verify` does, and check
    each link and each item's head."""
    breaks: list[str] = []
    db = Database(Settings(database_url=database_url), pooled=False)
    try:
        for start in range(0, len(item_ids), 2000):
            ids = list(item_ids[start : start + 2000])
            async with db.session_scope("read") as session:
                heads = {
                    row.id: (row.event_count, row.last_event_hash)
                    for row in await session.execute(
                        select(Item.id, Item.event_count, Item.last_event_hash).where(
                            Item.id.in_(ids)
                        )
                    )
                }
                events = (
                    await session.scalars(
                        select(Event)
                        .where(Event.item_id.in_(ids))
                        .order_by(Event.item_id, Event.seq)
                    )
                ).all()
            chains: dict[int, list[Event]] = {}
            for event in events:
                chains.setdefault(event.item_id, []).append(event)
            for item_id in ids:
                chain = chains.get(item_id, [])
                prev = None
                for n, e in enumerate(chain, start=1):
                    fields = canonical_fields(
                        item_id=e.item_id,
                        seq=e.seq,
                        kind=e.type,
                        actor_id=e.actor_id,
                        token_id=e.token_id,
                        client_event_id=e.client_event_id,
                        occurred_at=e.occurred_at,
                        recorded_at=e.recorded_at,
                        location_id=e.location_id,
                        before=e.before,
                        after=e.after,
                        reason=e.reason,
                        signed_by_id=e.signed_by_id,
                        signature_meaning=e.signature_meaning,
                        signed_at=e.signed_at,
                        latitude=e.latitude,
                        longitude=e.longitude,
                        prev_hash=e.prev_hash,
                    )
                    if e.seq != n or e.prev_hash != prev or event_hash(fields) != e.hash:
                        breaks.append(f"item {item_id}: event seq {e.seq} does not verify")
                        break
                    prev = e.hash
                if heads.get(item_id) != (len(chain), prev):
                    breaks.append(f"item {item_id}: head {heads.get(item_id)} != chain")
    finally:
        await db.dispose()
    return breaks


def verify(
    args: argparse.Namespace,
    dsn: str,
    state: State,
    requests: int,
    sent: int,
    acked: list[int],
) -> WriteCheck:
    """Compare what wrk was told with what the database holds."""
    in_flight = max(0, sent - requests)
    lost, duplicated, items_off, counts_ok = asyncio.run(check_writes(dsn, acked))

    async def touched_now() -> list[int]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT item_id FROM event WHERE type = 'status_changed' AND id > $1",
                state.last_event_id,
            )
            return [r[0] for r in rows]
        finally:
            await conn.close()

    touched = asyncio.run(touched_now())
    events = len(touched)
    others = random.Random(11).sample(range(1, state.items + 1), min(args.sample, state.items))
    ids = sorted(set(touched) | set(others))
    t = time.perf_counter()
    breaks = asyncio.run(check_chains(args.database_url, ids))
    print(f"verified {len(ids):,} chains in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return WriteCheck(
        events=events,
        acked=len(acked),
        lost=lost,
        duplicated=duplicated,
        unacknowledged=events - len(set(acked)),
        in_flight=in_flight,
        items_off=items_off,
        counts_ok=counts_ok,
        chains_checked=len(ids),
        chain_breaks=breaks,
    )
