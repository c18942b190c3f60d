"""Two devices go offline, change the same items, come back in either order: the same end,
every change applied or explained, chains intact, counts in step."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.history import verify
from qtrack.inventory import service as inventory_service
from qtrack.sync.models import SyncChange
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import codes_of
from tests.factories.locations import create_location
from tests.sync.conftest import Device, Replica


def _state(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["status"], item["location"], Decimal(item["quantity"] or 0), item["container"])


def _holds(lots: list[str], end: dict[str, tuple[Any, ...]]) -> Callable[[Replica], bool]:
    """Whether a device's copy of these lots is what the server holds."""
    return lambda d: {c: _state(i) for c, i in d.of("item").items() if c in lots} == end


async def _scenario(
    client: httpx.AsyncClient, x: Device, y: Device, lots: list[str], x_first: bool
) -> dict[str, tuple[Any, ...]]:
    one, two, three = lots
    for device in (x, y):
        await device.replica.pull_until(client, lambda d: set(lots) <= set(d.of("item")))
    # X: moves lot one to B1, starts testing lot two, dispenses from three and one.
    x.act(1, one, type="move", location="B1")
    x.act(2, two, type="transition", transition="start_test")
    x.act(3, three, type="quantity", kind="dispense", amount="2")
    x.act(4, one, type="quantity", kind="dispense", amount="1")
    # Y, offline at the same time: moves lot one to C1 later (device time), starts testing
    # lot two too, dispenses from three and two.
    y.act(5, one, type="move", location="C1")
    y.act(1, two, type="transition", transition="start_test")
    y.act(2, three, type="quantity", kind="dispense", amount="3")
    y.act(6, two, type="quantity", kind="dispense", amount="1")
    first, second = (x, y) if x_first else (y, x)
    await first.reconnect(client)
    await second.reconnect(client)
    response = await client.get(
        "/api/v1/items", params={"limit": 200}, headers=x.replica.who.headers
    )
    return {i["code"]: _state(i) for i in response.json()["items"] if i["code"] in lots}


async def test_two_devices_offline_end_the_same_whichever_comes_back_first(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    for code in ("A1", "B1", "C1"):
        await create_location(client, admin, code)
    ends = []
    for x_first in (True, False):
        lots = await codes_of(client, admin, 3, location="A1", quantity="10")
        for lot in lots:
            quarantined = await client.post(
                f"/api/v1/items/{lot}/transitions",
                json={"transition": "quarantine"},
                headers=admin.headers,
            )
            assert quarantined.status_code == 200
        suffix = "1" if x_first else "2"
        x = Device("x", await logged_in(client, db, f"xavier{suffix}", "operator"))
        y = Device("y", await logged_in(client, db, f"yvonne{suffix}", "operator"))
        end = await _scenario(client, x, y, lots, x_first)
        # Positions: one, two, three in order; compared without the codes.
        ends.append([end[lot] for lot in lots])
        answers = {**x.answers, **y.answers}
        assert len(answers) == 8  # every change answered
        explained = [a for a in answers.values() if a["outcome"] != "applied"]
        for answer in explained:
            assert answer["outcome"] == "conflict"
            assert answer["reason"] == "stale"
            assert answer["item"] is not None  # the server's record, to show the user
        # Exactly one of the two "start testing" and at most one of the moves was refused.
        assert 1 <= len(explained) <= 2
        # Both devices, pulling on, come to hold what the server holds.
        for device in (x, y):
            await device.replica.pull_until(client, _holds(lots, end))
    assert ends[0] == ends[1]
    assert ends[0] == [
        ("quarantine", "C1", Decimal(9), None),  # the later move (by device time) wins
        ("under_test", "A1", Decimal(9), None),
        ("quarantine", "A1", Decimal(5), None),  # dispensed amounts add up
    ]
    async with db.session_scope("read") as session:
        report = await verify.verify_chains(session)
        assert report.intact, report.broken
        assert await inventory_service.recount(session) == await inventory_service.maintained(
            session
        )
        # Each applied change recorded its events once, under its change id.
        applied = (
            await session.scalars(
                select(SyncChange.change_id).where(SyncChange.outcome == "applied")
            )
        ).all()
        counted = select(Event.client_event_id, func.count()).where(
            Event.client_event_id.in_(applied)
        )
        per_change = dict((await session.execute(counted.group_by(Event.client_event_id))).all())
        assert set(per_change) == set(applied)
        assert all(count == 1 for count in per_change.values())
