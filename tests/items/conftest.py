"""Fixtures for item tests: people with the shipped roles, logged in, and a small site."""

from dataclasses import dataclass

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories import AppLogin, create_user, login


@dataclass
class Crew:
    admin: AppLogin
    qa: AppLogin
    qa2: AppLogin
    operator: AppLogin
    viewer: AppLogin


@pytest.fixture
async def crew(client: httpx.AsyncClient, db: Database) -> Crew:
    for name, role in [
        ("boss", "admin"),
        ("qa", "supervisor"),
        ("qa2", "supervisor"),
        ("op", "operator"),
        ("vic", "viewer"),
    ]:
        await create_user(db, name, role)
    return Crew(
        admin=await login(client, "boss"),
        qa=await login(client, "qa"),
        qa2=await login(client, "qa2"),
        operator=await login(client, "op"),
        viewer=await login(client, "vic"),
    )


@pytest.fixture
async def site(client: httpx.AsyncClient, crew: Crew) -> list[str]:
    """PLANT > WH-A > RACK-1, and WH-B: returns the codes."""
    for code, parent, kind in [
        ("PLANT", None, "site"),
        ("WH-A", "PLANT", "building"),
        ("RACK-1", "WH-A", "rack"),
        ("WH-B", "PLANT", "building"),
    ]:
        body = {"code": code, "name": code.title(), "kind": kind}
        if parent:
            body["parent"] = parent
        response = await client.post("/api/v1/locations", json=body, headers=crew.admin.headers)
        assert response.status_code == 201, response.text
    return ["PLANT", "WH-A", "RACK-1", "WH-B"]


async def register(client: httpx.AsyncClient, who: AppLogin, **fields: object) -> dict[str, object]:
    """Register one item and return it."""
    response = await client.post("/api/v1/items", json=fields, headers=who.headers)
    assert response.status_code == 201, response.text
    item: dict[str, object] = response.json()["items"][0]
    return item
