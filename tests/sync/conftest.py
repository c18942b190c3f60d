"""Sync test helpers: a device's local copy, kept by pulling as a mobile client would."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin

CHANGES = "/api/v1/sync/changes"
PUSH = "/api/v1/sync/push"


async def feed_settled(db: Database, seconds: float = 90.0) -> None:
    """Wait until every event recorded so far can be read from the change feed.

    On PostgreSQL an event is readable once every transaction that began writing before it
    has ended anywhere in the cluster (other tests share it); a first sync starting before
    that sends such items once more after its snapshot, which is right but makes exact
    counts in a test flaky."""
    if db.engine.dialect.name != "postgresql":
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    query = text(
        "SELECT count(*) FILTER (WHERE txid < pg_snapshot_xmin(pg_current_snapshot())::text"
        "::bigint) = count(*) FROM event"
    )
    while True:
        async with db.session_scope("read") as session:
            if await session.scalar(query):
                return
        assert loop.time() < deadline, "the change feed never caught up"
        await asyncio.sleep(0.1)


@dataclass
class Replica:
    """What a device holds: records by (kind, id), and the cursor to pull on from."""

    who: AppLogin
    records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    cursor: str | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)

    async def pull(self, client: httpx.AsyncClient, limit: int = 500) -> list[dict[str, Any]]:
        """Pull until nothing more waits; apply each change in order; return them all."""
        seen: list[dict[str, Any]] = []
        for _ in range(10_000):
            params: dict[str, Any] = {"limit": limit}
            if self.cursor is not None:
                params["since"] = self.cursor
            response = await client.get(CHANGES, params=params, headers=self.who.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            self.pages.append(page)
            assert len(page["changes"]) <= limit
            for change in page["changes"]:
                key = (change["kind"], change["id"])
                if change["op"] == "delete":
                    assert change["record"] is None
                    self.records.pop(key, None)
                else:
                    self.records[key] = change["record"]
            seen.extend(page["changes"])
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return seen
        raise AssertionError("the pull never ended")

    async def pull_until(
        self,
        client: httpx.AsyncClient,
        done: Callable[["Replica"], bool],
        *,
        limit: int = 500,
        seconds: float = 90.0,
    ) -> list[dict[str, Any]]:
        """Pull again and again until `done(self)` holds; return every change received.

        On PostgreSQL an item's change reaches the feed once every transaction that began
        writing before it has ended anywhere in the cluster (other tests share it), so a
        change may take a while to show: the wait is generous."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        seen = await self.pull(client, limit)
        while not done(self):
            assert loop.time() < deadline, "the device never caught up"
            await asyncio.sleep(0.1)
            seen.extend(await self.pull(client, limit))
        return seen

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        """The records of one kind by their human key."""
        keys = {
            "workflow": "key", "item_type": "key", "location": "code", "item": "code",
            "order": "code", "category": "key",
        }  # fmt: skip
        return {r[keys.get(k, "number")]: r for (k, _), r in self.records.items() if k == kind}


class Device:
    """A handheld: its copy of the server (pulled), and what it did while offline."""

    def __init__(self, name: str, who: AppLogin) -> None:
        self.name = name
        self.replica = Replica(who)
        self.outbox: list[dict[str, Any]] = []
        self.answers: dict[str, dict[str, Any]] = {}

    def act(self, minute: float, code: str, **change: Any) -> None:
        """Do something offline to an item, at the version this device holds."""
        seen = self.replica.of("item")[code]
        self.outbox.append(
            {
                "id": str(uuid.uuid4()),
                "occurred_at": (
                    datetime(2026, 12, 5, 6, 0, tzinfo=UTC) + timedelta(minutes=minute)
                ).isoformat(),
                "item": code,
                "base_version": seen["version"],
                **change,
            }
        )

    async def reconnect(self, client: httpx.AsyncClient) -> None:
        """Push what waits (oldest first), keep the answers, then pull."""
        if not self.outbox:
            await self.replica.pull(client)
            return
        response = await client.post(
            PUSH,
            json={"device_id": self.name, "changes": self.outbox},
            headers=self.replica.who.headers,
        )
        assert response.status_code == 200, response.text
        for change, result in zip(self.outbox, response.json()["results"], strict=True):
            assert result["id"] == change["id"]
            self.answers[change["id"]] = result
        self.outbox = []
        await self.replica.pull(client)
