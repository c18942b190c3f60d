"""Sync test helpers: a device's local copy, kept by pulling as a mobile client would."""

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.factories.accounts import AppLogin

CHANGES = "/api/v1/sync/changes"


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

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        """The records of one kind by their human key."""
        keys = {"workflow": "key", "item_type": "key", "location": "code", "item": "code"}
        return {r[keys.get(k, "number")]: r for (k, _), r in self.records.items() if k == kind}
