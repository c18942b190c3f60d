"""Pure ASGI middleware: request context (id, logs, metrics, the 500 path, security
headers), body limits. Pure ASGI rather than BaseHTTPMiddleware: it costs less per request and
keeps streaming intact."""

import time
from collections.abc import Mapping

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qtrack.core.errors import as_unavailable, error_response
from qtrack.core.logging import InfoLine
from qtrack.core.metrics import Metrics
from qtrack.core.requests import (
    REQUEST_ID_HEADER,
    accept_request_id,
    close_log_context,
    open_log_context,
    request_user_of,
    set_request_id,
)

# The access line, one per request (core/logging.py). Its level is asked before the line is
# built (as structlog's `filter_by_level` would ask it after): at WARNING, building the line
# and passing it through structlog cost ~3 % of a scan lookup's CPU.
_access_line = InfoLine("qtrack.access")
error_log = structlog.get_logger("qtrack.errors")


def _route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics don't explode with one label per id."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "<unmatched>"


class RequestContextMiddleware:
    """Gives every request an id, logs one line for it, counts it, owns the 500 path, and adds
    the security headers to every HTTP response (errors included).

    A request slower than `slow_request_ms` (0: none) logs a warning as well, so that a slow
    route stands out at the level operators watch. One middleware for all of it: each layer
    of pure ASGI middleware costs a call and a wrapped `send` on every request, and the scan
    paths are counted in tenths of a millisecond (docs/benchmarks.md, issue 15)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics | None,
        slow_request_ms: int = 0,
        *,
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.slow_s = slow_request_ms / 1000 if slow_request_ms > 0 else None
        self.security = SecurityHeaders(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        raw_id = None
        for name, value in scope.get("headers") or ():
            if name == _REQUEST_ID_RAW:
                raw_id = value
        request_id = accept_request_id(raw_id.decode("latin-1") if raw_id else None)
        set_request_id(scope, request_id)
        log_context = open_log_context(request_id)
        security = self.security.for_path(scope.get("path", ""))

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = message.setdefault("headers", [])
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers)
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in security if h[0] not in present)
                headers.append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # A database that cannot serve is no bug: 503, even when it fails outside the
            # routes' handlers (an error page's own query, a background task).
            unavailable = as_unavailable(exc)
            if unavailable is None:
                error_log.exception("unhandled_exception", path=scope.get("path"))
                status = 500
            else:
                error_log.warning(unavailable.code, path=scope.get("path"))
                status = 503
            if not response_started:
                response = await error_response(
                    Request(scope),
                    500 if unavailable is None else unavailable.status_code,
                    "internal_error" if unavailable is None else unavailable.code,
                    "Internal server error" if unavailable is None else unavailable.message,
                    headers=None if unavailable is None else unavailable.headers,
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            if self.metrics is not None:
                self.metrics.observe(method, route, status, elapsed)
            if _access_line.enabled():
                _access_line.info(
                    "request",
                    method=method,
                    path=scope.get("path"),
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    user=request_user_of(scope),
                    client=(scope.get("client") or (None,))[0],
                )
            if self.slow_s is not None and elapsed >= self.slow_s:
                _access_line.bound.warning(
                    "slow_request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    threshold_ms=round(self.slow_s * 1000),
                )
                if self.metrics is not None:
                    self.metrics.slow_requests.labels(route).inc()
            close_log_context(log_context)


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413 before any handler sees them.

    A declared Content-Length over the limit is refused unread. Otherwise the body is read up
    to the limit and replayed, so a chunked upload cannot get past it either.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # path prefix -> a larger limit (file uploads), counted as the body streams in
        self.larger = dict(larger or {})

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return

        limit = self._limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, receive, send, limit)
                return
        if limit != self.max_bytes:
            await self._streamed(scope, receive, send, limit)
            return

        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break

        replay = iter(messages)

        async def replay_receive() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replay_receive, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A large upload is never held whole here: its body is counted as the handler reads
        it; past the limit the handler is told the client left, and whatever it answers is
        replaced by the 413."""
        size = 0
        over = False

        async def counting_receive() -> Message:
            nonlocal size, over
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not over:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = await error_response(
            Request(scope),
            413,
            "payload_too_large",
            f"The request body is larger than {limit} bytes",
            details={"max_bytes": limit},
        )
        await response(scope, receive, send)


# A policy fit for server-rendered pages with our own scripts and styles, camera use, and
# QR images as data: or blob: URLs. No inline script, no third-party origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "worker-src 'self'",
        "manifest-src 'self'",
    ]
)

# Swagger UI sets inline styles; the API docs page alone may use them.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": "camera=(self), geolocation=(self), microphone=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode()


class SecurityHeaders:
    """The security headers every HTTP response carries (a header the response sets itself
    is left as it is), encoded once."""

    def __init__(self, hsts: bool) -> None:
        headers = dict(SECURITY_HEADERS)
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        self.headers = _encoded(headers)
        # Swagger UI sets inline styles; the API docs page alone may use them.
        self.docs_headers = _encoded(
            {**headers, "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}
        )

    def for_path(self, path: str) -> list[tuple[bytes, bytes]]:
        """The headers a response to this path gets."""
        return self.docs_headers if path.startswith("/api/docs") else self.headers


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
