"""Exports at two million items: memory stays flat (peak RSS), and how fast each format goes.

Seeds N items with their `created` events by COPY (`benchmarks/seed.py`) into a fresh
PostgreSQL database, then:

* runs `qtrack export items` as a process of its own for a twentieth of the items (the
  supplies, `--type supply`) and for all of them, in CSV, JSON Lines and `.xlsx`, sampling
  its resident memory every 50 ms; CPU time and peak RSS come from wait4, for that process
  alone (process start included);
* downloads `GET /api/v1/exports/items?format=csv` (all of them) from a running server,
  sampling the server's resident memory meanwhile.

    .venv/bin/python -m benchmarks.exports [--items 2000000] [--formats csv,jsonl,xlsx]
        [--database-url URL] [--keep] [--reuse]
"""

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from benchmarks.common import load_average, print_table, qtrack_server, rss_mb
from benchmarks.seed import seed
from benchmarks.tracking import ADMIN_PASSWORD, drop_database, qtrack_cli, recreate_database

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_exports"
EXPORTER = "bench-exporter"
EXPORTER_PASSWORD = "Quiet-Lantern-Orbit-42"  # noqa: S105  (a throwaway benchmark user)


@dataclass
class Run:
    """One export by the CLI: how long, how much CPU and memory, how big, what it said."""

    label: str
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    samples_mb: list[float]
    size_mb: float
    said: str


def export(env: dict[str, str], out: Path, label: str, *options: str) -> Run:
    """Run `qtrack export items` as a process of its own, sampling its resident memory."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as said:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qtrack", "export", "items", "-o", str(out), *options],
            env={**os.environ, **env},
            stderr=said,
        )
        samples: list[float] = []
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            with contextlib.suppress(FileNotFoundError, RuntimeError):  # not started or gone
                samples.append(rss_mb(proc.pid))
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        said.seek(0)
        text = said.read()
    if proc.returncode != 0:
        raise SystemExit(f"export failed:\n{text[-2000:]}")
    size = out.stat().st_size / 2**20
    out.unlink()
    return Run(
        label=label,
        seconds=time.perf_counter() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        samples_mb=samples,
        size_mb=size,
        said=text.strip().splitlines()[-1],
    )


@dataclass
class Download:
    """One export through the API: bytes, time, and the server's memory meanwhile."""

    rows: int
    size_mb: float
    seconds: float
    idle_rss_mb: float
    peak_rss_mb: float
    samples_mb: list[float]


def download(env: dict[str, str]) -> Download:
    """Start a server, download every item as CSV, sampling the server's memory."""
    with qtrack_server(env) as server:
        pid = server.process.pid
        login = httpx.post(
            f"{server.base_url}/api/v1/auth/login",
            json={"username": EXPORTER, "password": EXPORTER_PASSWORD},
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        idle = rss_mb(pid)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(rss_mb(pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        size = lines = 0
        try:
            url = f"{server.base_url}/api/v1/exports/items?format=csv"
            with httpx.stream("GET", url, headers=headers, timeout=600) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
        finally:
            done.set()
            sampler.join()
        seconds = time.perf_counter() - started
    return Download(lines - 1, size / 2**20, seconds, idle, max(samples), samples)


def _spread(samples: list[float]) -> str:
    steady = samples[len(samples) // 10 :] or samples or [0.0]
    return f"{min(steady):.0f}-{max(steady):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--formats", default="csv,jsonl,xlsx")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database again")
    args = parser.parse_args()
    args.keep = args.keep or args.reuse
    formats = [f for f in args.formats.split(",") if f]
    env = {
        "QTRACK_DATABASE_URL": args.database_url,
        "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QTRACK_SLOW_QUERY_MS": "0",  # each batch may pass the threshold on a busy machine
    }
    load_before = load_average()
    started_at = datetime.now(UTC)
    phases: dict[str, float] = {}
    runs: list[Run] = []
    if not args.reuse:
        asyncio.run(recreate_database(args.database_url))
    try:
        if not args.reuse:
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {args.items:,} items...", file=sys.stderr)
            phases.update(
                seed(args.database_url, items=args.items, processes=args.processes).phases
            )
            qtrack_cli(
                env,
                *("users", "create", EXPORTER, "--role", "viewer", "--password-stdin"),
                stdin=EXPORTER_PASSWORD,
            )
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in formats:
                out = Path(tmp) / f"items.{fmt}"
                print(f"exporting {fmt}...", file=sys.stderr)
                runs.append(export(env, out, f"{fmt}, supplies", "-f", fmt, "--type", "supply"))
                runs.append(export(env, out, f"{fmt}, all", "-f", fmt))
        print("downloading through the API...", file=sys.stderr)
        http = download(env)
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))

    print(
        f"\n{started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, PostgreSQL at {make_url(args.database_url).host}, "
        f"{args.items:,} items; load average {load_before} before, {load_average()} after\n"
    )
    print_table(
        ["qtrack export items", "said", "wall s", "CPU s", "rows/CPU-s", "file MB",
         "peak RSS MB", "RSS after 10% (min-max)"],
        [
            [r.label, r.said, f"{r.seconds:.1f}", f"{r.cpu_s:.1f}",
             f"{int(r.said.split()[0]) / r.cpu_s:,.0f}", f"{r.size_mb:.0f}",
             f"{r.peak_rss_mb:.0f}", _spread(r.samples_mb)]
            for r in runs
        ],
    )  # fmt: skip
    print()
    print_table(
        ["GET /api/v1/exports/items?format=csv", "rows", "MB", "wall s", "rows/s",
         "server RSS idle MB", "server RSS peak MB", "RSS after 10% (min-max)"],
        [[
            "all, one server process", f"{http.rows:,}", f"{http.size_mb:.0f}",
            f"{http.seconds:.1f}", f"{http.rows / http.seconds:,.0f}",
            f"{http.idle_rss_mb:.0f}", f"{http.peak_rss_mb:.0f}", _spread(http.samples_mb),
        ]],
    )  # fmt: skip
    if phases:
        print("\nseeding: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))


if __name__ == "__main__":
    main()
