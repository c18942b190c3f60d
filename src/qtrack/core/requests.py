"""Request ids: taken from `X-Request-ID` when a proxy sent a sane one, made otherwise."""

import os
import re

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
