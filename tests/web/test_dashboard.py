"""The start page and the scan screen's settings, without a browser."""

import json
import re
from datetime import date, timedelta

import httpx
from tests.factories.accounts import PASSWORD, create_user, login, web_login

from qtrack.core.db import Database


async def test_expiring_soon_leaves_out_lots_that_are_done_with(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "qa", "supervisor")
    await create_user(db, "op", "operator")
    qa, op = await login(client, "qa"), await login(client, "op")
    soon = (date.today() + timedelta(days=10)).isoformat()

    async def lot(item_type: str, *steps: dict[str, str]) -> str:
        created = await client.post(
            "/api/v1/items", json={"type": item_type, "expiry_on": soon}, headers=op.headers
        )
        code: str = created.json()["items"][0]["code"]
        for step in steps:
            who = op if step["transition"] in {"quarantine", "start_test"} else qa
            done = await client.post(
                f"/api/v1/items/{code}/transitions", json=step, headers=who.headers
            )
            assert done.status_code == 200, done.text
        return code

    waiting = await lot("material", {"transition": "quarantine"})
    in_stock = await lot("supply")
    rejected = await lot(
        "material",
        {"transition": "quarantine"},
        {"transition": "start_test"},
        {"transition": "reject", "reason": "Out of spec", "password": PASSWORD},
    )
    expired_lot = await lot(
        "material", {"transition": "quarantine"}, {"transition": "expire", "reason": "Old"}
    )
    used_up = await lot("supply", {"transition": "expire", "reason": "Past its date"})  # terminal

    await web_login(client, "op")
    page = await client.get("/")
    assert page.status_code == 200
    listed = re.search(r"Expiring soon</a></h2>(.*?)</section>", page.text, re.S)
    assert listed
    for code in (waiting, in_stock):
        assert f'href="/items/{code}"' in listed.group(1), code
    for code in (rejected, expired_lot, used_up):
        assert f'href="/items/{code}"' not in listed.group(1), code


async def test_the_scan_screen_knows_item_types_by_name(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "op", "operator")
    await web_login(client, "op")
    page = await client.get("/scan")
    config = re.search(
        r'<script type="application/json" id="scan-config">(.*?)</script>', page.text
    )
    assert config
    assert json.loads(config.group(1))["types"]["material"] == "Material lot"
