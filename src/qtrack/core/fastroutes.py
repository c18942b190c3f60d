"""The busiest routes answered without FastAPI's per-request machinery.

A scan lookup or a recorded transition does little work of its own; FastAPI's routing (every
included router tried in turn), its dependency solving and its request wrapper cost about a
third of a lookup's CPU (docs/benchmarks.md, issue 15). `install` puts one route in front of
the app's router, and `Front` (the innermost middleware) ahead of the layers between the app's
middleware and the router; both answer the routes named to them by running the SAME endpoint
functions with the SAME dependencies, solved by a plan compiled once from each route's own
dependency tree: whatever a route declares (authentication, the permission check, the
session and its commit, the app state, the caller's origin) runs in the same order, with the
same caching and the same scopes. The routes stay registered with FastAPI, so the OpenAPI document
describes them and anything this plan cannot answer exactly goes to them:

* a body that is not `application/json`, not valid JSON (by orjson) or not valid for its
  model is handed to the FastAPI route (with the body replayed), which answers its 422 in its
  own words;
* a route whose dependency tree holds anything else (query, header or cookie parameters, a
  sync function, a generator dependency of request scope, security scopes, an endpoint that
  does not return a `Response`) is refused when the app is built, as is a path that an
  earlier route with parameters could also match. Earlier routes with a literal path that
  this one would match (`/api/v1/items/fefo` before `/api/v1/items/{code}`) are left to the
  router.

`app.dependency_overrides` are not consulted here (qtrack sets none); a route with overrides
set must not be installed.
"""

import contextlib
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette._utils import get_route_path
from starlette.background import BackgroundTasks
from starlette.datastructures import URLPath
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One value a compiled step computes from what is known so far: the request, the request's
# background tasks, the path parameters, the parsed body, and earlier steps' values.
Values = dict[int, Any]


class Unsupported(Exception):
    """The route's dependencies hold something this plan would not solve as FastAPI does."""


@dataclass
class _Context:
    request: Request
    background: BackgroundTasks
    path_params: dict[str, str]
    body: Any
    stack: contextlib.AsyncExitStack
    values: Values = field(default_factory=dict)


_Arg = Callable[[_Context], Any]


@dataclass
class _Step:
    key: int  # the step's index, where its value is kept
    call: Callable[..., Any]
    args: list[tuple[str, _Arg]]
    # A generator dependency as a context manager factory, made once (not per request).
    manager: Callable[..., contextlib.AbstractAsyncContextManager[Any]] | None = None


def _json_content_type(value: str | None) -> bool:
    if value is None:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json"


def _value_of(key: int) -> _Arg:
    return lambda ctx: ctx.values[key]


def _path_param(name: str) -> _Arg:
    return lambda ctx: ctx.path_params[name]


