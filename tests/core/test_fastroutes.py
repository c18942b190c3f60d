"""The hot routes' lean path (core/fastroutes.py) answers as FastAPI would, or refuses to build."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from qtrack.core import fastroutes


class Body(BaseModel):
    name: str
    count: int = 1


class Refused(Exception):
    pass


def _app(calls: list[str], *, fast: bool) -> FastAPI:
    async def session() -> AsyncIterator[str]:
        calls.append("session open")
        try:
            yield "session"
            calls.append("session commit")
        except Refused:
            calls.append("session rollback")
            raise

    SessionDep = Annotated[str, Depends(session, scope="function")]  # noqa: N806

    async def principal(request: Request, s: SessionDep, background: BackgroundTasks) -> str:
        calls.append(f"principal in {s}")
        if request.headers.get("authorization") != "Bearer ok":
            raise Refused()
        background.add_task(calls.append, "background")
        return "alice"

    async def check(who: Annotated[str, Depends(principal)]) -> str:
        calls.append("check")
        return who

    router = APIRouter(prefix="/api")

    @router.get("/things/fixed")
    async def fixed() -> dict[str, str]:
        return {"route": "fixed"}

    @router.get("/things/{code}")
    async def get_thing(code: str, who: Annotated[str, Depends(check)], s: SessionDep) -> Response:
        calls.append(f"endpoint {code} {who} {s}")
        return JSONResponse({"code": code, "who": who})

    @router.post("/things/{code}/rename")
    async def rename(
        code: str, body: Body, who: Annotated[str, Depends(check)], request: Request
    ) -> Response:
        calls.append(f"rename {code} {body.name} {body.count} {who}")
        raw = await request.body()  # still there for whoever reads it again
        return JSONResponse(
            {"code": code, "name": body.name, "set": sorted(body.model_fields_set), "raw": len(raw)}
        )

    app = FastAPI()

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return JSONResponse({"error": "refused"}, status_code=401)

    app.include_router(router)
    if fast:
        fastroutes.install(
            app, [("GET", "/api/things/{code}"), ("POST", "/api/things/{code}/rename")]
        )
    return app


async def _both(method: str, path: str, **kwargs: object) -> list[tuple[int, object, list[str]]]:
    answers = []
    for fast in (False, True):
        calls: list[str] = []
        app = _app(calls, fast=fast)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        answers.append((response.status_code, response.json(), calls))
    return answers


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/things/a%20b", {"headers": {"authorization": "Bearer ok"}}),
        ("GET", "/api/things/x", {}),  # refused: the session rolls back, no background task
        ("GET", "/api/things/fixed", {}),  # the earlier literal route keeps its path
        (
            "POST",
            "/api/things/x/rename",
            {"headers": {"authorization": "Bearer ok"}, "json": {"name": "n"}},
        ),
        (
            "POST",
            "/api/things/x/rename",
            {"headers": {"authorization": "Bearer ok"}, "json": {"name": 3}},
        ),  # 422, FastAPI's words
        (
            "POST",
            "/api/things/x/rename",
            {
                "headers": {"authorization": "Bearer ok", "content-type": "application/json"},
                "content": b"{not json",
            },
        ),
        (
            "POST",
            "/api/things/x/rename",
            {
                "headers": {"authorization": "Bearer ok", "content-type": "text/plain"},
                "content": b'{"name": "n"}',
            },
        ),
        ("PUT", "/api/things/x/rename", {}),  # 405 from the router
    ],
)
async def test_answers_and_calls_as_fastapi_does(
    method: str, path: str, kwargs: dict[str, object]
) -> None:
    plain, fast = await _both(method, path, **kwargs)
    assert fast == plain
    assert plain[0] in (200, 401, 405, 422)


async def test_a_body_sent_in_parts_is_read_whole() -> None:
    answers = []
    for fast in (False, True):

        async def parts() -> AsyncIterator[bytes]:
            for part in (b'{"na', b'me": "in', b' parts", "count": 2}'):
                yield part

        calls: list[str] = []
        transport = httpx.ASGITransport(app=_app(calls, fast=fast))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/things/x/rename",
                content=parts(),
                headers={"authorization": "Bearer ok", "content-type": "application/json"},
            )
        answers.append((response.status_code, response.json(), calls))
    plain, fast_answer = answers
    assert fast_answer == plain
    assert plain[1] == {"code": "x", "name": "in parts", "set": ["count", "name"], "raw": 32}


def test_the_lean_path_is_the_one_taken() -> None:
    app = _app([], fast=True)
    first = app.router.routes[0]
    assert isinstance(first, fastroutes.FastRoutes)
    _, child = first.matches({"type": "http", "method": "GET", "path": "/api/things/a"})
    assert child["route"].path == "/api/things/{code}"
    assert child["path_params"] == {"code": "a"}
    # URLs are still built by name, from the routes FastAPI keeps.
    assert app.url_path_for("get_thing", code="a") == "/api/things/a"
    for method, path in (("GET", "/api/things/fixed"), ("PUT", "/api/things/a"), ("GET", "/x")):
        assert first.matches({"type": "http", "method": method, "path": path})[1] == {}


def test_refuses_what_it_cannot_solve_as_fastapi_does() -> None:
    app = FastAPI()

    @app.get("/q/{code}")
    async def with_query(code: str, limit: int = 10) -> Response:
        return JSONResponse({})

    def sync_dep() -> str:
        return "x"

    @app.get("/s/{code}")
    async def with_sync(code: str, x: Annotated[str, Depends(sync_dep)]) -> Response:
        return JSONResponse({})

    @app.get("/m/{code}")
    async def models(code: str) -> dict[str, str]:
        return {}

    @app.get("/o/{anything}")
    async def earlier(anything: str) -> Response:
        return JSONResponse({})

    @app.get("/o/{code}/")
    async def later(code: str) -> Response:
        return JSONResponse({})

    @app.get("/p/{a}")
    async def first(a: str) -> Response:
        return JSONResponse({})

    @app.get("/p/{b}")
    async def shadowed(b: str) -> Response:
        return JSONResponse({})

    for route in ("/q/{code}", "/s/{code}", "/m/{code}", "/p/{b}", "/nowhere"):
        with pytest.raises(fastroutes.Unsupported):
            fastroutes.install(app, [("GET", route)])
    fastroutes.install(app, [("GET", "/p/{a}")])


async def test_the_front_answers_past_the_router_with_the_scope_it_would_set() -> None:
    class Missing(Exception):
        pass

    app = FastAPI()

    @app.exception_handler(Missing)
    async def missing_thing(request: Request, exc: Missing) -> Response:
        return JSONResponse({"error": "missing"}, status_code=404)

    @app.get("/api/seen/{code}")
    async def seen(code: str, request: Request) -> Response:
        if code == "missing":
            raise Missing()
        scope = request.scope
        return JSONResponse(
            {
                # FastAPI's exit stack sits below the front: a request it answered never
                # passed through it (nor the router).
                "through_router": "fastapi_middleware_astack" in scope,
                "router": scope["router"] is app.router,
                "route": scope["route"].path,
                "handlers": "starlette.exception_handlers" in scope,
            }
        )

    fastroutes.install(app, [("GET", "/api/seen/{code}")])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = (await client.get("/api/seen/a")).json()
        missing = await client.get("/api/seen/missing")
    assert answer == {
        "through_router": False,
        "router": True,
        "route": "/api/seen/{code}",
        "handlers": True,
    }
    # An exception is answered by the app's handler for it, as through the router.
    assert (missing.status_code, missing.json()) == (404, {"error": "missing"})


async def test_without_the_exception_middleware_below_it_the_front_steps_aside() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"inner": True})(scope, receive, send)

    app = FastAPI()

    @app.get("/api/x/{code}")
    async def x(code: str) -> Response:
        return JSONResponse({"inner": False})

    fastroutes.install(app, [("GET", "/api/x/{code}")])
    first = app.router.routes[0]
    assert isinstance(first, fastroutes.FastRoutes)
    front = fastroutes.Front(inner, first, app.router)
    assert front.handlers is None
    transport = httpx.ASGITransport(app=front)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/api/x/a")).json() == {"inner": True}
