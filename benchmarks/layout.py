"""The whole plain-host layout under load, with failures in the middle.

    python -m benchmarks.layout [--items 100000] [--seconds 180] [--servers 4]
                                [--database-url URL] [--keep]

Creates a fresh PostgreSQL database (dropping one of the same name), migrates and seeds it
(benchmarks/seed.py), starts a Redis of its own (so that restarting it disturbs nobody),
`--servers` `qtrack serve` processes and one `qtrack worker`, and nginx with TLS in front
(deploy/nginx/qtrack.conf as shipped, with its own ports and a throwaway certificate). Then,
through the proxy, for `--seconds`: scans (POST /api/v1/scan, 16 connections) and writes
(transitions, 16 connections) at once. A third of the way in, one app server and the job
worker are killed with SIGKILL and started again; two thirds in, Redis is killed and started
again. Afterwards it checks that every acknowledged write left exactly one event, that no
item got two, that the counts agree with the items and that every touched chain (and a
sample of untouched ones) verifies, and that the worker is back. Prints one Markdown table.
"""

import argparse
import asyncio
import functools
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from benchmarks.common import ScriptedLoad, free_port, load_average, print_table, wrk_lua
from benchmarks.seed import asyncpg_dsn, seed
from benchmarks.tracking import (
    ADMIN_PASSWORD,
    OPERATOR,
    OPERATOR_PASSWORD,
    drop_database,
    qtrack_cli,
    recreate_database,
)
from benchmarks.tracking_checks import check_chains, check_writes
from benchmarks.tracking_load import SCAN_LUA, TRANSITION_LUA, read_acks, read_state

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qtrack_bench_layout"
ROOT = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"