class _Plan:
    """A route's dependency tree as a list of calls, compiled once."""

    def __init__(self, dependant: Dependant) -> None:
        assert dependant.call is not None
        self.endpoint: Callable[..., Any] = dependant.call
        self.steps: list[_Step] = []
        self._cache: dict[Callable[..., Any], int] = {}
        self.body_model: type[BaseModel] | None = None
        if dependant.body_params:
            if len(dependant.body_params) != 1:
                raise Unsupported("more than one body parameter")
            annotation = dependant.body_params[0].field_info.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise Unsupported("a body that is not one pydantic model")
            self.body_model = annotation
        self.endpoint_args = self._args(dependant, endpoint=True)
        if not inspect.iscoroutinefunction(self.endpoint):
            raise Unsupported("an endpoint that is not an async function")
        returns = inspect.signature(self.endpoint, eval_str=True).return_annotation
        if not (isinstance(returns, type) and issubclass(returns, Response)):
            raise Unsupported("an endpoint that does not return a Response")

    def _args(self, dependant: Dependant, *, endpoint: bool) -> list[tuple[str, _Arg]]:
        if (
            dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.websocket_param_name
            or dependant.response_param_name
            or dependant.security_scopes_param_name
            or dependant.own_oauth_scopes
        ):
            raise Unsupported(f"parameters of {dependant.call!r} this plan does not solve")
        if dependant.body_params and not endpoint:
            raise Unsupported("a body parameter in a dependency")
        args: list[tuple[str, _Arg]] = []
        for sub in dependant.dependencies:
            key = self._step(sub)
            if sub.name is not None:  # a route's `dependencies=[...]` run, unnamed
                args.append((sub.name, _value_of(key)))
        for param in dependant.path_params:
            if param.field_info.annotation is not str:
                raise Unsupported("a path parameter that is not a str")
            args.append((param.name, _path_param(param.name)))
        for param in dependant.body_params:
            args.append((param.name, lambda ctx: ctx.body))
        for name in (dependant.request_param_name, dependant.http_connection_param_name):
            if name:
                args.append((name, lambda ctx: ctx.request))
        if dependant.background_tasks_param_name:
            args.append((dependant.background_tasks_param_name, lambda ctx: ctx.background))
        return args

    def _step(self, dependant: Dependant) -> int:
        call = dependant.call
        assert call is not None
        if dependant.use_cache and call in self._cache:
            return self._cache[call]
        generator = inspect.isasyncgenfunction(call)
        if generator and dependant.scope != "function":
            raise Unsupported(f"{call!r}: a generator dependency that outlives the endpoint")
        if not generator and not inspect.iscoroutinefunction(call):
            raise Unsupported(f"{call!r}: not an async function (FastAPI runs it in a thread)")
        args = self._args(dependant, endpoint=False)
        key = len(self.steps)
        manager = contextlib.asynccontextmanager(call) if generator else None
        self.steps.append(_Step(key, call, args, manager))
        if dependant.use_cache:
            self._cache[call] = key
        return key

    async def run(self, ctx: _Context) -> Response:
        for step in self.steps:
            kwargs = {name: arg(ctx) for name, arg in step.args}
            if step.manager is not None:
                ctx.values[step.key] = await ctx.stack.enter_async_context(step.manager(**kwargs))
            else:
                ctx.values[step.key] = await step.call(**kwargs)
        response = await self.endpoint(**{name: arg(ctx) for name, arg in self.endpoint_args})
        if not isinstance(response, Response):
            raise TypeError(f"{self.endpoint.__name__} answered {type(response).__name__}")
        return response


@dataclass
class _Target:
    route: APIRoute  # the route FastAPI would pick (scope["route"], metrics, logs)
    app: ASGIApp  # what FastAPI would run for it: the answer to a body we leave to it
    plan: _Plan
    method: str
    regex: re.Pattern[str]
    literal_exclusions: frozenset[str]


class FastRoutes(BaseRoute):
    """One route in front of the router answering the hot routes (see the module's doc)."""

    def __init__(self, targets: Sequence[_Target], prefix: str) -> None:
        self.targets = list(targets)
        self.prefix = prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path = get_route_path(scope)
        if not path.startswith(self.prefix):
            return Match.NONE, {}
        method = scope["method"]
        for target in self.targets:
            if method != target.method:
                continue
            found = target.regex.match(path)
            if found is None or path in target.literal_exclusions:
                continue
            return Match.FULL, {
                "endpoint": target.route.endpoint,
                "path_params": found.groupdict(),
                "route": target.route,
                "qtrack_fast_target": target,
            }
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        # URLs are built from the routes FastAPI keeps (they have the names); none from here.
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        target: _Target = scope.pop("qtrack_fast_target")
        request = Request(scope, receive, send)
        body, refused = await _body(target.plan, request)
        if refused is not None:
            # FastAPI answers whatever is wrong with it, in its own words.
            await target.app(scope, _replay(refused, receive), send)
            return
        await _answer(target.plan, request, body, scope, receive, send)


