"""The refused offline changes page: one's own, and everyone's for supervisors."""

import uuid

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import login, signed_in
from tests.factories.items import codes_of

PUSH = "/api/v1/sync/push"


async def test_a_person_sees_their_refused_changes_and_a_supervisor_everyones(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "olga", "operator")
    olga = await login(client, "olga")
    (lot,) = await codes_of(client, olga, 1)
    change = str(uuid.uuid4())
    pushed = await client.post(
        PUSH,
        json={
            "device_id": "hh-7",
            "changes": [
                {
                    "id": change,
                    "type": "move",
                    "item": lot,
                    "location": "NOWHERE",
                    "occurred_at": "2026-12-05T06:00:00Z",
                }
            ],
        },
        headers=olga.headers,
    )
    assert pushed.json()["results"][0]["outcome"] == "rejected"

    mine = await client.get("/sync/refused")
    assert mine.status_code == 200
    assert f'data-change="{change}"' in mine.text
    assert "hh-7" in mine.text
    assert "NOWHERE" in mine.text
    assert "Everyone" not in mine.text  # an operator sees only their own

    await signed_in(client, db, "sue", "supervisor")
    own = await client.get("/sync/refused")
    assert f'data-change="{change}"' not in own.text
    everyone = await client.get("/sync/refused", params={"everyone": "true"})
    assert f'data-change="{change}"' in everyone.text
    assert "olga" in everyone.text
    scan = await client.get("/scan")
    assert 'href="/sync/refused"' in scan.text
