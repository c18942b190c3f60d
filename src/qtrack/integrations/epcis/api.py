"""EPCIS 2.0 JSON API: query events as an EPCISQueryDocument, capture a partner's document.

The query follows the EPCIS 2.0 REST binding's `GET /events`: its common query parameters,
`perPage` and `nextPageToken`, the next page named in a `Link: <…>; rel="next"` header.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from qtrack.accounts.deps import PERMISSION_ERRORS, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, SettingsDep
from qtrack.core.http import ORJSONResponse
from qtrack.core.openapi import errors
from qtrack.core.pagination import MAX_PAGE_SIZE, encode_cursor
from qtrack.integrations.epcis import query as epcis_query
from qtrack.integrations.epcis import service
from qtrack.integrations.epcis.errors import CaptureTooLarge, DocumentInvalid, QueryInvalid
from qtrack.integrations.epcis.schemas import CaptureReport

router = APIRouter(prefix="/api/v1/epcis", tags=["epcis"], responses=errors(PERMISSION_ERRORS))
EventReader = Annotated[Principal, Depends(require(Permission.EVENT_READ))]
Capturer = Annotated[Principal, Depends(require(Permission.EPCIS_CAPTURE))]

GS1_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
_LIST = "; several values: repeat the parameter or separate them with `|`"
_PARAMETERS: list[tuple[str, str]] = [
    ("eventType", "ObjectEvent, AggregationEvent, ..." + _LIST),
    ("GE_eventTime", "events at or after this time (RFC 3339, with its offset)"),
    ("LT_eventTime", "events before this time"),
    ("GE_recordTime", "events recorded by qtrack at or after this time"),
    ("LT_recordTime", "events recorded before this time"),
    ("EQ_action", "ADD, OBSERVE or DELETE" + _LIST),
    ("EQ_bizStep", "a CBV business step (bare term or CBV URI)" + _LIST),
    ("EQ_disposition", "a CBV disposition (bare term or CBV URI)" + _LIST),
    ("EQ_readPoint", "a read point: a qtrack location URI or an observer's" + _LIST),
    ("EQ_bizLocation", "a business location: a qtrack location URI or an observer's" + _LIST),
    ("WD_readPoint", "a qtrack location URI: read there or anywhere inside it" + _LIST),
    ("WD_bizLocation", "a qtrack location URI: there or anywhere inside it" + _LIST),
    ("EQ_eventID", "an eventID qtrack gave" + _LIST),
    ("MATCH_anyEPC", "an instance in epcList, childEPCs or parentID" + _LIST),
    ("MATCH_anyEPCClass", "a class in quantityList or childQuantityList" + _LIST),
    ("perPage", f"events a page (1 to {MAX_PAGE_SIZE}, default {epcis_query.DEFAULT_PER_PAGE})"),
    ("nextPageToken", "the token of the previous page's `Link: rel=next` header"),
]
_QUERY_DOC: dict[str, Any] = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
         "description": text}
        for name, text in _PARAMETERS
    ]
}  # fmt: skip
_CAPTURE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An EPCIS 2.0 EPCISDocument (JSON-LD)",
        "content": {
            "application/ld+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


def _media_type(request: Request) -> str:
    return (
        "application/ld+json"
        if "application/ld+json" in request.headers.get("accept", "")
        else "application/json"
    )


@router.get("/events", openapi_extra=_QUERY_DOC, responses=errors(PERMISSION_ERRORS, QueryInvalid))
async def query_events(
    request: Request, _: EventReader, session: SessionDep, settings: SettingsDep
) -> Response:
    """Events as an EPCISQueryDocument, oldest first, filtered by the EPCIS 2.0 REST binding's
    query parameters; a bad parameter or page token is 400 `epcis_query_invalid`."""
    query = epcis_query.parse(request.query_params.multi_items())
    document, last = await service.query_events(session, settings, query)
    headers = dict(GS1_HEADERS)
    if last is not None:
        token = encode_cursor(last)
        following = request.url.include_query_params(nextPageToken=token)
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return ORJSONResponse(document, headers=headers, media_type=_media_type(request))


@router.post(
    "/capture",
    openapi_extra=_CAPTURE_DOC,
    responses=errors(PERMISSION_ERRORS, DocumentInvalid, CaptureTooLarge),
)
async def capture(
    request: Request,
    response: Response,
    actor: Capturer,
    session: SessionDep,
    settings: SettingsDep,
) -> CaptureReport:
    """Record a partner's EPCISDocument: each event, on each item it names that qtrack knows,
    becomes an `observed` event of that item (again: nothing new). Unknown identifiers are
    listed; an invalid document is 400 `epcis_document_invalid` with each problem's JSON
    pointer, and nothing of it is recorded. Unlike the binding's capture jobs (202 and a
    Location to poll) this answers with the outcome: it is all done before the response."""
    response.headers.update(
        {**GS1_HEADERS, "GS1-EPCIS-Capture-Limit": str(settings.epcis_capture_limit)}
    )
    return await service.capture(session, settings, actor=actor, body=await request.body())
