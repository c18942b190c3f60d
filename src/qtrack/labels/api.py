"""Labels JSON/binary API: QR images, label sheets (PDF), thermal labels (ZPL), templates,
and decoding camera frames."""

import hashlib
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes import decode
from qtrack.codes.api import LabelNotIssued
from qtrack.codes.decode import ImageInvalid, ImageTooLarge, ImageTooManyPixels, ImageUnsupported
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import Conflict, ValidationFailed
from qtrack.core.openapi import binary, errors
from qtrack.items import service as items_service
from qtrack.items.errors import ItemNotFound
from qtrack.labels import datamatrix, pdf, qr, zpl
from qtrack.labels import service as labels_service
from qtrack.labels.cache import QrCache, render_key
from qtrack.labels.schemas import (
    DecodeResult,
    LabelTemplateCreate,
    LabelTemplateRead,
    LabelTemplateUpdate,
    SymbolRead,
)
from qtrack.labels.service import (
    TemplateBuiltin,
    TemplateChanged,
    TemplateInUse,
    TemplateInvalid,
    TemplateNotFound,
    TemplateNotShipped,
    TooManyLabels,
    split_codes,
)
from qtrack.locations import service as locations_service
from qtrack.locations.service import LocationNotFound
from qtrack.signing import tokens
from qtrack.signing.keys import KeyLocked

