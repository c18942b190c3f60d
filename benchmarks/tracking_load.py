"""The scan loads of the tracking benchmark: wrk's Lua scripts, the runs, the CPU they cost.

`benchmarks/tracking.py` runs them against qtrack and against the reference
(`benchmarks/reference.py`); `benchmarks/layout.py` reuses them.
"""

import os
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

import asyncpg
import httpx

from benchmarks.common import ScriptedLoad, cpu_seconds, postgres_backends, rss_mb, wrk_lua
from benchmarks.seed import PREFIX

LOOKUP_LUA = Template("""
wrk.headers["Authorization"] = "Bearer $token"
local ranges = {{"MAT", $mat}, {"BAG", $bag}, {"SUP", $sup}}
local total = $total
math.randomseed($seed)
request = function()
  local r = math.random(total)
  for _, range in ipairs(ranges) do
    if r <= range[2] then
      return wrk.format("GET", string.format("/api/v1/items/%s-%06d", range[1], r))
    end
    r = r - range[2]
  end
end
""")


# The scan endpoint given plain item codes, as a keyboard-wedge scanner sends them.
SCAN_LUA = Template("""
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "application/json"
local ranges = {{"MAT", $mat}, {"BAG", $bag}, {"SUP", $sup}}
local total = $total
math.randomseed($seed)
request = function()
  local r = math.random(total)
  for _, range in ipairs(ranges) do
    if r <= range[2] then
      local body = string.format('{"data": "%s-%06d"}', range[1], r)
      return wrk.format("POST", "/api/v1/scan", nil, body)
    end
    r = r - range[2]
  end
end
""")


# Every request takes the next material lot, so each one really writes. The code in each 2xx
# body is kept, so that afterwards every acknowledged scan can be found in the database.
TRANSITION_LUA = Template("""
wrk.method = "POST"
wrk.body = '{"transition":"quarantine"}'
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "application/json"
local next_n = $first
sent = 0
acked = {}
request = function()
  local n = next_n
  next_n = next_n + 1
  sent = sent + 1
  return wrk.format(nil, string.format("/api/v1/items/MAT-%06d/transitions", n))
end
response = function(status, headers, body)
  if status >= 200 and status < 300 then
    acked[#acked + 1] = tonumber(body:match('"code":"MAT%-(%d+)"')) or -1
  end
end
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
done = function(summary, latency, requests)
  local out = io.open("$path", "w")
  for _, thread in ipairs(threads) do
    out:write("sent ", thread:get("sent"), "\\n")
    for _, n in ipairs(thread:get("acked")) do
      out:write(n, "\\n")
    end
  end
  out:close()
end
""")


def read_acks(path: Path) -> tuple[int, list[int]]:
    """What the transition script wrote: requests sent, and the item numbers acknowledged."""
    sent, acked = 0, []
    for line in path.read_text().splitlines():
        if line.startswith("sent "):
            sent += int(line.split()[1])
        elif line.strip():
            acked.append(int(line))
    return sent, acked


@dataclass
class Run:
    """One wrk run, and the CPU the server's workers and PostgreSQL spent per request."""

    load: ScriptedLoad
    server_ms: float
    postgres_ms: float

    @property
    def ceiling(self) -> float:
        """Requests/s this machine's cores could serve at that cost, were nothing else running
        (the load generator's own share left out): a figure that survives a busy machine."""
        return (os.cpu_count() or 1) * 1000 / (self.server_ms + self.postgres_ms)

    def cost(self) -> str:
        return (
            f"CPU/request: server {self.server_ms:.2f} ms + PostgreSQL {self.postgres_ms:.2f} ms"
            f" → ceiling {self.ceiling:,.0f}/s"
        )


def _cpu(pids: Sequence[int]) -> dict[int, float]:
    used = {}
    for pid in pids:
        try:
            used[pid] = cpu_seconds(pid)
        except OSError:  # a pooled connection closed meanwhile
            continue
    return used


def timed_load(
    url: str, script: str, *, connections: int, seconds: int, workers: Sequence[int], db: str
) -> Run:
    """Run wrk and account the CPU that serving it took."""
    backends = postgres_backends(db)
    server0, pg0 = _cpu(workers), _cpu(backends)
    load = wrk_lua(url, script, connections=connections, seconds=seconds)
    server1, pg1 = _cpu(workers), _cpu(backends)
    per_request = 1000 / max(load.requests, 1)
    return Run(
        load,
        sum(server1[p] - server0[p] for p in server1 if p in server0) * per_request,
        sum(pg1[p] - pg0[p] for p in pg1 if p in pg0) * per_request,
    )


@dataclass
class Latency:
    """Sequential calls of one request: the median, the slowest, and what it found."""

    p50_ms: float
    max_ms: float
    found: int


def sequential(client: httpx.Client, path: str, calls: int, key: str | None = None) -> Latency:
    """Time `calls` sequential GETs over one keep-alive connection (after 3 unmeasured ones)."""
    times = []
    found = 0
    for n in range(calls + 3):
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        if n >= 3:
            times.append(elapsed)
        if key is not None:
            found = len(response.json()[key])
    return Latency(statistics.median(times), max(times), found)


