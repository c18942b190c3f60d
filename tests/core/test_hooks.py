"""Hooks: a lower package's need, answered per app by the app factory."""

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from qtrack.core.hooks import Hook, HookMissing

greeting: Hook[str] = Hook("test.greeting")


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello(word: Annotated[str, Depends(greeting)]) -> dict[str, str]:
        return {"said": word}

    return app


async def test_each_app_answers_with_what_it_was_given() -> None:
    one, two = _app(), _app()
    greeting.provide(one, "hello")
    greeting.provide(two, "bonjour")
    for app, said in ((one, "hello"), (two, "bonjour")):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/hello")).json() == {"said": said}
    assert greeting.of(one) == "hello"


def test_an_app_built_without_the_hook_says_which_one() -> None:
    with pytest.raises(HookMissing, match=r"test\.greeting"):
        greeting.of(_app())