router = APIRouter(prefix="/api/v1", tags=["labels"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Printer = Annotated[Principal, Depends(require(Permission.LABEL_PRINT))]
Admin = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]
Scale = Annotated[int, Query(ge=1, le=40, description="Pixels per module (PNG)")]
Border = Annotated[int, Query(ge=0, le=16, description="Quiet zone in modules")]
EcLevel = Literal["L", "M", "Q", "H"]
Ec = Annotated[EcLevel, Query(description="Error correction level")]
# A label's image never changes while its token stands; a reprint changes the token, and
# with it the ETag, so clients revalidate cheaply.
CACHE_CONTROL = "private, max-age=300"
RENDER_TTL_S = 7 * 86_400
QR_IMAGE = binary(
    "image/png", "image/svg+xml", description="The QR code, as the path names", not_modified=True
)
# Printing any mix of items and locations: what a label sheet or a ZPL job can refuse.
PRINT_ERRORS = (
    ItemNotFound, LocationNotFound, TemplateNotFound, TooManyLabels, ValidationFailed, KeyLocked
)  # fmt: skip
# Decoders take these, whatever the Content-Type says: the format is read from the bytes.
DECODABLE = {"schema": {"type": "string", "format": "binary"}}


def qr_cache(request: Request) -> QrCache:
    """The app's QR image cache (in process, and in Redis when configured)."""
    cache: QrCache = request.app.state.qr_cache
    return cache


Cache = Annotated[QrCache, Depends(qr_cache)]


async def _image(
    request: Request,
    cache: QrCache,
    data: str,
    kind: Literal["png", "svg"],
    scale: int,
    border: int,
    ec: EcLevel,
) -> Response:
    key = render_key(kind, data, scale=scale if kind == "png" else 0, border=border, ec=ec)
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if kind == "png":
        body = await cache.get_or_render(
            key,
            lambda: qr.render_png(data, scale=scale, border=border, ec=ec),
            RENDER_TTL_S,
        )
        return Response(body, media_type="image/png", headers=headers)
    body = await cache.get_or_render(
        key,
        lambda: qr.render_svg(data, border=border, ec=ec).encode(),
        RENDER_TTL_S,
    )
    return Response(body, media_type="image/svg+xml", headers=headers)


async def _item_label_url(session: SessionDep, state: StateDep, code: str) -> str:
    item = await items_service.find_item(session, code=code)
    label = await tokens.current_label(session, item.id)
    if label is None:
        raise LabelNotIssued(details={"item": item.code})
    return tokens.label_url(
        state.settings, await tokens.label_token(session, state.settings, label)
    )


@router.get(
    "/items/{code}/qr.{kind}",
    response_class=Response,
    responses=QR_IMAGE | errors(ItemNotFound, LabelNotIssued, KeyLocked),
)
async def item_qr(
    code: str,
    kind: Literal["png", "svg"],
    request: Request,
    _: Reader,
    session: SessionDep,
    state: StateDep,
    cache: Cache,
    scale: Scale = 8,
    border: Border = 4,
    ec: Ec = "M",
) -> Response:
    """The QR code of the item's current label, as PNG or SVG."""
    data = await _item_label_url(session, state, code)
    return await _image(request, cache, data, kind, scale, border, ec)


class NoGs1Data(Conflict):
    code, message = "no_gs1_data", "This item has no GTIN, so no GS1 DataMatrix"


@router.get(
    "/items/{code}/datamatrix.png",
    response_class=Response,
    responses=binary("image/png", description="The GS1 DataMatrix", not_modified=True)
    | errors(ItemNotFound, NoGs1Data),
)
async def item_datamatrix(
    code: str, request: Request, _: Reader, session: SessionDep, cache: Cache, scale: Scale = 6
) -> Response:
    """A GS1 DataMatrix of the item's GS1 data (GTIN, expiry, batch, serial)."""
    item = await items_service.find_item(session, code=code)
    if not item.gtin:
        raise NoGs1Data(details={"item": item.code})
    elements = datamatrix.gs1_element_string(
        gtin=item.gtin,
        batch=item.batch,
        expiry_raw=item.expiry_raw,
        expiry_on=item.expiry_on,
        serial=item.serial,
    )
    key = render_key("gs1dm", elements, scale=scale)
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = await cache.get_or_render(
        key, partial(datamatrix.render_png, elements, scale=scale), RENDER_TTL_S
    )
    return Response(body, media_type="image/png", headers=headers)


@router.get(
    "/locations/{code}/qr.{kind}",
    response_class=Response,
    responses=QR_IMAGE | errors(LocationNotFound),
)
async def location_qr(
    code: str,
    kind: Literal["png", "svg"],
    request: Request,
    _: Reader,
    session: SessionDep,
    cache: Cache,
    scale: Scale = 8,
    border: Border = 4,
    ec: Ec = "M",
) -> Response:
    """The QR code of a location: its code, for put-away scanning."""
    location = await locations_service.get_by_code(session, code)
    return await _image(request, cache, location.code, kind, scale, border, ec)


@router.get(
    "/labels.pdf",
    response_class=Response,
    responses=binary("application/pdf", description="The labels, ready to print")
    | errors(PRINT_ERRORS),
)
async def labels_pdf(
    _: Printer,
    session: SessionDep,
    state: StateDep,
    items: Annotated[str | None, Query(description="Item codes, comma-separated")] = None,
    locations: Annotated[str | None, Query(description="Location codes, comma-separated")] = None,
    template: Annotated[
        str | None,
        Query(description="Template key; default: the items' type's template, else a4-21"),
    ] = None,
    skip: Annotated[int, Query(ge=0, le=200, description="Used positions on the first sheet")] = 0,
) -> Response:
    """Labels as a PDF: sheets of N labels (skipping used ones), or one a page for a roll."""
    chosen = await labels_service.sheet_template(
        session, requested=template, items=split_codes(items)
    )
    layout = pdf.SheetLayout.from_template(chosen)
    if skip >= layout.per_page:
        raise ValidationFailed(
            f"skip must be below {layout.per_page} for this template",
            details=[{"loc": ["query", "skip"], "msg": "too large", "type": "value_error"}],
        )
    contents = await labels_service.label_contents(
        session, state.settings, items=split_codes(items), locations=split_codes(locations)
    )
    body = await run_in_threadpool(pdf.label_pdf, contents, layout, skip=skip)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": 'inline; filename="labels.pdf"'},
    )


