"""A webhook receiver for the benchmarks, the endpoints that point at it, and the `qtrack
worker` processes that deliver to it.

The receiver is a process on 127.0.0.1 (asyncio, HTTP/1.1 with keep-alive) that answers 200
to every POST at once and counts them, so what is measured is qtrack's side of a delivery.
"""

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.common import wait_for_count
from benchmarks.seed import asyncpg_dsn
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.integrations.webhooks import signing
from qtrack.integrations.webhooks.models import WebhookEndpoint


def _receive(port: Any, count: Any) -> None:
    """The receiver process: HTTP/1.1 with keep-alive, 200 for every POST, counted."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                with count.get_lock():
                    count.value += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
        port.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@dataclass
class Receiver:
    """A running receiver: where it listens, its process, and its count of POSTs."""

    port: int
    pid: int
    count: Any  # a multiprocessing.Value("q"); readable after the process has stopped

    @property
    def received(self) -> int:
        return int(self.count.value)


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Start the receiver process, wait until it listens, and stop it afterwards."""
    port = multiprocessing.Value("i", 0)
    count = multiprocessing.Value("q", 0)
    process = multiprocessing.Process(target=_receive, args=(port, count), daemon=True)
    process.start()
    try:
        while port.value == 0:
            if not process.is_alive():
                raise RuntimeError("the webhook receiver exited during startup")
            time.sleep(0.01)
        yield Receiver(port.value, process.pid or 0, count)
    finally:
        if process.is_alive():
            process.terminate()
            process.join(timeout=15)


async def register_endpoints(database_url: str, port: int, n: int) -> None:
    """Register n enabled endpoints for every event type, pointing at the receiver, written
    as the service would (a sealed secret)."""
    settings = Settings(_env_file=None, database_url=database_url)
    db = Database(settings)
    try:
        async with db.session_scope() as session:
            for k in range(n):
                _, raw = signing.new_secret()
                session.add(
                    WebhookEndpoint(
                        url=f"http://127.0.0.1:{port}/hook/{k}", description="bench",
                        event_types=["*"], item_types=[], enabled=True, consecutive_failures=0,
                        secret_sealed=signing.seal(settings.secret_key.get_secret_value(), raw),
                        version=1,
                    )
                )  # fmt: skip
    finally:
        await db.dispose()


@contextmanager
def delivery_workers(
    env: Mapping[str, str], *, count: int = 2, log: str = os.devnull
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `count` `qtrack worker --concurrency 4` processes with this environment (their
    logs appended to `log`), wait until each has said it is alive (their start-up is not what
    a benchmark measures), and stop them afterwards."""
    workers: list[subprocess.Popen[bytes]] = []
    with open(log, "ab") as out:
        try:
            for _ in range(count):
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "qtrack", "worker", "--concurrency", "4"],
                        env={**os.environ, **env},
                        stdout=subprocess.DEVNULL,
                        stderr=out,
                    )
                )
            pids = [w.pid for w in workers]
            asyncio.run(
                wait_for_count(
                    asyncpg_dsn(env["QTRACK_DATABASE_URL"]),
                    "SELECT count(*) FROM job_runner WHERE kind = 'worker' AND pid = ANY($1)",
                    pids,
                    at_least=len(pids),
                    what="the delivery workers' start",
                )
            )
            yield workers
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
