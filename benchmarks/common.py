"""Helpers for the benchmark scripts: run a real server, read its memory, print a table."""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg
import httpx


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def children_of(pid: int) -> list[int]:
    """Direct child processes (uvicorn's workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        return []


@dataclass
class Server:
    """A qtrack server process started for a benchmark."""

    process: subprocess.Popen[bytes]
    base_url: str
    startup_s: float


@contextmanager
def qtrack_server(env: Mapping[str, str], workers: int = 1) -> Iterator[Server]:
    """Migrate, start `qtrack serve`, wait for /healthz, and stop it afterwards."""
    full_env = {**os.environ, **env, "QTRACK_LOG_LEVEL": "WARNING"}
    qtrack = [sys.executable, "-m", "qtrack"]
    subprocess.run([*qtrack, "db", "upgrade"], env=full_env, check=True, capture_output=True)
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*qtrack, "serve", "--port", str(port), "--workers", str(workers)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/healthz", lambda status: status == 200)
        yield Server(proc, base, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, ok: Callable[[int], bool]) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server exited during startup")
        try:
            if ok(httpx.get(url, timeout=0.5).status_code):
                return
        except httpx.TransportError:
            time.sleep(0.02)


@contextmanager
def reference_server(dsn: str, workers: int = 2) -> Iterator[Server]:
    """Start `benchmarks/reference.py` (the bare ASGI app on asyncpg) under the same HTTP
    server as `qtrack serve`, and stop it afterwards."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "benchmarks.reference", "--dsn", dsn),
            *("--port", str(port), "--workers", str(workers)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # It answers 401 to anything without a token: any answer means it is up.
        _wait_until_up(proc, f"{base}/api/v1/items/x", lambda status: status == 401)
        yield Server(proc, base, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(url: str, *, connections: int, seconds: int, threads: int = 1) -> LoadResult:
    """Run wrk (Debian package `wrk`) against a URL and parse its latency distribution."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = p50 = p99 = 0.0
    errors = 0
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["50%"]:
            p50 = _ms(parts[1])
        elif parts[:1] == ["99%"]:
            p99 = _ms(parts[1])
        elif "Non-2xx" in line or "Socket errors" in line:
            errors += sum(int(p.strip(",")) for p in parts if p.strip(",").isdigit())
    return LoadResult(rps, p50, p99, errors)


def _ms(value: str) -> float:
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table, ready to paste into docs/benchmarks.md."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


@dataclass
class ScriptedLoad:
    """A wrk run driven by a Lua script: the latency figures, the counts, and what the
    script's `done` printed."""

    result: LoadResult
    requests: int
    non_2xx: int
    socket_errors: int
    output: str


def wrk_lua(
    url: str, script: str, *, connections: int, seconds: int, timeout_s: int = 30
) -> ScriptedLoad:
    """Run wrk with a Lua script (given as text) on one thread, and parse what it reports.

    wrk records no latency above its timeout (2 s by default) and counts such responses as
    errors; the longer timeout keeps slow responses in the percentiles."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as fh:
        fh.write(script)
        fh.flush()
        out = subprocess.run(
            [
                *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s"),
                *("--latency", "-s", fh.name, url),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rps = p50 = p99 = 0.0
    requests = non_2xx = socket_errors = 0
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["50%"]:
            p50 = _ms(parts[1])
        elif parts[:1] == ["99%"]:
            p99 = _ms(parts[1])
        elif len(parts) > 2 and parts[1:3] == ["requests", "in"]:
            requests = int(parts[0])
        elif "Non-2xx" in line:
            non_2xx = int(parts[-1])
        elif "Socket errors" in line:
            socket_errors = sum(int(p.strip(",")) for p in parts if p.strip(",").isdigit())
    return ScriptedLoad(
        LoadResult(rps, p50, p99, non_2xx + socket_errors), requests, non_2xx, socket_errors, out
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    with open("/proc/loadavg") as fh:
        return ", ".join(fh.read().split()[:3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under a server (not multiprocessing's resource tracker);
    the server itself when it runs without workers."""
    workers = []
    for child in children_of(pid):
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            if b"spawn_main" in fh.read():
                workers.append(child)
    return workers or [pid]


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving one database, when it runs on this machine."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                title = fh.read().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            found.append(int(entry))
    return found


async def wait_for_count(
    dsn: str, query: str, *args: object, at_least: int, what: str, timeout_s: float = 60
) -> None:
    """Poll `query` (a count) until it reaches `at_least`; exit saying `what` did not happen
    in time otherwise."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await conn.fetchval(query, *args) >= at_least:
                return
            await asyncio.sleep(0.05)
        raise SystemExit(f"{what} did not happen in time")
    finally:
        await conn.close()
