"""A scan of GS1 data that GS1's syntax engine refuses is a 422 that says which AI and why,
and nothing is written; data it accepts is read as before."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.codes.classify import classify
from qtrack.core.db import Database
from qtrack.items.models import Item
from tests.factories.accounts import AppLogin, create_user, login

GTIN = "09506000134352"
GS = "\x1d"
RECEIVE = {"kind": "receive", "type": "material", "name": "Lactose"}

REFUSED = [
    # a batch longer than AI (10) allows: biip read 20 characters and an AI (17) from the rest
    pytest.param(
        f"]d201{GTIN}10ABCDEFGHIJKLMNOPQRST17271231", "gs1_value_too_long", "10", id="too-long"
    ),
    pytest.param(f"01{GTIN}10LOT1{GS}10LOT2", "gs1_duplicate_ai", "10", id="two-batches"),
    pytest.param(f"(01){GTIN}(21)S1(21)S2", "gs1_duplicate_ai", "21", id="bracketed-twice"),
    pytest.param(
        f"https://id.gs1.org/01/{GTIN}/21/S1/10/LOT1", "gs1_key_qualifier_order", "10", id="order"
    ),
    pytest.param(
        f"https://id.gs1.org/01/{GTIN}/10/LOT1?10=LOT2", "gs1_duplicate_ai", "10", id="dl-twice"
    ),
    pytest.param(
        f"https://id.gs1.org/01/{GTIN}?10=LOT1", "gs1_qualifier_in_query", "10", id="in-query"
    ),
    pytest.param(f"01{GTIN}3012345678901", "gs1_value_too_long", "30", id="count-too-long"),
]


@pytest.mark.parametrize(("data", "problem", "ai"), REFUSED)
def test_classify_names_the_problem(data: str, problem: str, ai: str) -> None:
    found = classify(data)
    assert (found.kind, found.problem, found.ai) == ("invalid", problem, ai)
    assert found.error is not None
    assert f"({ai})" in found.error


@pytest.fixture
async def operator(client: httpx.AsyncClient, db: Database) -> AppLogin:
    await create_user(db, "op", "operator")
    return await login(client, "op")


async def _items(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(Item)) or 0)


@pytest.mark.parametrize(("data", "problem", "ai"), REFUSED)
async def test_a_refused_scan_says_which_ai_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, operator: AppLogin, data: str, problem: str, ai: str
) -> None:
    body: dict[str, Any] = {"data": data, "action": RECEIVE, "client_event_id": "scan-1"}
    response = await client.post("/api/v1/scan", json=body, headers=operator.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "scan_invalid"
    assert (error["details"]["problem"], error["details"]["ai"]) == (problem, ai)
    assert error["details"]["reason"] == error["message"]
    assert await _items(db) == 0


@pytest.mark.parametrize(
    "data",
    [
        f"]d201{GTIN}10ABCDEFGHIJKLMNOPQRST{GS}17271231",  # the same, with its separator
        f"01{GTIN}10LOT1{GS}10LOT1",  # a repeat with the same value
        f"https://id.gs1.org/01/{GTIN}/10/LOT1/21/S1?17=271231",
    ],
)
async def test_what_gs1_accepts_is_received(
    client: httpx.AsyncClient, db: Database, operator: AppLogin, data: str
) -> None:
    body: dict[str, Any] = {"data": data, "action": RECEIVE, "client_event_id": "scan-2"}
    response = await client.post("/api/v1/scan", json=body, headers=operator.headers)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["item"]["gtin"] == GTIN
    assert await _items(db) == 1
