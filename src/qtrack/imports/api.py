"""Imports JSON API: upload a table (dry run or for real), then read how it went."""

import tempfile
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from qtrack.accounts.deps import PERMISSION_ERRORS, PermissionDenied, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, SettingsDep
from qtrack.core.errors import BadRequest, ValidationFailed
from qtrack.core.openapi import Responses, binary, errors
from qtrack.core.tabular import BadDelimiter, BadEncoding, EmptyTable, TableUnreadable, XlsxBomb
from qtrack.imports import service
from qtrack.imports.errors import ImportNotFound, ImportNotRunnable, ImportTooLarge
from qtrack.imports.fields import Kind
from qtrack.imports.models import QUEUED
from qtrack.imports.schemas import ImportRead, read
from qtrack.items.errors import ItemNotFound
from qtrack.labels import pdf
from qtrack.labels import service as labels_service
from qtrack.locations.service import LocationNotFound

router = APIRouter(prefix="/api/v1/imports", tags=["imports"], responses=errors(PERMISSION_ERRORS))

Importer = Annotated[
    Principal,
    Depends(
        require_any(Permission.ITEM_CREATE, Permission.LOCATION_MANAGE, Permission.ADMIN_CONFIG)
    ),
]
FILE_ERRORS = (ImportTooLarge, XlsxBomb, BadEncoding, BadDelimiter, EmptyTable, TableUnreadable)
ACCEPTED: Responses = {  # (a 202 answers with the import, queued)
    202: {"model": ImportRead, "description": "Accepted: a background job runs it"}
}
DryRun = Annotated[bool, Query(description="Only check every row; write nothing")]


class RunBody(BaseModel):
    """Run a stored upload again: for real after a dry run, or with another mapping."""

    dry_run: bool = False
    mapping: dict[str, str | None] | None = Field(
        default=None, description="File column -> field (null: leave the column out)"
    )


def _mapping(text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str | None) for v in value.values()):
        raise ValidationFailed(
            "mapping must be a JSON object of column names to field names (or null)",
            details=[{"loc": ["body", "mapping"], "msg": "not a JSON object", "type": "json"}],
        )
    return value


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    # BadRequest: a multipart body that cannot be parsed at all.
    responses=ACCEPTED | errors(PERMISSION_ERRORS, BadRequest, *FILE_ERRORS, 422),
)
async def create_import(
    actor: Importer,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    file: Annotated[UploadFile, File(description="The table: CSV (UTF-8) or .xlsx")],
    mapping: Annotated[
        str | None,
        Form(description='JSON: file column -> field, e.g. {"Lot": "batch", "Notes": null}'),
    ] = None,
    kind: Annotated[Kind, Query(description="What the rows are")] = "items",
    dry_run: DryRun = False,
    delimiter: Annotated[
        str, Query(min_length=1, max_length=1, description="A CSV's delimiter: , ; tab or |")
    ] = ",",
) -> ImportRead:
    """Upload a table of items, locations or item types; every row is checked first and the
    rows are written all or none. A large file is run by a background job (202): poll
    `GET /api/v1/imports/{id}` for its progress and outcome."""
    service.ensure_allowed(actor, kind)
    given = _mapping(mapping)
    if file.size is not None:
        service.check_size(settings, file.size)
    with tempfile.TemporaryDirectory(prefix="qtrack-upload-") as folder:
        path = await run_in_threadpool(service.save_upload, file.file, folder)
        table = await run_in_threadpool(
            service.read_table,
            settings,
            path,
            filename=file.filename or "",
            delimiter=delimiter,
        )
        imp = await service.upload(
            session, settings, actor=actor, kind=kind, table=table,
            filename=file.filename or "", mapping=given,
        )  # fmt: skip
        if table.size > settings.import_inline_max_bytes:
            await service.enqueue(session, imp, dry_run=dry_run)
        else:
            await service.run(
                session, settings, imp, table, actor=actor, dry_run=dry_run, workers=0
            )
    if imp.status == QUEUED:
        response.status_code = status.HTTP_202_ACCEPTED
    return read(imp)


@router.get("")
async def list_imports(
    actor: Importer,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ImportRead]:
    """The latest imports the caller may see, newest first."""
    return [read(imp) for imp in await service.list_imports(session, actor=actor, limit=limit)]


@router.get("/{import_id}", responses=errors(ImportNotFound))
async def get_import(import_id: int, actor: Importer, session: SessionDep) -> ImportRead:
    """An import: its status, progress, every problem by row and column, and what it made."""
    return read(await service.get_import(session, import_id, actor=actor))


@router.post(
    "/{import_id}/run",
    responses=ACCEPTED | errors(ImportNotFound, ImportNotRunnable, *FILE_ERRORS),
)
async def run_import(
    import_id: int,
    body: RunBody,
    actor: Importer,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> ImportRead:
    """Run a stored upload again: for real after a dry run, or with another mapping."""
    imp = await service.get_import(session, import_id, actor=actor, lock=True)
    service.ensure_allowed(actor, imp.kind)
    service.prepare(imp, dry_run=body.dry_run, mapping=body.mapping)
    if imp.size_bytes > settings.import_inline_max_bytes:
        await service.enqueue(session, imp, dry_run=body.dry_run)
        response.status_code = status.HTTP_202_ACCEPTED
        return read(imp)
    await service.run_stored(session, settings, imp, actor=actor, dry_run=body.dry_run)
    return read(imp)


@router.get(
    "/{import_id}/labels.pdf",
    response_class=Response,
    responses=binary("application/pdf", description="Labels of what the import created")
    | errors(ImportNotFound, ImportNotRunnable, PermissionDenied, ItemNotFound, LocationNotFound),
)
async def import_labels(
    import_id: int,
    actor: Importer,
    session: SessionDep,
    settings: SettingsDep,
    part: Annotated[int, Query(ge=1, description="Which 1,000 of the labels")] = 1,
) -> Response:
    """The labels of the items or locations an import created, a thousand a PDF."""
    if not actor.can(Permission.LABEL_PRINT):
        raise PermissionDenied(details={"missing": [Permission.LABEL_PRINT.value]})
    imp = await service.get_import(session, import_id, actor=actor)
    if part > service.label_parts(imp):
        raise ImportNotRunnable(
            "This import made no such labels", details={"id": imp.id, "part": part}
        )
    items, locations = service.created_codes(imp)
    each = service.LABELS_PER_PDF
    start, end = (part - 1) * each, part * each
    # (an import creates items or locations, never both)
    items, locations = items[start:end], locations[start:end]
    template = await labels_service.sheet_template(session, requested=None, items=items)
    contents = await labels_service.label_contents(
        session, settings, items=items, locations=locations
    )
    layout = pdf.SheetLayout.from_template(template)
    body = await run_in_threadpool(pdf.label_pdf, contents, layout)
    name = f"import-{imp.id}-labels-{part}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