@dataclass(frozen=True)
class State:
    """Where the database stands before the load: what was seeded, and where to go on."""

    counts: dict[str, int]  # items per type key
    first: int  # the first material lot no run has moved out of `received` yet
    last_event_id: int

    @property
    def items(self) -> int:
        return sum(self.counts.values())


async def read_state(dsn: str) -> State:
    """Counts per type, and where the transitions of this run may start (after any earlier
    run's, when the database is reused)."""
    conn = await asyncpg.connect(dsn)
    try:
        counts = {
            r["key"]: int(r["last_seq"])
            for r in await conn.fetch("SELECT key, last_seq FROM item_type")
            if r["key"] in PREFIX
        }
        moved = await conn.fetchval(
            "SELECT max(substr(code, 5)::int) FROM item"
            " WHERE code LIKE 'MAT-%' AND status <> 'received'"
        )
        last_event = await conn.fetchval("SELECT coalesce(max(id), 0) FROM event")
        return State(counts, int(moved or 0) + 1, int(last_event))
    finally:
        await conn.close()


@dataclass
class Warmed:
    """The transitions of a warm-up: the first lot after them, and what the write check
    must count of them."""

    next_first: int
    sent: int
    acked: list[int]
    requests: int  # answered while wrk ran


def warm_up_writes(url: str, token: str, first: int, acks: Path) -> Warmed:
    """Transitions at 32 connections for 2 s, before the measured ones. A server's first
    transitions are slow while their statements are compiled, prepared on each pooled
    connection and planned, and its caches fill (measured: 14.8 ms for a server's first
    transition over one connection, 2.2 ms from about the thirtieth on; a first 6 s load at 32
    connections had p99 192 ms against 46 to 71 ms for the next three). The reads are warmed
    the same way; this warms the write path, for both servers alike."""
    script = TRANSITION_LUA.substitute(token=token, first=first, path=acks)
    load = wrk_lua(url, script, connections=32, seconds=2)
    sent, acked = read_acks(acks)
    return Warmed(first + sent, sent, acked, load.requests)


@dataclass
class Loads:
    """One server under the scan loads: lookups at 1 and 32 connections, scans, transitions."""

    one: Run
    many: Run
    scans: Run
    writes: Run
    sent: int  # transitions wrk sent, the warm-up's included
    acked: list[int]  # the material lots of the 2xx answers, the warm-up's included
    rss: list[float]
    write_requests: int  # transitions answered while wrk ran, the warm-up's included


def read_script(script: Template, token: str, state: State) -> str:
    """A lookup or scan script over the seeded codes, with a seed of its own."""
    counts = state.counts
    ranges = {"mat": counts["material"], "bag": counts["bag"], "sup": counts["supply"]}
    return script.substitute(
        token=token, total=state.items, seed=random.randrange(1, 2**31), **ranges
    )


def run_loads(
    url: str,
    workers: Sequence[int],
    db: str,
    *,
    token: str,
    state: State,
    first: int,
    seconds: int,
    acks: Path,
) -> Loads:
    """The same loads, in the same order, for qtrack and for the reference."""
    lookup = read_script(LOOKUP_LUA, token, state)
    scan = read_script(SCAN_LUA, token, state)
    wrk_lua(url, lookup, connections=32, seconds=2)  # warm up: pools, caches
    one = timed_load(url, lookup, connections=1, seconds=seconds, workers=workers, db=db)
    many = timed_load(url, lookup, connections=32, seconds=seconds, workers=workers, db=db)
    scans = timed_load(url, scan, connections=32, seconds=seconds, workers=workers, db=db)
    warmed = warm_up_writes(url, token, first, acks.with_name(f"warm-{acks.name}"))
    script = TRANSITION_LUA.substitute(token=token, first=warmed.next_first, path=acks)
    writes = timed_load(url, script, connections=32, seconds=seconds, workers=workers, db=db)
    rss = [rss_mb(pid) for pid in workers]
    sent, acked = read_acks(acks)
    time.sleep(0.5)  # let requests still in flight when wrk stopped finish
    return Loads(
        one,
        many,
        scans,
        writes,
        warmed.sent + sent,
        warmed.acked + acked,
        rss,
        warmed.requests + writes.load.requests,
    )


async def book_reference_counts(dsn: str, first: int, sent: int) -> None:
    """The reference does not keep `status_count`: book the lots it moved into it, so the
    counts still agree with the items (the write check, and any later `--reuse`)."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            moved = await conn.fetch(
                "SELECT type_id, count(*) AS n FROM unnest($1::text[]) AS c(code)"
                " JOIN item i ON i.code = c.code WHERE status = 'quarantine' GROUP BY type_id",
                [f"MAT-{n:06d}" for n in range(first, first + sent)],
            )
            for type_id, n in moved:
                for status, delta in (("received", -n), ("quarantine", n)):
                    await conn.execute(
                        "INSERT INTO status_count (type_id, status, shard, count)"
                        " VALUES ($1, $2, 0, $3) ON CONFLICT (type_id, status, shard)"
                        " DO UPDATE SET count = status_count.count + excluded.count",
                        type_id,
                        status,
                        delta,
                    )
    finally:
        await conn.close()