class Front:
    """Pure ASGI middleware, the innermost of the app's: a request for a hot route goes
    straight to its plan, past Starlette's exception middleware, FastAPI's exit stack and the
    router (a call, a frame and a wrapped `send` each, on every request), with the scope keys
    they would have set: the app's exception handlers (which answer the plan's errors exactly
    as they answer any route's), the router, the matched route and its path parameters.

    Everything else goes on down the stack, as does a hot route's body that FastAPI should
    answer (replayed; `FastRoutes` in the router then hands it to FastAPI's route). Starlette
    builds its exception middleware right inside the app's own middleware; should the stack
    ever be built otherwise, this passes every request on and `FastRoutes` still answers."""

    def __init__(self, app: ASGIApp, routes: FastRoutes, router: Router) -> None:
        self.app = app
        self.routes = routes
        self.router = router
        self.handlers = (
            (app._exception_handlers, app._status_handlers)
            if isinstance(app, ExceptionMiddleware)
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.handlers is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match, child = self.routes.matches(scope)
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        target: _Target = child.pop("qtrack_fast_target")
        request = Request(scope, receive, send)
        body, refused = await _body(target.plan, request)
        if refused is not None:
            await self.app(scope, _replay(refused, receive), send)
            return
        scope["starlette.exception_handlers"] = self.handlers
        if "router" not in scope:
            scope["router"] = self.router
        scope.update(child)
        await _answer(target.plan, request, body, scope, receive, send)


async def _answer(
    plan: _Plan, request: Request, body: Any, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run the route's plan and send its response; the exceptions it raises are answered by
    the app's handlers, as Starlette's exception middleware would answer them."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        background = BackgroundTasks()
        async with contextlib.AsyncExitStack() as stack:
            ctx = _Context(request, background, scope["path_params"], body, stack)
            response = await plan.run(ctx)
        if response.background is None:
            response.background = background
        await response(scope, receive, send)

    await wrap_app_handling_exceptions(app, request)(scope, receive, send)


async def _body(plan: _Plan, request: Request) -> tuple[Any, bytes | None]:
    """The request's body as the plan's model (None for a route without one), or, when
    FastAPI should say what is wrong with it, the bytes read, to be replayed to it."""
    if plan.body_model is None:
        return None, None
    raw = await _read_body(request)
    body = _parse(plan.body_model, raw, request.headers.get("content-type"))
    return (None, raw) if body is None else (body, None)


async def _read_body(request: Request) -> bytes:
    """The whole body, read from the request's messages, as `Request.body()` reads it and
    kept where that finds it: without Starlette's stream, an async generator whose steps cost
    more than the read itself."""
    chunks: list[bytes] = []
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # what `Request.body()` returns from now on (FastAPI's, the pages')
    return body


def _parse(model: type[BaseModel], raw: bytes, content_type: str | None) -> BaseModel | None:
    """The body as its model, or None when FastAPI should say what is wrong with it."""
    if not raw or not _json_content_type(content_type):
        return None
    try:
        return model.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _replay(raw: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


def _candidates(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """What the app's router tries, in its order: its own routes, and for an included router
    the routes as FastAPI runs them there (its "effective" route contexts: prefix, tags and
    dependencies of the inclusion applied)."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            yield route
            continue
        if getattr(route.original_router, "_low_priority_routes", None):  # type: ignore[attr-defined]
            raise Unsupported("an included router with low-priority routes")
        yield from contexts()


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _target(app: FastAPI, method: str, path: str) -> _Target:
    earlier: list[Any] = []
    for candidate in _candidates(app.router.routes):
        original = getattr(candidate, "original_route", candidate)
        if (
            isinstance(original, APIRoute)
            and candidate.path == path
            and method in (candidate.methods or ())
        ):
            break
        earlier.append(candidate)
    else:
        raise Unsupported(f"no route {method} {path}")
    regex: re.Pattern[str] = candidate.path_regex
    exclusions = set()
    for other in earlier:
        other_path = getattr(other, "path", None)
        other_regex = getattr(other, "path_regex", None)
        methods = getattr(other, "methods", None)
        if other_path is None or other_regex is None:
            raise Unsupported(f"cannot tell whether {other!r} comes before {method} {path}")
        if methods is not None and method not in methods:
            continue
        if "{" not in other_path:
            if regex.match(other_path):
                exclusions.add(other_path)
        elif other_regex.match(_sample(path)) or regex.match(_sample(other_path)):
            raise Unsupported(f"{other_path} is tried before {path} and may match it too")
    app_of = candidate.app if candidate is not original else original.app
    return _Target(
        route=original,
        app=app_of,
        plan=_Plan(candidate.dependant),
        method=method,
        regex=regex,
        literal_exclusions=frozenset(exclusions),
    )


def install(app: FastAPI, routes: Sequence[tuple[str, str]]) -> None:
    """Answer these (method, path template) routes ahead of the router (from `Front`, and
    from the router's first route); every other request goes on to it. Call after every
    router is included and before any middleware is added."""
    if app.dependency_overrides:
        raise Unsupported("dependency overrides are set")
    targets = [_target(app, method, path) for method, path in routes]
    prefix = _common_prefix([path for _, path in routes])
    fast = FastRoutes(targets, prefix)
    app.router.routes.insert(0, fast)
    if targets:
        # Innermost while no middleware has been added yet (qtrack adds its own after this).
        app.add_middleware(Front, routes=fast, router=app.router)


def _common_prefix(paths: Sequence[str]) -> str:
    prefix = paths[0].split("{", 1)[0] if paths else ""
    for path in paths[1:]:
        literal = path.split("{", 1)[0]
        while not literal.startswith(prefix):
            prefix = prefix[:-1]
    return prefix
