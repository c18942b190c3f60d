"""The reference for the scan paths: the least work their requests need, as a bare ASGI app on
an asyncpg pool. `benchmarks/tracking.py` serves it with the same HTTP server as `qtrack
serve` (`qtrack.cli.server.run_server`), against the same database, in the same run, and prints
qtrack's figures as a ratio of this one's.

    python -m benchmarks.reference --dsn postgresql://... --port 8001 --workers 2

What it does per request, and nothing else:
* a bearer check: SHA-256 of the API token against an in-process cache (token hash -> token
  id and user id, kept 2 s like qtrack's principal cache), one statement on a miss;
* `GET /api/v1/items/{code}` and `POST /api/v1/scan` (`{"data": "<item code>"}`): one
  prepared statement reading the item with its type and location, the body built from the
  row with orjson;
* `POST /api/v1/items/{code}/transitions` (`{"transition": "quarantine"}`): in one
  transaction, lock and read the item, hash-chain its next event (`qtrack.events.chain`, the
  same canonical content and hash as qtrack's), insert it, update the item's status, version
  and chain head.

The pool hands a connection back as it is: asyncpg's default would send a reset query on every
release (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, a round trip
these requests do not need; qtrack's pool sends none). A transaction left open is still
rolled back on release, as asyncpg always does.

No permissions, no rate limit, no idempotency keys, no counts, no workflow beyond the one
transition the benchmark makes, no logs or metrics: qtrack does all of those, so it cannot
reach this; the ratio says how close it gets. Not part of qtrack, never shipped.
"""

import argparse
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from qtrack.events.chain import canonical_fields, event_hash

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DSN_ENV = "QTRACK_REFERENCE_DSN"
POOL_SIZE = 20  # as the benchmark gives qtrack's workers
TOKEN_TTL_S = 2.0
# The one transition the benchmark makes (the material workflow's), so no workflow is read.
TRANSITIONS = {"quarantine": ("received", "quarantine")}

AUTH = (
    'SELECT t.id, t.user_id FROM api_token t JOIN "user" u ON u.id = t.user_id'
    " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
    " AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.is_active"
)
LOOKUP = (
    "SELECT i.id, i.code, t.key AS type, i.name, i.status, l.code AS location, i.quantity,"
    " i.unit, i.batch, i.serial, i.gtin, i.expiry_on, i.weight_kg, i.attributes::text,"
    " i.version, i.archived, i.created_at, i.updated_at"
    " FROM item i JOIN item_type t ON t.id = i.type_id"
    " LEFT JOIN location l ON l.id = i.location_id WHERE i.code = $1"
)
LOCK = (
    "SELECT id, status, version, location_id, event_count, last_event_hash"
    " FROM item WHERE code = $1 FOR UPDATE"
)
INSERT_EVENT = (
    "INSERT INTO event (item_id, seq, type, actor_id, token_id, recorded_at, location_id,"
    " before, after, prev_hash, hash) VALUES ($1, $2, 'status_changed', $3, $4, $5, $6,"
    " $7::json, $8::json, $9, $10) RETURNING id"
)
UPDATE_ITEM = (
    "UPDATE item SET status = $2, version = $3, event_count = $4, last_event_hash = $5,"
    " updated_at = $6 WHERE id = $1"
)

JSON_HEADERS = [(b"content-type", b"application/json")]


def _default(value: Any) -> Any:
    return str(value)  # Decimal


