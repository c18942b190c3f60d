"""Bulk import: `qtrack import` of a generated CSV or .xlsx file, as an administrator runs it.

    python -m benchmarks.importing [--rows 100000] [--format csv|xlsx] [--database-url URL]
                                   [--workers N]

Creates a fresh database (PostgreSQL at the URL, or a throwaway SQLite file), migrates it,
adds a user and two locations, writes a file of `--rows` material lots (name, location,
batch, expiry, quantity; an .xlsx with real numbers and dates), then times `qtrack import`
in its own process — the same `imports.service` the API and the pages run — and reads its
peak RSS. Afterwards `qtrack audit verify` must find every chain intact. Targets (issue 16):
1,000,000 items from CSV in ≤ 60 s; 100,000 from .xlsx in ≤ 30 s.
"""

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import xlsxwriter
from sqlalchemy import make_url

from benchmarks.common import load_average, print_table
from benchmarks.seed import asyncpg_dsn
from benchmarks.tracking import drop_database, qtrack_cli, recreate_database

TARGET_PER_S = {"csv": 1_000_000 / 60, "xlsx": 100_000 / 30}
PASSWORD = "import benchmark pass phrase 1"  # noqa: S105 (a throwaway database's user)


def write_csv(path: Path, rows: int) -> None:
    """`rows` material lots spread over two locations."""
    with path.open("w", encoding="utf-8") as out:
        out.write("type,name,location,batch,expiry_on,quantity\n")
        for n in range(rows):
            out.write(f"material,Lactose {n},{'WH-A' if n % 2 else 'WH-B'},B-{n // 500},")
            out.write(f"2027-{n % 12 + 1:02d}-28,{n % 50 + 1}\n")


def write_xlsx(path: Path, rows: int) -> None:
    """The same lots as a workbook (written row by row: memory stays flat)."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet()
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["type", "name", "location", "batch", "expiry_on", "quantity"])
    for n in range(rows):
        sheet.write_row(
            n + 1, 0, ["material", f"Lactose {n}", "WH-A" if n % 2 else "WH-B", f"B-{n // 500}"]
        )
        sheet.write_datetime(n + 1, 4, datetime(2027, n % 12 + 1, 28), dates)
        sheet.write_number(n + 1, 5, n % 50 + 1)
    book.close()


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a local process so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """PostgreSQL's CPU for the import: its backends for the benchmark's database, sampled
    from /proc every 0.1 s while they live (PostgreSQL on this machine), and the shared
    background processes' (checkpointer, WAL writer, ...) growth over the run, which other
    databases' work would add to."""

    def __init__(self, url: str) -> None:
        self.url, self.database = url, make_url(url).database
        self.backends: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._watch()), daemon=True)
        self.background_before = 0.0
        self.background = 0.0

    async def _pids(self, conn: asyncpg.Connection, backends: bool) -> list[int]:
        if backends:
            sql = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
            return [r["pid"] for r in await conn.fetch(sql, self.database)]
        sql = "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'"
        return [r["pid"] for r in await conn.fetch(sql)]

    async def _background(self, conn: asyncpg.Connection) -> float:
        return sum(filter(None, map(_cpu_s, await self._pids(conn, backends=False))))

    async def _watch(self) -> None:
        dsn = asyncpg_dsn(make_url(self.url).set(database="postgres").render_as_string(False))
        conn = await asyncpg.connect(dsn)
        try:
            self.background_before = await self._background(conn)
            while not self.done.is_set():
                for pid in await self._pids(conn, backends=True):
                    if (cpu := _cpu_s(pid)) is not None:
                        self.backends[pid] = max(cpu, self.backends.get(pid, 0.0))
                await asyncio.sleep(0.1)
            self.background = await self._background(conn) - self.background_before
        finally:
            await conn.close()

    def __enter__(self) -> "ServerCpu":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    @property
    def backend(self) -> float:
        return sum(self.backends.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--workers", type=int, help="passed to `qtrack import --workers` (default: its own)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        postgres = url.startswith("postgresql")
        if postgres:
            asyncio.run(recreate_database(url))
        env = {"QTRACK_DATABASE_URL": url, "QTRACK_LOG_LEVEL": "WARNING"}
        qtrack_cli(env, "db", "upgrade")
        qtrack_cli(env, "users", "create", "importer", "--role", "operator", "--password", PASSWORD)
        for code in ("WH-A", "WH-B"):
            qtrack_cli(env, "locations", "add", code, "--name", code, "--kind", "building")
        csv_path = Path(tmp) / f"items.{args.format}"
        (write_csv if args.format == "csv" else write_xlsx)(csv_path, args.rows)
        before = load_average()

        spent = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [sys.executable, "-m", "qtrack", "import", str(csv_path), "--as", "importer"]
        if args.workers is not None:
            command += ["--workers", str(args.workers)]
        server = ServerCpu(url) if postgres else None
        with server or contextlib.nullcontext():
            started = time.perf_counter()
            done = subprocess.run(
                command,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"qtrack import failed:\n{done.stderr[-2000:]}")
        audit = qtrack_cli(env, "audit", "verify").strip().splitlines()[0]
        if postgres:
            asyncio.run(drop_database(url))

    per_s = args.rows / wall
    cpu = usage.ru_utime + usage.ru_stime - spent.ru_utime - spent.ru_stime
    print(f"load average before: {before}, after: {load_average()}")
    print_table(
        [
            "database",
            "format",
            "rows",
            "workers",
            "wall s",
            "items/s",
            "CPU s (importer)",
            "CPU s (PostgreSQL backend + background)",
            "peak RSS MB",
            "audit",
        ],
        [
            [
                "PostgreSQL" if postgres else "SQLite",
                args.format,
                f"{args.rows:,}",
                "default" if args.workers is None else str(args.workers),
                f"{wall:.1f}",
                f"{per_s:,.0f}",
                f"{cpu:.1f}",
                "n/a" if server is None else f"{server.backend:.1f} + {server.background:.1f}",
                f"{usage.ru_maxrss / 1024:.0f}",
                audit,
            ]
        ],
    )
    target = TARGET_PER_S[args.format]
    verdict = "met" if per_s >= target else "not met"
    goal = "1M in 60 s" if args.format == "csv" else "100k in 30 s"
    print(f"\ntarget ≥ {target:,.0f} items/s ({goal}): {verdict}")


if __name__ == "__main__":
    main()
