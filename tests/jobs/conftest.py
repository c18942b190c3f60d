"""Fixtures for the jobs tests: quick leases and polls, a registry restored after each test,
and runners on the test's database."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI

from qtrack.config import Settings
from qtrack.core.state import AppState
from qtrack.jobs import registry
from qtrack.jobs.runner import Runner
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, jobs_lease_grace_s=1.0, jobs_poll_s=0.05, jobs_retry_base_s=10.0
    )


@pytest.fixture(autouse=True)
def isolated_registry() -> Iterator[None]:
    """Jobs a test registers are forgotten after it."""
    saved = registry.snapshot()
    yield
    registry.restore(saved)


@pytest.fixture
def no_shipped_schedules(isolated_registry: None) -> None:
    """Only the schedules the test itself declares: the shipped ones (audit checkpoints,
    housekeeping, reports...) would otherwise enqueue jobs of their own when they fall due."""
    now = registry.snapshot()
    registry.restore(registry.Snapshot(now.jobs, {}, now.pollers))


@pytest.fixture
def state(app: FastAPI) -> AppState:
    value: AppState = app.state.qtrack
    return value


@pytest.fixture
def make_runner(state: AppState) -> Callable[..., Runner]:
    def make(concurrency: int = 4, on: AppState | None = None) -> Runner:
        return Runner(on or state, kind="worker", concurrency=concurrency)

    return make
