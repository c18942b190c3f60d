"""Concurrent moves, packs and unpacks of the same items on PostgreSQL: every request runs on a
connection of its own, and afterwards each item's history must still tell one story — every
event's `before` is what the previous event left as `after`, for location, container and
status alike, no change that changed nothing is recorded, and the story ends where the item is.
"""

import asyncio
import random
from typing import Any

import httpx
import pytest

from qtrack.core.db import Database
from qtrack.history import verify
from tests.factories.items import register
from tests.history.continuity import broken_links, discontinuities
from tests.items.conftest import Crew

pytestmark = pytest.mark.postgres_only


async def _history(client: httpx.AsyncClient, crew: Crew, code: object) -> list[Any]:
    """An item's events, oldest first, as objects with the fields `broken_links` reads."""
    response = await client.get(
        f"/api/v1/items/{code}/events", params={"limit": 200}, headers=crew.viewer.headers
    )
    assert response.status_code == 200, response.text

    class Event:
        def __init__(self, body: dict[str, Any]) -> None:
            self.type, self.seq = body["type"], body["seq"]
            self.before, self.after = body["before"], body["after"]

    return [Event(e) for e in reversed(response.json()["items"])]


async def _all_at_once(
    client: httpx.AsyncClient, crew: Crew, requests: list[tuple[str, dict[str, Any]]]
) -> list[httpx.Response]:
    """Send every request at the same time; each is served on a connection of its own."""
    return await asyncio.gather(
        *[client.post(path, json=body, headers=crew.operator.headers) for path, body in requests]
    )


async def test_concurrent_moves_of_one_item_keep_its_history_continuous(
    client: httpx.AsyncClient, crew: Crew, site: list[str], db: Database
) -> None:
    lot = await register(client, crew.operator, type="material", name="Lot", location="WH-A")
    path = f"/api/v1/items/{lot['code']}/move"
    # 40 moves between two places, most of them to where the item already is by the time
    # they run: each must either record the true before, or nothing.
    answers = await _all_at_once(
        client, crew, [(path, {"location": ("WH-A", "WH-B")[i % 2]}) for i in range(40)]
    )
    assert [a.status_code for a in answers] == [200] * 40, [a.text for a in answers if a.is_error]

    events = await _history(client, crew, lot["code"])
    item = (await client.get(f"/api/v1/items/{lot['code']}", headers=crew.viewer.headers)).json()
    now = {"location": item["location"], "container": None, "status": item["status"]}
    assert broken_links(events, now) == []
    recorded = [a.json()["events"] for a in answers]
    # Every answer that says it moved the item names a move the history has, and no other.
    assert sum(len(e) for e in recorded) == len(events) - 1
    for moved in (e[0] for e in recorded if e):
        assert moved["before"]["location"] != moved["after"]["location"]
        assert moved["before"]["location"] in ("WH-A", "WH-B")


async def test_concurrent_packs_unpacks_and_moves_keep_every_history_continuous(
    client: httpx.AsyncClient, crew: Crew, site: list[str], db: Database
) -> None:
    bags = [
        await register(client, crew.operator, type="bag", name=f"Bag {n}", location=place)
        for n, place in enumerate(("WH-A", "WH-B", "RACK-1"))
    ]
    lots = [
        await register(client, crew.operator, type="material", name=f"Lot {n}", location="WH-A")
        for n in range(4)
    ]
    places = ["WH-A", "WH-B", "RACK-1"]
    chosen = random.Random(20261204)
    requests: list[tuple[str, dict[str, Any]]] = []
    for _ in range(60):
        kind = chosen.choice(["pack", "pack", "unpack", "move", "move_bag"])
        lot = chosen.choice(lots)["code"]
        if kind == "pack":
            requests.append(
                (f"/api/v1/items/{lot}/pack", {"container": chosen.choice(bags)["code"]})
            )
        elif kind == "unpack":
            requests.append((f"/api/v1/items/{lot}/unpack", {}))
        elif kind == "move":
            requests.append((f"/api/v1/items/{lot}/move", {"location": chosen.choice(places)}))
        else:
            bag = chosen.choice(bags)["code"]
            requests.append((f"/api/v1/items/{bag}/move", {"location": chosen.choice(places)}))

    for _ in range(2):  # two waves: the second starts from wherever the first left things
        answers = await _all_at_once(client, crew, requests)
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.is_error]
        chosen.shuffle(requests)

    async with db.session_scope("read") as session:
        assert await discontinuities(session) == []
        report = await verify.verify_chains(session)
        assert report.intact, report.broken
    for lot in lots:
        item = (
            await client.get(f"/api/v1/items/{lot['code']}", headers=crew.viewer.headers)
        ).json()
        if item["container"] is not None:
            box = (
                await client.get(f"/api/v1/items/{item['container']}", headers=crew.viewer.headers)
            ).json()
            assert item["location"] == box["location"], "contents away from their container"
    # The bags' own histories name what went in and came out, in an order that adds up.
    for bag in bags:
        held: set[str] = set()
        for event in await _history(client, crew, bag["code"]):
            if event.type == "content_added":
                assert event.after["item"] not in held
                held.add(event.after["item"])
            elif event.type == "content_removed":
                held.remove(event.after["item"])
        inside = (
            await client.get(f"/api/v1/items/{bag['code']}/contents", headers=crew.viewer.headers)
        ).json()
        assert held == {i["code"] for i in inside["items"]}
