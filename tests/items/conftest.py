"""Fixtures for item tests: people with the shipped roles, logged in, and a small site."""

from dataclasses import dataclass

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, create_user, login
from tests.factories.locations import create_tree


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
    return await create_tree(
        client,
        crew.admin,
        ("PLANT", None, "site"),
        ("WH-A", "PLANT", "building"),
        ("RACK-1", "WH-A", "rack"),
        ("WH-B", "PLANT", "building"),
    )
