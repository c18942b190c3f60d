"""The app takes each router's routes as they were declared: the same routes, in the same
order and with the same API description, as FastAPI's `include_router` would build again."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from qtrack import app as qtrack_app
from tests.conftest import make_settings


def _routes(app: FastAPI) -> list[tuple[Any, ...]]:
    """Path, methods, name and endpoint (by name: some are closures made per app)."""
    routes = []
    for context in iter_route_contexts(app.routes):
        endpoint = getattr(getattr(context, "original_route", context), "endpoint", None)
        routes.append(
            (
                getattr(context, "path", None),
                sorted(getattr(context, "methods", None) or ()),
                getattr(context, "name", None),
                f"{endpoint.__module__}.{endpoint.__qualname__}" if endpoint else None,
            )
        )
    return routes


def test_the_routes_are_those_include_router_would_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'qtrack.db'}")
    ours = qtrack_app.create_app(settings)
    monkeypatch.setattr(qtrack_app, "_add", lambda app, router: app.include_router(router))
    included = qtrack_app.create_app(settings)

    assert _routes(ours) == _routes(included)
    assert len(_routes(ours)) > 200
    assert ours.openapi() == included.openapi()