@dataclass
class Proc:
    """A process of the layout, and how to start it again."""

    name: str
    start: Callable[[], "subprocess.Popen[bytes]"]
    process: "subprocess.Popen[bytes] | None" = None

    def run(self) -> None:
        self.process = self.start()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def nginx_config(work: Path, proxy: int, apps: list[int]) -> Path:
    """deploy/nginx/qtrack.conf with this run's ports and certificate; the main config."""
    shipped = ROOT / "deploy" / "nginx"
    (work / "nginx" / "tmp").mkdir(parents=True)
    upstream = [
        line
        for line in (shipped / "qtrack-upstream.conf").read_text().splitlines()
        if "server 127.0.0.1:" not in line
    ]
    at = next(i for i, line in enumerate(upstream) if "least_conn" in line) + 1
    upstream[at:at] = [f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in apps]
    (work / "nginx" / "qtrack-upstream.conf").write_text("\n".join(upstream) + "\n")
    site = (shipped / "qtrack.conf").read_text()
    start = site.index("server {")  # the port-80 redirect: not wanted here
    site = site[:start] + site[site.index("}\n", site.index("return 301", start)) + 2 :]
    for old, new in (
        ("/etc/nginx/qtrack-upstream.conf", f"{work}/nginx/qtrack-upstream.conf"),
        ("/etc/qtrack/tls/", f"{work}/tls/"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{proxy} ssl http2;"),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("server_name qtrack.example.com;", "server_name 127.0.0.1 localhost;"),
    ):
        site = site.replace(old, new)
    (work / "nginx" / "qtrack.conf").write_text(site)
    user = "user root;\n" if os.getuid() == 0 else ""
    main = work / "nginx" / "nginx.conf"
    tmp = work / "nginx" / "tmp"
    main.write_text(
        f"{user}worker_processes 1;\npid {work}/nginx/nginx.pid;\n"
        f"error_log {work}/nginx/error.log warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp}/body;\n"
        f"  proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fastcgi;\n"
        f"  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n"
        f"  include {work}/nginx/qtrack.conf;\n}}\n"
    )
    (work / "tls").mkdir()
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", f"{work}/tls/privkey.pem"),
            *("-out", f"{work}/tls/fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return main


def wait_until(what: str, probe: Callable[[], bool], timeout_s: float = 300) -> float:
    """Poll until `probe` holds; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if probe():
                return time.monotonic() - started
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what}: not within {timeout_s:.0f} s")


def healthy(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200


async def worker_alive(dsn: str, since: datetime) -> bool:
    """Whether a `qtrack worker` started after `since` has said it is alive."""
    conn = await asyncpg.connect(dsn)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM job_runner WHERE kind = 'worker' AND started_at > $1"
                " AND seen_at > now() AT TIME ZONE 'utc' - interval '30 seconds'",
                since.replace(tzinfo=None),
            )
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16, help="per load (scans, writes)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    asyncio.run(recreate_database(args.database_url))
    try:
        scenario(args)
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.database_url))


def scenario(args: argparse.Namespace) -> None:
    """Start the layout, load it, break it, check the database, print the table."""
    load_before = load_average()
    started_at = datetime.now(UTC)
    dsn = asyncpg_dsn(args.database_url)
    redis_port, proxy = free_port(), free_port()
    apps = [free_port() for _ in range(args.servers)]
    env = {
        **os.environ,
        "QTRACK_DATABASE_URL": args.database_url,
        "QTRACK_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QTRACK_API_RATE_LIMIT_PER_MINUTE": str(10**9),
        "QTRACK_JOBS_IN_PROCESS": "off",
        "QTRACK_LOG_LEVEL": "WARNING",
        "QTRACK_TRUSTED_PROXIES": "127.0.0.1",
    }
    events: list[str] = []

    with tempfile.TemporaryDirectory(prefix="qtrack-layout-") as tmp:
        work = Path(tmp)
        env["QTRACK_METRICS_DIR"] = str(work / "metrics")
        logs = {name: open(work / f"{name}.log", "ab") for name in ("redis", "worker", "apps")}  # noqa: SIM115

        def spawn(*argv: str, log: str) -> "subprocess.Popen[bytes]":
            return subprocess.Popen(argv, env=env, stdout=logs[log], stderr=subprocess.STDOUT)

        qtrack = (sys.executable, "-m", "qtrack")
        redis_argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis_argv += ["--save", "", "--appendonly", "no"]
        redis = Proc("redis", lambda: spawn(*redis_argv, log="redis"))

        def server(port: int) -> Callable[[], "subprocess.Popen[bytes]"]:
            return lambda: spawn(*qtrack, "serve", "--port", str(port), log="apps")

        servers = [Proc(f"app{i}", server(p)) for i, p in enumerate(apps)]
        worker = Proc("worker", lambda: spawn(*qtrack, "worker", log="worker"))
        nginx_conf = nginx_config(work, proxy, apps)
        ca = str(work / "tls" / "fullchain.pem")
        nginx_argv = [NGINX, "-g", "daemon off;", "-p", f"{work}/nginx", "-c", str(nginx_conf)]
        nginx_argv += ["-e", f"{work}/nginx/error.log"]
        nginx = Proc("nginx", lambda: spawn(*nginx_argv, log="apps"))
        everything = [nginx, *servers, worker, redis]
        try:
            redis.run()
            qtrack_cli(env, "db", "upgrade")
            print(f"seeding {args.items:,} items...", file=sys.stderr)
            seed(args.database_url, items=args.items, processes=2)
            qtrack_cli(
                env, "users", "create", OPERATOR, "--role", "operator", "--password-stdin",
                stdin=OPERATOR_PASSWORD,
            )  # fmt: skip
            out = qtrack_cli(env, "tokens", "create", "--name", "layout", "--user", OPERATOR)
            token = next(line for line in out.splitlines() if line.startswith("qtk_"))
            state = asyncio.run(read_state(dsn))

            for proc in (*servers, worker, nginx):
                proc.run()
            for port in apps:
                wait_until(f"server :{port}", functools.partial(healthy, port))
            base = f"https://127.0.0.1:{proxy}"
            seen: list[dict[str, object]] = []

            def ready_ok() -> bool:
                seen[:] = [httpx.get(f"{base}/readyz", verify=ca).json()]
                return seen[0]["status"] == "ok"

            try:
                wait_until("/readyz through the proxy", ready_ok)
            except SystemExit:
                print(f"last /readyz: {seen}", file=sys.stderr)
                raise
            print("layout up; loading", file=sys.stderr)

            scan_script = SCAN_LUA.substitute(
                token=token, mat=state.counts["material"], bag=state.counts["bag"],
                sup=state.counts["supply"], total=state.items, seed=random.randrange(1, 2**31),
            )  # fmt: skip
            acks = work / "acks.txt"
            write_script = TRANSITION_LUA.substitute(token=token, first=state.first, path=acks)
            results: dict[str, ScriptedLoad] = {}

            def load(name: str, script: str) -> None:
                results[name] = wrk_lua(
                    base, script, connections=args.connections, seconds=args.seconds
                )

            threads = [
                threading.Thread(target=load, args=("scans", scan_script)),
                threading.Thread(target=load, args=("writes", write_script)),
            ]
            loaded_at = time.monotonic()
            for thread in threads:
                thread.start()

            time.sleep(args.seconds / 3)
            killed_at = datetime.now(UTC)
            servers[0].kill()
            worker.kill()
            events.append(
                f"{time.monotonic() - loaded_at:.0f} s: SIGKILL app server 1 and the worker"
            )
            time.sleep(2)
            servers[0].run()
            worker.run()
            back = wait_until("server 1 again", lambda: healthy(apps[0]), timeout_s=300)
            events.append(f"server 1 serving again {back + 2:.1f} s after the kill")
            worker_back = wait_until(
                "the worker again", lambda: asyncio.run(worker_alive(dsn, killed_at)), 300
            )
            events.append(f"worker alive again {worker_back + 2:.1f} s after the kill")

            time.sleep(max(0.0, loaded_at + 2 * args.seconds / 3 - time.monotonic()))
            redis.kill()
            events.append(f"{time.monotonic() - loaded_at:.0f} s: SIGKILL Redis")
            time.sleep(3)
            redis.run()
            events.append("Redis started again 3 s later")

            for thread in threads:
                thread.join()
            time.sleep(1.0)  # requests in flight when wrk stopped
            ready = httpx.get(f"{base}/readyz", verify=ca).json()
        finally:
            for proc in everything:
                proc.stop()
            for fh in logs.values():
                fh.close()
        _sent, acked = read_acks(acks)

    lost, duplicated, items_off, counts_ok = asyncio.run(check_writes(dsn, acked))
    touched, sample = asyncio.run(_item_ids(dsn, acked, 2000))
    breaks = asyncio.run(check_chains(args.database_url, touched + sample))
    written = asyncio.run(_status_events(dsn, state.last_event_id))

    scans, writes = results["scans"], results["writes"]
    rows: list[list[object]] = [
        _load_row("scans (POST /api/v1/scan)", scans),
        _load_row("writes (transitions)", writes),
        [
            "acknowledged writes",
            f"{len(acked):,} acknowledged, {written:,} events recorded: {lost} lost, "
            f"{duplicated} duplicated, {written - len(set(acked)) - duplicated} recorded but"
            " not acknowledged (cut off by the kill, or in flight at the end)",
        ],
        [
            "items and counts",
            f"{items_off} items disagree with their events; counts agree: {counts_ok}",
        ],
        [
            "chains verified",
            f"{len(touched):,} touched + {len(sample):,} untouched: "
            f"{len(breaks)} broken" + (f" ({breaks[:3]})" if breaks else ""),
        ],
        [
            "/readyz at the end",
            f"{ready['status']}; job runners {ready['checks']['job_queue']['runners']}; "
            + "; ".join(
                f"{k}: {v}" for k, v in ready["checks"].items() if str(v).startswith("degraded")
            ),
        ],
    ]
    rows += [["during the load", e] for e in events]
    ok = lost == 0 and duplicated == 0 and items_off == 0 and counts_ok and not breaks
    print(
        f"\n{started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}; {args.servers} app servers + 1 worker behind nginx (TLS), "
        f"PostgreSQL, Redis; {state.items:,} items; {args.connections} + {args.connections} "
        f"connections for {args.seconds} s; load average {load_before} before, "
        f"{load_average()} after\n"
    )
    print_table(["what", "measured"], rows)
    print(f"\nverdict: {'nothing acknowledged was lost; every chain verifies' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(1)


def _load_row(name: str, load: ScriptedLoad) -> list[object]:
    result = load.result
    return [
        name,
        f"{result.requests_per_s:,.0f} req/s; p50 {result.p50_ms:.1f} ms,"
        f" p99 {result.p99_ms:.1f} ms; {load.requests:,} requests, {load.non_2xx} non-2xx,"
        f" {load.socket_errors} socket errors",
    ]


async def _item_ids(dsn: str, acked: list[int], sample: int) -> tuple[list[int], list[int]]:
    """The ids of the items the writes touched, and of a sample of the others."""
    conn = await asyncpg.connect(dsn)
    try:
        codes = [f"MAT-{n:06d}" for n in set(acked)]
        touched = [
            r["id"] for r in await conn.fetch("SELECT id FROM item WHERE code = ANY($1)", codes)
        ]
        others = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM item WHERE NOT (id = ANY($1)) ORDER BY random() LIMIT $2",
                touched, sample,
            )
        ]  # fmt: skip
        return touched, others
    finally:
        await conn.close()


async def _status_events(dsn: str, after_id: int) -> int:
    """Status changes recorded by this run."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM event WHERE id > $1 AND type = 'status_changed'", after_id
            )
        )
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