async def _as_it_is(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (no session settings, listeners, cursors or advisory
    locks are ever left behind here)."""


def _item(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["attributes"] = orjson.Fragment(out["attributes"] or "{}")
    return out


class Reference:
    """The ASGI app."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.tokens: dict[str, tuple[float, int, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        status, body = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    self.dsn, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=_as_it_is
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _caller(self, scope: Scope, conn: asyncpg.Connection) -> tuple[int, int] | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                key = hashlib.sha256(credential.strip().encode()).hexdigest()
                now = time.monotonic()
                hit = self.tokens.get(key)
                if hit is not None and hit[0] > now:
                    return hit[1], hit[2]
                row = await conn.fetchrow(AUTH, key)
                if row is None:
                    return None
                self.tokens[key] = (now + TOKEN_TTL_S, row[0], row[1])
                return row[0], row[1]
        return None

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        assert self.pool is not None
        path: str = scope["path"]
        method: str = scope["method"]
        body = b""
        if method == "POST":
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        async with self.pool.acquire() as conn:
            caller = await self._caller(scope, conn)
            if caller is None:
                return 401, b'{"code":"not_authenticated"}'
            if method == "GET" and path.startswith("/api/v1/items/"):
                return await self._lookup(conn, path.removeprefix("/api/v1/items/"))
            if method == "POST" and path == "/api/v1/scan":
                return await self._lookup(conn, orjson.loads(body)["data"], scan=True)
            if (
                method == "POST"
                and path.startswith("/api/v1/items/")
                and path.endswith("/transitions")
            ):
                code = path.removeprefix("/api/v1/items/").removesuffix("/transitions")
                return await self._transition(conn, caller, code, orjson.loads(body))
        return 404, b'{"code":"not_found"}'

    async def _lookup(
        self, conn: asyncpg.Connection, code: str, *, scan: bool = False
    ) -> tuple[int, bytes]:
        row = await conn.fetchrow(LOOKUP, code)
        if row is None:
            return 404, b'{"code":"item_not_found"}'
        item = _item(row)
        answer = {"kind": "item", "item": item} if scan else item
        return 200, orjson.dumps(answer, default=_default)

    async def _transition(
        self, conn: asyncpg.Connection, caller: tuple[int, int], code: str, body: Any
    ) -> tuple[int, bytes]:
        token_id, user_id = caller
        allowed = TRANSITIONS.get(body.get("transition"))
        if allowed is None:
            return 422, b'{"code":"transition_not_allowed"}'
        async with conn.transaction():
            row = await conn.fetchrow(LOCK, code)
            if row is None:
                return 404, b'{"code":"item_not_found"}'
            if row["status"] != allowed[0]:
                return 409, b'{"code":"transition_not_allowed"}'
            now = datetime.now(UTC)
            seq = row["event_count"] + 1
            before = {"status": row["status"]}
            after = {"status": allowed[1], "transition": body["transition"]}
            digest = event_hash(
                canonical_fields(
                    item_id=row["id"],
                    seq=seq,
                    kind="status_changed",
                    actor_id=user_id,
                    token_id=token_id,
                    client_event_id=None,
                    occurred_at=None,
                    recorded_at=now,
                    location_id=row["location_id"],
                    before=before,
                    after=after,
                    reason=None,
                    signed_by_id=None,
                    signature_meaning=None,
                    signed_at=None,
                    latitude=None,
                    longitude=None,
                    prev_hash=row["last_event_hash"],
                )
            )
            event_id = await conn.fetchval(
                INSERT_EVENT,
                row["id"],
                seq,
                user_id,
                token_id,
                now,
                row["location_id"],
                orjson.dumps(before).decode(),
                orjson.dumps(after).decode(),
                row["last_event_hash"],
                digest,
            )
            await conn.execute(
                UPDATE_ITEM, row["id"], allowed[1], row["version"] + 1, seq, digest, now
            )
        answer = {
            "item": {"id": row["id"], "code": code, "status": allowed[1]},
            "events": [{"id": event_id, "seq": seq, "hash": digest}],
        }
        return 200, orjson.dumps(answer)


def create_app() -> Reference:
    """The app for the DSN in the environment (what each server worker imports)."""
    return Reference(os.environ[DSN_ENV])


def main() -> None:
    from qtrack.cli.server import run_server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True, help="postgresql://... (asyncpg's form)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ[DSN_ENV] = args.dsn
    run_server(
        "benchmarks.reference:create_app", host="127.0.0.1", port=args.port, workers=args.workers
    )


if __name__ == "__main__":
    main()
