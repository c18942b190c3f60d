"""A real HTTP receiver for the webhook tests: `asyncio.start_server` speaking just enough
HTTP/1.1 (one request a connection), answering as the test says, recording what came."""

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """What to answer: a status and body, or hang (never answer), or stall (send the head and
    part of the body, never the rest)."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    hang: bool = False
    stall: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Decide = Callable[[Received], Answer]


class Receiver:
    """Listens on 127.0.0.1; `decide(request)` says how to answer each request. One request a
    connection, unless `keep_alive` (then `connections` tells how many were opened)."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.received: list[Received] = []
        self.decide: Decide = lambda _: Answer()
        self.keep_alive = keep_alive
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    def url(self, path: str = "/hook") -> str:
        """The URL of a path on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        """What arrived at one path, in order."""
        return [r for r in self.received if r.path == path]

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        """Listen on a free port (with TLS, when given a server context)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection (hanging ones too)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read and answer one request; whether the connection stays open for another."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = Received(method, path, headers, body)
        self.received.append(request)
        answer = self.decide(request)
        if answer.hang:
            await asyncio.sleep(3600)
        extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
        length = len(answer.body) + (1 if answer.stall else 0)
        connection = "keep-alive" if self.keep_alive else "close"
        writer.write(
            f"HTTP/1.1 {answer.status} X\r\nContent-Length: {length}\r\n"
            f"Content-Type: application/json\r\nConnection: {connection}\r\n{extra}\r\n".encode()
            + answer.body
        )
        await writer.drain()
        if answer.stall:
            await asyncio.sleep(3600)
        return self.keep_alive
