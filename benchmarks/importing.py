"""Bulk import: `qtrack import` of a generated CSV file, as an administrator runs it.

    python -m benchmarks.importing [--rows 100000] [--database-url URL] [--workers N]

Creates a fresh database (PostgreSQL at the URL, or a throwaway SQLite file), migrates it,
adds a user and two locations, writes a CSV of `--rows` material lots (name, location,
batch, expiry, quantity), then times `qtrack import` in its own process and reads its peak
RSS. Afterwards `qtrack audit verify` must find every chain intact. Target (DESIGN.md):
1,000,000 items from CSV in ≤ 60 s.
"""

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import load_average, print_table
from benchmarks.tracking import drop_database, qtrack_cli, recreate_database

TARGET_PER_S = 1_000_000 / 60
PASSWORD = "import benchmark pass phrase 1"  # noqa: S105 (a throwaway database's user)


def write_csv(path: Path, rows: int) -> None:
    """`rows` material lots spread over two locations."""
    with path.open("w", encoding="utf-8") as out:
        out.write("type,name,location,batch,expiry_on,quantity\n")
        for n in range(rows):
            out.write(f"material,Lactose {n},{'WH-A' if n % 2 else 'WH-B'},B-{n // 500},")
            out.write(f"2027-{n % 12 + 1:02d}-28,{n % 50 + 1}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
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
        csv_path = Path(tmp) / "items.csv"
        write_csv(csv_path, args.rows)
        before = load_average()

        spent = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        workers = [] if args.workers is None else ["--workers", str(args.workers)]
        done = subprocess.run(
            [sys.executable, "-m", "qtrack", "import", str(csv_path), "--as", "importer", *workers],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"qtrack import failed:\n{done.stderr[-2000:]}")
        audit = qtrack_cli(env, "audit", "verify").strip()
        if postgres:
            asyncio.run(drop_database(url))

    per_s = args.rows / wall
    cpu = usage.ru_utime + usage.ru_stime - spent.ru_utime - spent.ru_stime
    print(f"load average before: {before}, after: {load_average()}")
    print_table(
        [
            "database",
            "rows",
            "workers",
            "wall s",
            "items/s",
            "CPU s (importer)",
            "peak RSS MB",
            "audit",
        ],
        [
            [
                "PostgreSQL" if postgres else "SQLite",
                f"{args.rows:,}",
                "default" if args.workers is None else str(args.workers),
                f"{wall:.1f}",
                f"{per_s:,.0f}",
                f"{cpu:.1f}",
                f"{usage.ru_maxrss / 1024:.0f}",
                audit,
            ]
        ],
    )
    verdict = "met" if per_s >= TARGET_PER_S else "not met"
    print(f"\ntarget ≥ {TARGET_PER_S:,.0f} items/s (1M in 60 s): {verdict}")


if __name__ == "__main__":
    main()
