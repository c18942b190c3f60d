"""The site's own figures for /metrics and /admin/system: the database's size, connections and
cache hits, Redis's state, the disks. Read at scrape time (the same whichever worker answers),
so they cost nothing between scrapes."""

import asyncio
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine.url import make_url

from qtrack.core.db import Database

log = structlog.get_logger("qtrack.system")
TIMEOUT_S = 2.0


@dataclass
class DatabaseFigures:
    """What the database says of itself."""

    dialect: str = ""
    server_version: str = ""
    size_bytes: int = 0
    connections: dict[str, int] = field(default_factory=dict)  # by state (PostgreSQL)
    max_connections: int = 0
    blocks_hit: int = 0  # reads served from the server's cache
    blocks_read: int = 0  # reads that went to disk
    deadlocks: int = 0


@dataclass
class RedisFigures:
    """What Redis says of itself; `up` is False when none is configured or it did not answer."""

    configured: bool = False
    up: bool = False
    version: str = ""
    uptime_s: int = 0
    used_memory_bytes: int = 0
    max_memory_bytes: int = 0
    connected_clients: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    evicted_keys: int = 0


@dataclass
class SystemFigures:
    """The last look at the database, Redis and the disks."""

    database: DatabaseFigures = field(default_factory=DatabaseFigures)
    redis: RedisFigures = field(default_factory=RedisFigures)
    disks: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (free, total)


async def database_figures(db: Database) -> DatabaseFigures:
    """Size, connections and cache use of the database qtrack runs on."""
    dialect = db.engine.dialect.name
    figures = DatabaseFigures(dialect=dialect)
    async with db.engine.connect() as conn:
        if dialect == "postgresql":
            figures.server_version = str(await conn.scalar(text("SHOW server_version")))
            figures.size_bytes = int(
                await conn.scalar(text("SELECT pg_database_size(current_database())")) or 0
            )
            rows = await conn.execute(
                text(
                    "SELECT coalesce(state, 'other'), count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() GROUP BY 1"
                )
            )
            figures.connections = {str(state): int(n) for state, n in rows}
            figures.max_connections = int(await conn.scalar(text("SHOW max_connections")) or 0)
            stats = (
                await conn.execute(
                    text(
                        "SELECT blks_hit, blks_read, deadlocks FROM pg_stat_database "
                        "WHERE datname = current_database()"
                    )
                )
            ).one()
            figures.blocks_hit, figures.blocks_read, figures.deadlocks = (int(v) for v in stats)
        else:
            figures.server_version = str(await conn.scalar(text("SELECT sqlite_version()")))
            pages = int(await conn.scalar(text("PRAGMA page_count")) or 0)
            size = int(await conn.scalar(text("PRAGMA page_size")) or 0)
            figures.size_bytes = pages * size
    return figures


async def redis_figures(redis: Redis | None) -> RedisFigures:
    """Redis's version, memory, clients and hit counts; `up=False` when it does not answer."""
    if redis is None:
        return RedisFigures()
    try:
        info = await redis.info()
    except Exception as exc:  # down is a figure, not an error
        log.warning("redis_info_failed", error=type(exc).__name__)
        return RedisFigures(configured=True)
    return RedisFigures(
        configured=True,
        up=True,
        version=str(info.get("redis_version", "")),
        uptime_s=int(info.get("uptime_in_seconds", 0)),
        used_memory_bytes=int(info.get("used_memory", 0)),
        max_memory_bytes=int(info.get("maxmemory", 0)),
        connected_clients=int(info.get("connected_clients", 0)),
        keyspace_hits=int(info.get("keyspace_hits", 0)),
        keyspace_misses=int(info.get("keyspace_misses", 0)),
        evicted_keys=int(info.get("evicted_keys", 0)),
    )


