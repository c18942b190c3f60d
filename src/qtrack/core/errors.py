"""Domain errors that carry their HTTP status and a stable code, and the handlers that render them.

JSON under `/api` (and for health endpoints):
    {"error": {"code": ..., "message": ..., "details": ...}, "request_id": ...}
an HTML page everywhere else.
"""

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from qtrack.core.http import ORJSONResponse, wants_json
from qtrack.core.requests import request_id_of
from qtrack.core.templating import render_error_page

log = structlog.get_logger("qtrack.errors")

LOGIN_PATH = "/login"


class QtrackError(Exception):
    """Base of every error a service may raise; the handler turns it into a response."""

    status_code: int = 500
    code: str = "internal_error"
    message: str = "Internal server error"
    # Most errors undo the whole request. A few must keep what was flushed before they were
    # raised (a failed login is recorded; a stolen refresh token's family stays revoked).
    keep_changes: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(QtrackError):
    status_code, code, message = 400, "bad_request", "The request is not valid"


class Unauthorized(QtrackError):
    status_code, code, message = 401, "unauthorized", "Authentication required"


class Forbidden(QtrackError):
    status_code, code, message = 403, "forbidden", "Not allowed"


class NotFound(QtrackError):
    status_code, code, message = 404, "not_found", "Not found"


class Conflict(QtrackError):
    status_code, code, message = 409, "conflict", "Conflicts with the current state"


class PreconditionFailed(QtrackError):
    status_code, code, message = 412, "precondition_failed", "The resource has changed"


class PayloadTooLarge(QtrackError):
    status_code, code, message = 413, "payload_too_large", "The request body is too large"


class ValidationFailed(QtrackError):
    status_code, code, message = 422, "validation_error", "The request is not valid"


class RateLimited(QtrackError):
    status_code, code, message = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(QtrackError):
    status_code, code, message = 503, "unavailable", "Service unavailable"


DATABASE_RETRY_AFTER_S = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The database refused a connection, has none free, or lost one: try again shortly."""

    code, message = (
        "database_unavailable",
        "The database is not available right now; nothing was changed. Try again shortly",
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        retry = {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
        super().__init__(message, details=details, headers={**retry, **(headers or {})})


class DatabaseBusy(DatabaseUnavailable):
    """PostgreSQL chose this transaction to give way to another that held the same rows
    (a deadlock) or could not order the two (a serialization failure). The transaction was
    rolled back whole: sending the request again is safe, and usually succeeds at once."""

    code, message = (
        "database_busy",
        "Another change held the same records and this one gave way; nothing was changed. "
        "Try again",
    )

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message, details=details, headers={"Retry-After": "1"})


class DatabaseNotMigrated(DatabaseUnavailable):
    """The tables this code needs are not there: the database was never migrated, or is
    behind this version of qtrack."""

    code, message = (
        "database_not_migrated",
        "The database is not migrated to this version of qtrack: run `qtrack db upgrade`",
    )


# SQLSTATEs that say the server cannot take (more) work now, rather than that the request
# was wrong: connection exceptions (class 08), too many connections, shutting down, starting.
_UNAVAILABLE_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})
# A deadlock, a serialization failure: this transaction gave way to another; a lock not
# granted within the transaction's lock_timeout.
_BUSY_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
# SQLite's equivalents: the file cannot be opened, or a writer held the lock past the busy
# timeout (the embedded database's "no free connection").
_UNAVAILABLE_SQLITE = ("unable to open database file", "database is locked")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 8 and current not in seen:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return seen


def as_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The error as a 503 `database_unavailable` when it says the database cannot serve now
    (a refused, exhausted or lost connection), `database_busy` when the transaction gave way
    to another (a deadlock); None for any other error."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("No database connection came free in time; try again shortly")
    if not isinstance(exc, DBAPIError):
        return None
    if exc.connection_invalidated:
        return DatabaseUnavailable()
    for cause in _chain(exc):
        state = str(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or "")
        if state.startswith("08") or state in _UNAVAILABLE_SQLSTATES:
            return DatabaseUnavailable()
        if state in _BUSY_SQLSTATES:
            return DatabaseBusy()
        if state == "42P01":  # undefined_table
            return DatabaseNotMigrated()
        if type(cause).__name__ == "OperationalError":
            text = str(cause)
            if text.startswith(_UNAVAILABLE_SQLITE):
                return DatabaseUnavailable()
            if text.startswith("no such table"):
                return DatabaseNotMigrated()
    return None


# Codes for errors raised by the framework itself (routing, method, body parsing).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_body(
    request_id: str | None, code: str, message: str, details: Any = None
) -> dict[str, Any]:
    """The one JSON shape every API error has."""
    return {
        "error": {"code": code, "message": message, "details": details},
        "request_id": request_id,
    }


async def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render an error as JSON for API clients or as an HTML page for browsers."""
    rid = request_id_of(request.scope)
    if status == 401 and not wants_json(request.scope):
        # A person without a session is sent to log in, and brought back afterwards.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
    if wants_json(request.scope):
        try:
            return ORJSONResponse(
                error_body(rid, code, message, details), status_code=status, headers=headers
            )
        except orjson.JSONEncodeError:
            # Details echo the request (an out-of-range number...): the error still gets out.
            log.warning("error_details_not_encodable", code=code)
            return ORJSONResponse(
                error_body(rid, code, message), status_code=status, headers=headers
            )
    return await render_error_page(
        request, status=status, code=code, message=message, headers=headers
    )


