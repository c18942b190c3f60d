"""What the OpenAPI document says a route answers: the error envelope, and short helpers that
build FastAPI's `responses=` from the errors a route can raise.

    @router.get("/items/{code}", responses=errors(ItemNotFound))

Each status lists the stable codes a client can branch on; tests/test_api_contract.py checks
that the API answers nothing the document does not list.
"""

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from qtrack.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    QtrackError,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)

Responses = dict[int | str, dict[str, Any]]
# An error a route can answer with: a QtrackError class (its status and code), a bare status
# (its generic codes), or a group of either.
ErrorSpec = int | type[QtrackError] | Iterable["ErrorSpec"]


class ErrorInfo(BaseModel):
    """What went wrong."""

    code: str = Field(description="Stable and machine-readable: branch on this")
    message: str = Field(description="For people; the wording may change")
    details: Any = Field(
        default=None, description="What the code needs said: fields, limits, names"
    )


class ErrorEnvelope(BaseModel):
    """The body of every error the API answers with."""

    error: ErrorInfo
    request_id: str | None = Field(description="Also in the X-Request-ID header; quote it")


# The codes a bare status stands for: what the framework, the error handlers and the base
# classes answer with when no more specific error applies.
_GENERIC_CODES: dict[int, tuple[str, ...]] = {
    400: (BadRequest.code,),
    401: (Unauthorized.code,),
    403: (Forbidden.code,),
    404: (NotFound.code,),
    409: (Conflict.code,),
    412: (PreconditionFailed.code,),
    413: (PayloadTooLarge.code,),
    # Bad input FastAPI catches (the failing fields in `details`), and values the database
    # cannot store (numbers out of range, NUL characters).
    422: (ValidationFailed.code, "invalid_value"),
    429: (RateLimited.code,),
    503: (ServiceUnavailable.code,),
}
_ANY_REQUEST = (413, 422)
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}


def _collect(specs: Iterable[ErrorSpec], codes: dict[int, list[str]]) -> None:
    for spec in specs:
        if isinstance(spec, int):
            found = [(spec, code) for code in _GENERIC_CODES.get(spec, ())]
            codes.setdefault(spec, [])
        elif isinstance(spec, type):
            found = [(spec.status_code, spec.code)]
        else:
            _collect(spec, codes)
            continue
        for status, code in found:
            if code not in codes.setdefault(status, []):
                codes[status].append(code)


def _mentions(spec: ErrorSpec, status: int) -> bool:
    if isinstance(spec, int):
        return spec == status
    if isinstance(spec, type):
        return spec.status_code == status
    return any(_mentions(inner, status) for inner in spec)


def errors(*specs: ErrorSpec) -> Responses:
    """FastAPI `responses=` for these errors: the error envelope under each status, with a
    description naming the stable codes it can carry."""
    codes: dict[int, list[str]] = {}
    # Any request can be refused for its size or its shape before a route runs, whatever else
    # the route says under that status; a route's own entry replaces its router's, so it must
    # name those too.
    _collect([s for s in _ANY_REQUEST if any(_mentions(spec, s) for spec in specs)], codes)
    _collect(specs, codes)
    responses: Responses = {}
    for status in sorted(codes):
        description = HTTPStatus(status).phrase
        if codes[status]:
            description += ": " + ", ".join(f"`{code}`" for code in codes[status])
        response: dict[str, Any] = {"model": ErrorEnvelope, "description": description}
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


def binary(
    *media_types: str, description: str, status: int = 200, not_modified: bool = False
) -> Responses:
    """FastAPI `responses=` for a route that answers with bytes (an image, a PDF, ZPL): its
    real media types and no JSON schema; with `not_modified`, the 304 of a matching ETag.

    Use it with `response_class=Response`, so FastAPI adds no JSON media type of its own."""
    responses: Responses = {
        status: {"description": description, "content": {media: {} for media in media_types}}
    }
    if not_modified:
        responses[304] = {"description": "Not Modified: unchanged since the ETag in If-None-Match"}
    return responses
