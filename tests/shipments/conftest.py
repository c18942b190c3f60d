"""Fixtures for shipment tests: a biller, a dispatcher, a viewer, and sealed bags to ship."""

from dataclasses import dataclass

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, create_user, login


@dataclass
class Team:
    admin: AppLogin
    biller: AppLogin
    dispatcher: AppLogin
    operator: AppLogin
    viewer: AppLogin


@pytest.fixture
async def team(client: httpx.AsyncClient, db: Database) -> Team:
    for name, role in [
        ("boss", "admin"),
        ("bill", "biller"),
        ("dee", "dispatcher"),
        ("op", "operator"),
        ("vic", "viewer"),
    ]:
        await create_user(db, name, role)
    return Team(
        admin=await login(client, "boss"),
        biller=await login(client, "bill"),
        dispatcher=await login(client, "dee"),
        operator=await login(client, "op"),
        viewer=await login(client, "vic"),
    )


async def post(
    client: httpx.AsyncClient, url: str, who: AppLogin, body: object = None
) -> httpx.Response:
    """POST as someone, JSON body."""
    return await client.post(url, json=body if body is not None else {}, headers=who.headers)


async def register(client: httpx.AsyncClient, who: AppLogin, **fields: object) -> str:
    """Register one item and return its code."""
    response = await post(client, "/api/v1/items", who, fields)
    assert response.status_code == 201, response.text
    return str(response.json()["items"][0]["code"])


async def sealed_bag(
    client: httpx.AsyncClient, who: AppLogin, *, tare: str = "0.5", contents: tuple[str, ...] = ()
) -> str:
    """A bag holding material lots of these weights, sealed."""
    bag = await register(client, who, type="bag", weight_kg=tare)
    for weight in contents:
        lot = await register(client, who, type="material", weight_kg=weight)
        packed = await post(client, f"/api/v1/items/{lot}/pack", who, {"container": bag})
        assert packed.status_code == 200, packed.text
    sealed = await post(client, f"/api/v1/items/{bag}/transitions", who, {"transition": "seal"})
    assert sealed.status_code == 200, sealed.text
    return bag
