"""Locations test data, created through the API as an administrator would."""

from typing import Any

import httpx

from tests.factories.accounts import AppLogin


async def create_location(
    client: httpx.AsyncClient,
    who: AppLogin,
    code: str,
    kind: str = "zone",
    parent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One location (named after its code unless `name` is given); returns it as the API does."""
    body = {"code": code, "name": f"{code} name", "kind": kind, **extra}
    if parent is not None:
        body["parent"] = parent
    response = await client.post("/api/v1/locations", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_tree(
    client: httpx.AsyncClient, who: AppLogin, *places: tuple[str, str | None, str]
) -> list[str]:
    """Locations given as (code, parent code or None, kind), parents first; returns the codes."""
    for code, parent, kind in places:
        await create_location(client, who, code, kind, parent, name=code.title())
    return [code for code, _, _ in places]
