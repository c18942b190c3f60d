"""Fixtures for order tests: a supervisor who approves, an operator who drafts and receives,
a biller and a viewer who may do neither, and helpers to bring an order to a status."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, create_user, login

API = "/api/v1/orders"


@dataclass
class Team:
    admin: AppLogin
    supervisor: AppLogin
    operator: AppLogin
    biller: AppLogin
    viewer: AppLogin


@pytest.fixture
async def team(client: httpx.AsyncClient, db: Database) -> Team:
    for name, role in [
        ("boss", "admin"),
        ("sue", "supervisor"),
        ("op", "operator"),
        ("bill", "biller"),
        ("vic", "viewer"),
    ]:
        await create_user(db, name, role)
    return Team(
        admin=await login(client, "boss"),
        supervisor=await login(client, "sue"),
        operator=await login(client, "op"),
        biller=await login(client, "bill"),
        viewer=await login(client, "vic"),
    )


async def post(
    client: httpx.AsyncClient, url: str, who: AppLogin, body: object = None
) -> httpx.Response:
    """POST as someone, JSON body."""
    return await client.post(url, json=body if body is not None else {}, headers=who.headers)


async def new_order(
    client: httpx.AsyncClient, who: AppLogin, *lines: dict[str, Any], supplier: str = "MedCo"
) -> dict[str, Any]:
    """A draft with these lines."""
    response = await post(client, API, who, {"supplier": supplier, "lines": list(lines)})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def approved_order(
    client: httpx.AsyncClient, team: Team, *lines: dict[str, Any]
) -> dict[str, Any]:
    """An order with these lines, submitted by the operator and approved by the supervisor."""
    order = await new_order(client, team.operator, *lines)
    submitted = await post(client, f"{API}/{order['code']}/submit", team.operator)
    assert submitted.status_code == 200, submitted.text
    approved = await post(client, f"{API}/{order['code']}/approve", team.supervisor)
    assert approved.status_code == 200, approved.text
    data: dict[str, Any] = approved.json()
    return data
