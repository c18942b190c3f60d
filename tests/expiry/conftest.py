"""Expiry test data: dates around today, a workflow that consumes and expires, items."""

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from qtrack.core.clock import utcnow
from tests.factories.accounts import AppLogin
from tests.factories.items import register
from tests.timing import clear_of_midnight

# A workflow whose items are used up by a transition and expire by one.
KIT_WORKFLOW: dict[str, Any] = {
    "initial": "ready",
    "states": [
        {"key": "ready", "label": "Ready"},
        {"key": "held", "label": "Held"},
        {"key": "used", "label": "Used", "terminal": True},
        {"key": "gone_off", "label": "Gone off", "expired": True},
    ],
    "transitions": [
        {"name": "hold", "from": ["ready"], "to": "held"},
        {"name": "consume", "from": ["ready"], "to": "used", "permission": "item.dispense"},
        {"name": "spoil", "from": ["ready"], "to": "gone_off", "reason_required": True},
    ],
}


@pytest.fixture(autouse=True)
def one_day() -> None:
    """The tests date items from today, and the server works today out again: both the same
    day."""
    clear_of_midnight()


def day(offset: int) -> str:
    """Today (UTC, the tests' site) plus `offset` days, as ISO text."""
    return (utcnow().date() + timedelta(days=offset)).isoformat()


def today() -> date:
    """The tests' site date."""
    return utcnow().date()


@pytest.fixture
async def kit(client: httpx.AsyncClient, admin: AppLogin) -> str:
    """The item type `kit` (prefix KIT) with the workflow above; its key."""
    made = await client.post(
        "/api/v1/workflows",
        json={"key": "kit", "name": "Kit", "definition": KIT_WORKFLOW},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    typed = await client.post(
        "/api/v1/item-types",
        json={
            "key": "kit",
            "name": "Kit",
            "code_prefix": "KIT",
            "workflow": "kit",
            "tracks_expiry": True,
            "expiry_window_days": 7,
        },
        headers=admin.headers,
    )
    assert typed.status_code == 201, typed.text
    return "kit"


async def supply(
    client: httpx.AsyncClient, who: AppLogin, expiry_on: str | None, **fields: Any
) -> str:
    """A supply with 10 pieces expiring then; its code."""
    item = await register(client, who, type="supply", quantity="10", expiry_on=expiry_on, **fields)
    return str(item["code"])
