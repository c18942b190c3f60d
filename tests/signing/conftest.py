"""Fixtures for signing tests: no signing key kept from another test, and a supervisor."""

import httpx
import pytest

from qtrack.core.db import Database
from qtrack.signing import keys
from tests.factories.accounts import AppLogin, logged_in


@pytest.fixture(autouse=True)
def fresh_key_cache() -> None:
    """Each test starts with no signing key cached in this process."""
    keys.forget_cached_keys()


@pytest.fixture
async def qa(client: httpx.AsyncClient, db: Database) -> AppLogin:
    """A supervisor, logged in through the API."""
    return await logged_in(client, db, "qa", "supervisor")
