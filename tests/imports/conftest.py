"""Fixtures for import tests: an administrator, an operator, two warehouses, and uploads."""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.locations import create_tree


@dataclass
class Floor:
    admin: AppLogin
    operator: AppLogin
    viewer: AppLogin


@pytest.fixture
async def floor(client: httpx.AsyncClient, db: Database) -> Floor:
    """boss (admin), op (operator), vic (viewer); PLANT > WH-A, WH-B."""
    people = Floor(
        admin=await logged_in(client, db, "boss", "admin"),
        operator=await logged_in(client, db, "op", "operator"),
        viewer=await logged_in(client, db, "vic", "viewer"),
    )
    await create_tree(
        client,
        people.admin,
        ("PLANT", None, "site"),
        ("WH-A", "PLANT", "building"),
        ("WH-B", "PLANT", "building"),
    )
    return people


async def upload(
    client: httpx.AsyncClient,
    who: AppLogin,
    content: bytes | Path,
    *,
    filename: str = "items.csv",
    mapping: str | None = None,
    **params: Any,
) -> httpx.Response:
    """POST /api/v1/imports with a file (and a mapping); query parameters as keywords."""
    data = await asyncio.to_thread(content.read_bytes) if isinstance(content, Path) else content
    form = {"mapping": mapping} if mapping is not None else None
    query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
    return await client.post(
        "/api/v1/imports",
        params=query,
        files={"file": (filename, data)},
        data=form,
        headers=who.headers,
    )
