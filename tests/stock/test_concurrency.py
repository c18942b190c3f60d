"""Concurrent dispensing on PostgreSQL: on-hand stays the sum of the lots and a crossing of a
level alerts exactly once, whichever request happens to cross it."""

import asyncio
from decimal import Decimal

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin
from tests.factories.items import register
from tests.factories.locations import create_tree
from tests.stock.test_api import alerts, levels, recount, stock_of

pytestmark = pytest.mark.postgres_only


async def test_concurrent_dispenses_cross_a_level_once(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin, db: Database
) -> None:
    await create_tree(client, admin, ("WARD", None, "site"), ("SHELF-1", "WARD", "shelf"),
                      ("SHELF-2", "WARD", "shelf"))  # fmt: skip
    lots = [
        await register(
            client, operator, type="supply", quantity="10", location=f"SHELF-{1 + i % 2}"
        )
        for i in range(8)
    ]  # 80 on hand
    assert (await levels(client, admin, minimum_level="10", reorder_level="50")).status_code == 200
    ward = await levels(client, admin, location="WARD", reorder_level="30")
    assert ward.status_code == 200
    # 24 dispenses of 3 from the 8 lots at once: 72 go, 8 stay; ok -> low -> out on both levels.
    answers = await asyncio.gather(
        *[
            client.post(
                f"/api/v1/items/{lots[i % 8]['code']}/quantity",
                json={"kind": "dispense", "amount": "3"},
                headers=operator.headers,
            )
            for i in range(24)
        ]
    )
    assert [a.status_code for a in answers] == [200] * 24, [a.text for a in answers if a.is_error]
    assert Decimal((await stock_of(client, operator))["on_hand"]) == 8 == await recount(db)
    assert (await stock_of(client, operator, location="WARD"))["on_hand"] == "8"
    raised = sorted((a["subject"], a["kind"]) for a in await alerts(client, operator))
    assert raised == [
        ("stock:supply", "stock_low"),
        ("stock:supply", "stock_out"),
        ("stock:supply@WARD", "stock_low"),
    ]