def _validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep what a client needs to fix its request: where, what, and the error type."""
    details = []
    for err in errors:
        details.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return details


async def _qtrack_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QtrackError)
    return await error_response(
        request, exc.status_code, exc.code, exc.message, exc.details, headers=exc.headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc.errors())
    malformed = any(d["type"] == "json_invalid" for d in details)
    message = "The request body is not valid JSON" if malformed else "The request is not valid"
    return await error_response(request, 422, "validation_error", message, details)


# FastAPI raises a bare 400 with this text when a JSON body cannot even be decoded (bytes that
# are not UTF-8). To a client that is malformed JSON like any other: 422.
_UNDECODABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and exc.detail == _UNDECODABLE_BODY:
        return await error_response(
            request,
            422,
            "validation_error",
            "The request body is not valid JSON",
            [{"loc": ["body"], "msg": "body is not valid UTF-8 JSON", "type": "json_invalid"}],
        )
    code = _HTTP_CODES.get(status, "http_error")
    try:
        default = HTTPStatus(status).phrase
    except ValueError:
        default = "Error"
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else default
    return await error_response(request, status, code, message, headers=exc.headers)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # A unique key refused a row: two requests raced to create the same thing, and the
    # service's own "already exists" check could not see the other's uncommitted row.
    log.info("integrity_error", error=type(getattr(exc, "orig", exc)).__name__)
    return await error_response(request, 409, "conflict", "It already exists, or it is in use")


async def _data_error(request: Request, exc: Exception) -> Response:
    # Values the database cannot store: NUL characters, numbers out of range, text that grew
    # past its column when lower-cased. The input is wrong, not the server.
    log.info("data_error", error=type(getattr(exc, "orig", exc)).__name__)
    return await error_response(
        request, 422, "invalid_value", "A value is out of range or not storable"
    )


def bad_value(exc: BaseException) -> bool:
    """Whether a driver error was about the value sent (out of range, unstorable)."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, DataError | OverflowError) or type(seen).__name__ in {
            "DataError",
            "CharacterNotInRepertoireError",
            "UntranslatableCharacterError",
            "NumericValueOutOfRangeError",
            "StringDataRightTruncationError",
        }:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


async def _unavailable(
    request: Request, unavailable: DatabaseUnavailable, exc: Exception
) -> Response:
    cause = exc.__cause__ if exc is unavailable else exc
    log.warning(
        "database_unavailable",
        error=type(cause).__name__ if cause else None,
        reason=str(cause).splitlines()[0][:200] if cause else None,
    )
    return await _qtrack_error(request, unavailable)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    unavailable = as_unavailable(exc)
    if unavailable is None:
        raise exc
    return await _unavailable(request, unavailable, exc)


async def _driver_error(request: Request, exc: Exception) -> Response:
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        return await _unavailable(request, unavailable, exc)
    if bad_value(exc):
        return await _data_error(request, exc)
    raise exc  # a real fault: the request context turns it into a logged 500


def install_error_handlers(app: FastAPI) -> None:
    """Route every expected error through one renderer.

    Unexpected exceptions are caught by `RequestContextMiddleware`, which owns the 500 path so
    that the request id and access log survive it.
    """
    app.add_exception_handler(QtrackError, _qtrack_error)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DBAPIError, _driver_error)
    app.add_exception_handler(OverflowError, _data_error)
