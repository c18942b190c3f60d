"""Request ids: taken from `X-Request-ID` when a proxy sent a sane one, made otherwise; and
the request's log context, the fields every log line made while serving it carries."""

import os
import re
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any

from starlette.types import Scope

REQUEST_ID_HEADER = "x-request-id"
_SCOPE_KEY = "qtrack.request_id"
_USER_KEY = "qtrack.user"
# A client-supplied id is echoed into logs and headers, so only a short, plain token is accepted.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    """A fresh, unguessable request id: 32 hex digits (128 random bits; a `uuid4()` would
    cost more to make, for its version bits and object)."""
    return os.urandom(16).hex()


def accept_request_id(candidate: str | None) -> str:
    """Use the caller's id if it is safe to log and echo, otherwise make one."""
    if candidate and _SAFE_ID.match(candidate):
        return candidate
    return new_request_id()


def set_request_id(scope: Scope, request_id: str) -> None:
    """Remember the request id for this request."""
    scope[_SCOPE_KEY] = request_id


def request_id_of(scope: Scope) -> str | None:
    """The id of the request this scope belongs to, if the middleware has run."""
    value = scope.get(_SCOPE_KEY)
    return value if isinstance(value, str) else None


def set_request_user(scope: Scope, username: str) -> None:
    """Record who made the request, for the access log."""
    scope[_USER_KEY] = username


def request_user_of(scope: Scope) -> str | None:
    """Who made the request, once authentication has said so."""
    value = scope.get(_USER_KEY)
    return value if isinstance(value, str) else None


# One variable holding the request's fields, set once per request: structlog's own context
# variables (one per field, and a clear that walks the whole context) cost 20,000
# instructions a request, 3 % of a scan lookup (docs/benchmarks.md, issue 15, eighth pass).
_log_context: ContextVar[dict[str, Any] | None] = ContextVar("qtrack_log_context", default=None)


def open_log_context(request_id: str) -> Token[dict[str, Any] | None]:
    """Start the log context of a request (the request-context middleware does)."""
    return _log_context.set({"request_id": request_id})


def close_log_context(token: Token[dict[str, Any] | None]) -> None:
    """End it: what was there before comes back (nothing, under a server)."""
    _log_context.reset(token)


def add_to_log_context(**fields: Any) -> None:
    """Add fields to the current request's log lines (none outside a request)."""
    context = _log_context.get()
    if context is not None:
        context.update(fields)


def merge_log_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the request's fields, under the event's own."""
    context = _log_context.get()
    if not context:
        return event_dict
    return {**context, **event_dict}