@router.get(
    "/labels.zpl",
    response_class=Response,
    responses=binary("text/plain", description="The labels in ZPL") | errors(PRINT_ERRORS),
)
async def labels_zpl(
    _: Printer,
    session: SessionDep,
    state: StateDep,
    items: Annotated[str | None, Query(description="Item codes, comma-separated")] = None,
    locations: Annotated[str | None, Query(description="Location codes, comma-separated")] = None,
    template: str = "roll-50x30",
    dpi: Annotated[int, Query(ge=150, le=600)] = 203,
) -> Response:
    """Labels as ZPL for Zebra-type thermal printers."""
    layout = pdf.SheetLayout.from_template(await labels_service.get_template(session, template))
    contents = await labels_service.label_contents(
        session, state.settings, items=split_codes(items), locations=split_codes(locations)
    )
    return Response(zpl.label_zpl(contents, layout, dpi), media_type="text/plain; charset=utf-8")


@router.get("/label-templates")
async def label_templates(_: Reader, session: SessionDep) -> list[LabelTemplateRead]:
    """The label layouts to print with."""
    return [
        LabelTemplateRead.model_validate(t) for t in await labels_service.list_templates(session)
    ]


@router.post("/label-templates", status_code=201, responses=errors(Conflict, TemplateInvalid))
async def create_label_template(
    body: LabelTemplateCreate, _: Admin, session: SessionDep, response: Response
) -> LabelTemplateRead:
    """Define a label layout: page or roll, label size, grid, fields, font size."""
    template = await labels_service.create_template(session, body.model_dump())
    response.headers["ETag"] = labels_service.template_etag(template)
    return LabelTemplateRead.model_validate(template)


@router.get("/label-templates/{key}", responses=errors(TemplateNotFound))
async def label_template(
    key: str, _: Reader, session: SessionDep, response: Response
) -> LabelTemplateRead:
    """One label layout (ETag: a digest of it, for If-Match on edits)."""
    template = await labels_service.get_template(session, key)
    response.headers["ETag"] = labels_service.template_etag(template)
    return LabelTemplateRead.model_validate(template)


@router.patch(
    "/label-templates/{key}",
    responses=errors(TemplateNotFound, TemplateChanged, TemplateInvalid),
)
async def edit_label_template(
    key: str,
    body: LabelTemplateUpdate,
    _: Admin,
    session: SessionDep,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> LabelTemplateRead:
    """Change a layout (shipped ones too); only the fields sent change, and the result must
    fit its page. With If-Match, a layout changed since it was read is refused (412)."""
    template = await labels_service.update_template(
        session, key, body.model_dump(exclude_unset=True), if_match=if_match
    )
    response.headers["ETag"] = labels_service.template_etag(template)
    return LabelTemplateRead.model_validate(template)


@router.post("/label-templates/{key}/reset", responses=errors(TemplateNotFound, TemplateNotShipped))
async def reset_label_template(
    key: str, _: Admin, session: SessionDep, response: Response
) -> LabelTemplateRead:
    """Put a shipped layout back to the values qtrack ships it with."""
    template = await labels_service.reset_template(session, key)
    response.headers["ETag"] = labels_service.template_etag(template)
    return LabelTemplateRead.model_validate(template)


@router.delete(
    "/label-templates/{key}",
    status_code=204,
    responses=errors(TemplateNotFound, TemplateBuiltin, TemplateInUse),
)
async def delete_label_template(key: str, _: Admin, session: SessionDep) -> Response:
    """Delete a layout. Shipped layouts (the server's printing defaults) and layouts an item
    type prints with by default are refused (409)."""
    await labels_service.delete_template(session, key)
    return Response(status_code=204)


@router.post(
    "/scan/decode",
    tags=["scan"],
    responses=errors(ImageTooLarge, ImageTooManyPixels, ImageUnsupported, ImageInvalid),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": DECODABLE,
                "image/png": DECODABLE,
                "image/webp": DECODABLE,
            },
        }
    },
)
async def decode_frame(request: Request, _: Reader) -> DecodeResult:
    """Find every barcode in a camera frame or photo (JPEG, PNG or WebP in the body)."""
    body = await request.body()
    symbols = await run_in_threadpool(decode.decode_image, body)
    return DecodeResult(
        symbols=[
            SymbolRead(
                text=s.text,
                format=s.format,
                symbology=s.symbology,
                position=[list(p) for p in s.position],
            )
            for s in symbols
        ]
    )