def watched_paths(database_url: str, metrics_dir: Path | None) -> list[Path]:
    """The folders whose disks matter: the working folder, the SQLite file's, the metrics'."""
    paths = [Path.cwd()]
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths.append(Path(url.database).resolve().parent)
    if metrics_dir is not None:
        paths.append(metrics_dir)
    unique: list[Path] = []
    for path in paths:
        if path.exists() and path not in unique:
            unique.append(path)
    return unique


class SystemCollector(Collector):
    """The site's figures as of the last refresh (a collector is sync; the looks are not)."""

    def __init__(self, db: Database, redis: Redis | None, paths: list[Path]) -> None:
        self.db, self.redis, self.paths = db, redis, paths
        self.latest = SystemFigures()

    async def refresh(self) -> None:
        """Look at the database, Redis and the disks again."""
        database = await asyncio.wait_for(database_figures(self.db), TIMEOUT_S)
        redis = await redis_figures(self.redis)
        disks = {}
        for path in self.paths:
            usage = shutil.disk_usage(path)
            disks[str(path)] = (usage.free, usage.total)
        self.latest = SystemFigures(database=database, redis=redis, disks=disks)

    def collect(self) -> Iterable[Metric]:
        db, redis = self.latest.database, self.latest.redis
        info = GaugeMetricFamily(
            "qtrack_db_info", "The database qtrack runs on", labels=["dialect", "version"]
        )
        info.add_metric([db.dialect, db.server_version], 1)
        yield info
        yield GaugeMetricFamily(
            "qtrack_db_size_bytes", "Size of the database on disk", value=db.size_bytes
        )
        connections = GaugeMetricFamily(
            "qtrack_db_connections",
            "Connections to this database, by state (PostgreSQL)",
            labels=["state"],
        )
        for state, count in sorted(db.connections.items()):
            connections.add_metric([state], count)
        yield connections
        yield GaugeMetricFamily(
            "qtrack_db_max_connections", "The server's connection limit", value=db.max_connections
        )
        yield CounterMetricFamily(
            "qtrack_db_blocks_hit",
            "Block reads the database served from its cache",
            value=db.blocks_hit,
        )
        yield CounterMetricFamily(
            "qtrack_db_blocks_read", "Block reads that went to disk", value=db.blocks_read
        )
        yield CounterMetricFamily(
            "qtrack_db_deadlocks", "Deadlocks the database detected", value=db.deadlocks
        )
        if redis.configured:  # no series at all without Redis: nothing to be down
            yield GaugeMetricFamily(
                "qtrack_redis_up", "1 when Redis answered the last look", value=int(redis.up)
            )
        if redis.up:
            rinfo = GaugeMetricFamily("qtrack_redis_info", "The Redis server", labels=["version"])
            rinfo.add_metric([redis.version], 1)
            yield rinfo
            yield GaugeMetricFamily(
                "qtrack_redis_uptime_seconds", "Redis's uptime", value=redis.uptime_s
            )
            yield GaugeMetricFamily(
                "qtrack_redis_used_memory_bytes", "Memory Redis uses", value=redis.used_memory_bytes
            )
            yield GaugeMetricFamily(
                "qtrack_redis_connected_clients",
                "Clients connected to Redis",
                value=redis.connected_clients,
            )
            yield CounterMetricFamily(
                "qtrack_redis_keyspace_hits", "Redis lookups that found their key",
                value=redis.keyspace_hits,
            )  # fmt: skip
            yield CounterMetricFamily(
                "qtrack_redis_keyspace_misses", "Redis lookups that did not",
                value=redis.keyspace_misses,
            )  # fmt: skip
        free = GaugeMetricFamily("qtrack_disk_free_bytes", "Free disk space", labels=["path"])
        total = GaugeMetricFamily("qtrack_disk_size_bytes", "Disk size", labels=["path"])
        for path, (free_bytes, total_bytes) in sorted(self.latest.disks.items()):
            free.add_metric([path], free_bytes)
            total.add_metric([path], total_bytes)
        yield free
        yield total
