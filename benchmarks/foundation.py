"""Foundation figures: startup time, idle memory, and /healthz throughput.

    python -m benchmarks.foundation [--seconds 10] [--database-url URL]

Starts `qtrack serve` as a user would (after `qtrack db upgrade`), on a throwaway SQLite
database unless a URL is given, and loads it with wrk over loopback.
"""

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import children_of, print_table, qtrack_server, rss_mb, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        for workers in (1, 2):
            env = {"QTRACK_DATABASE_URL": url}
            with qtrack_server(env, workers=workers) as server:
                time.sleep(1.0)  # let every worker finish starting
                pids = children_of(server.process.pid) or [server.process.pid]
                idle = max(rss_mb(pid) for pid in pids)
                load = wrk(f"{server.base_url}/healthz", connections=32, seconds=args.seconds)
                busy = max(rss_mb(pid) for pid in pids)
                rows.append(
                    [
                        workers,
                        f"{server.startup_s:.2f}",
                        f"{idle:.0f}",
                        f"{busy:.0f}",
                        f"{load.requests_per_s:,.0f}",
                        f"{load.p50_ms:.2f}",
                        f"{load.p99_ms:.2f}",
                        load.errors,
                    ]
                )
    print_table(
        [
            "workers",
            "startup s",
            "idle RSS MB/worker",
            "loaded RSS MB/worker",
            "/healthz req/s (32 conns)",
            "p50 ms",
            "p99 ms",
            "errors",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
