"""Fixtures for backup tests: a second empty database to restore into."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qtrack.config import Settings
from tests.conftest import make_settings
from tests.databases import PostgresTemplates


@pytest.fixture
async def other_empty_url(
    backend: str, tmp_path: Path, postgres_templates: PostgresTemplates | str
) -> AsyncIterator[str]:
    """Another empty database (no tables) on the same backend."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
        return
    assert not isinstance(postgres_templates, str)
    name, url = await postgres_templates.empty()
    yield url
    await postgres_templates.drop(name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The server's settings, with a long SQLite busy timeout: the write-load test queues
    writers on the lock, and a busy shared machine can keep one waiting past the default."""
    return make_settings(database_url, sqlite_busy_timeout_ms=60_000)
