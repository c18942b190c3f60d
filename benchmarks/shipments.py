"""The printable bill: a shipment of 1,000 containers, read from the database and rendered.

Builds the bill through the services on a fresh SQLite database (1,000 sealed bags holding
three lots each, added one by one as scans would), then times reading it with its totals
(`shipments.service.read_shipment`) and rendering the PDF and the CSV.

    .venv/bin/python -m benchmarks.shipments [--lines N] [--runs N]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.common import print_table
from qtrack import migrations
from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.permissions import ALL_PERMISSIONS
from qtrack.accounts.principal import Principal
from qtrack.bootstrap import bootstrap
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.core.db import Database
from qtrack.core.ratelimit import MemoryRateLimiter
from qtrack.events.service import EventContext
from qtrack.items import changes, create
from qtrack.items.schemas import ItemCreate
from qtrack.shipments import bill, service
from qtrack.shipments.schemas import ShipmentCreate

CONTENTS = 3


async def build(settings: Settings, lines: int) -> str:
    """A draft bill of `lines` sealed bags with their lots; its number."""
    db = Database(settings, pooled=False)
    try:
        async with db.session_scope() as session:
            await bootstrap(session)
            user, _ = await accounts_service.create_user(
                session, settings, actor=None, username="bench", role="admin", password="x" * 16
            )
            actor = Principal(user=user, permissions=ALL_PERMISSIONS, via="cli")
            bags = await create.register_items(
                session,
                specs=[ItemCreate(type="bag", count=lines, weight_kg=Decimal("0.5"))],
                actor=actor,
                settings=settings,
            )
            lots = await create.register_items(
                session,
                specs=[ItemCreate(type="material", count=lines, weight_kg=Decimal(2))] * CONTENTS,
                actor=actor,
                settings=settings,
            )
            for n, lot in enumerate(lots):
                await containers_service.pack(
                    session,
                    code=lot.code,
                    container=bags[n % lines].code,
                    actor=actor,
                    context=EventContext(),
                )
            for bag in bags:
                await changes.change_status(
                    session,
                    settings,
                    MemoryRateLimiter(),
                    code=bag.code,
                    transition="seal",
                    to=None,
                    actor=actor,
                    reason=None,
                    password=None,
                    origin=Origin(),
                    context=EventContext(),
                )
            shipment = await service.create_shipment(
                session, body=ShipmentCreate(consignee="Bench Ltd"), actor=actor
            )
            for bag in bags:
                await service.add_line(
                    session,
                    settings,
                    ref=shipment.id,
                    code=bag.code,
                    expected_weight_kg=Decimal("6.5"),
                    actor=actor,
                )
            return shipment.number
    finally:
        await db.dispose()


async def measure(settings: Settings, number: str, runs: int) -> list[tuple[float, float, float]]:
    db = Database(settings, pooled=False)
    out = []
    try:
        for _ in range(runs):
            async with db.session_scope("read") as session:
                t0 = time.perf_counter()
                read = await service.read_shipment(session, number)
            t1 = time.perf_counter()
            pdf = bill.render_pdf(read, public_url=settings.public_url)
            t2 = time.perf_counter()
            bill.render_csv(read)
            t3 = time.perf_counter()
            out.append((t1 - t0, t2 - t1, t3 - t2))
        print(f"{len(read.lines)} lines, {read.totals.items} items, PDF {len(pdf):,} bytes")
    finally:
        await db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(database_url=url)
        migrations.upgrade(url)
        number = asyncio.run(build(settings, args.lines))
        timings = asyncio.run(measure(settings, number, args.runs))
    read_s, pdf_s, csv_s = (statistics.median(column) for column in zip(*timings, strict=True))
    total = read_s + pdf_s
    print_table(
        ["lines", "read + totals s", "PDF s", "CSV s", "read + PDF s", "target"],
        [
            [
                f"{args.lines:,}",
                f"{read_s:.3f}",
                f"{pdf_s:.3f}",
                f"{csv_s:.3f}",
                f"{total:.3f}",
                "≤ 2 s: " + ("met" if total <= 2 else "**not met**"),
            ]
        ],
    )


if __name__ == "__main__":
    main()
