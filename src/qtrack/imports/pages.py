"""/imports: upload a table, map its columns over a preview, check it, import it, follow it.

The pages call the import use cases the API calls (`imports.service`); a large file runs in
the background and its page follows it by polling `GET /api/v1/imports/{id}`
(static/js/imports.js), so the person can leave and come back.
"""

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError, ValidationFailed
from qtrack.imports import fields, service
from qtrack.imports.models import CHECKED, FINISHED, REFUSED, RUNNING, UPLOADED, DataImport
from qtrack.imports.schemas import read
from qtrack.web.render import page, settle_refused

router = APIRouter(include_in_schema=False)
Importer = Annotated[
    Principal,
    Depends(
        require_any(Permission.ITEM_CREATE, Permission.LOCATION_MANAGE, Permission.ADMIN_CONFIG)
    ),
]
BASE = "/imports"
PREVIEW_ROWS = 10
KIND_NAMES = {"items": "Items", "locations": "Locations", "item_types": "Item types"}


def _kinds(principal: Principal) -> list[tuple[str, str]]:
    return [
        (k, KIND_NAMES[k]) for k, spec in fields.SPECS.items() if principal.can(spec.permission)
    ]


async def _list_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    imports = await service.list_imports(session, actor=principal, limit=50)
    return page(
        request,
        "web/imports.html",
        principal=principal,
        settings=settings,
        context={
            "imports": [read(i) for i in imports],
            "kinds": _kinds(principal),
            "kind_names": KIND_NAMES,
            "max_bytes": settings.import_max_bytes,
            "message": message,
        },
        status_code=status_code,
    )


@router.get(BASE)
async def imports_page(
    request: Request, principal: Importer, session: SessionDep, state: StateDep
) -> Response:
    """Recent imports and the upload form."""
    return await _list_page(request, session, state.settings, principal)


@router.post(BASE)
async def upload_file(
    request: Request,
    principal: Importer,
    session: SessionDep,
    state: StateDep,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form(max_length=16)] = "items",
    delimiter: Annotated[str, Form(max_length=3)] = ",",
) -> Response:
    """Keep an uploaded file and open its preview (nothing is checked or written yet)."""
    settings = state.settings
    delimiter = "\t" if delimiter in ("tab", "\\t") else delimiter
    try:
        if kind not in fields.SPECS:
            raise ValidationFailed(
                f"Unknown kind of import: {kind} (items, locations or item_types)",
                details=[{"loc": ["body", "kind"], "msg": "not a kind", "type": "enum"}],
            )
        service.ensure_allowed(principal, kind)
        if file.size is not None:
            service.check_size(settings, file.size)
        with tempfile.TemporaryDirectory(prefix="qtrack-upload-") as folder:
            path = await run_in_threadpool(service.save_upload, file.file, folder)
            table = await run_in_threadpool(
                service.read_table,
                settings,
                path,
                filename=file.filename or "",
                delimiter=delimiter or ",",
            )
            imp = await service.upload(
                session, settings, actor=principal, kind=kind, table=table,
                filename=file.filename or "",
            )  # fmt: skip
    except QtrackError as exc:
        await settle_refused(session, principal, exc)
        return await _list_page(
            request, session, settings, principal,
            message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}/{imp.id}", status_code=303)


async def _preview(settings: Settings, session: AsyncSession, imp: DataImport) -> list[list[str]]:
    """The first rows of a kept file, for mapping its columns."""
    if imp.status not in (UPLOADED, CHECKED, REFUSED):
        return []
    try:
        content = await service.stored_file(session, imp)
    except QtrackError:
        return []
    with tempfile.TemporaryDirectory(prefix="qtrack-preview-") as folder:
        path = Path(folder) / "upload"
        await run_in_threadpool(path.write_bytes, content)
        table = await run_in_threadpool(
            service.read_table, settings, path, filename=imp.filename, delimiter=imp.delimiter
        )
        rows: list[list[str]] = []
        for _, cells in table.rows():
            rows.append(cells + [""] * (len(table.header) - len(cells)))
            if len(rows) == PREVIEW_ROWS:
                break
    return rows


@router.get(BASE + "/{import_id}")
async def import_page(
    import_id: int, request: Request, principal: Importer, session: SessionDep, state: StateDep
) -> Response:
    """One import: its preview and mapping, its problems, its progress, or what it made."""
    imp = await service.get_import(session, import_id, actor=principal)
    shown = read(imp)
    remembered = await service.remembered_mapping(session, imp.kind, imp.signature)
    mapping, _, _ = fields.resolve(imp.kind, tuple(imp.header), imp.mapping or None, remembered)
    parts = service.label_parts(imp) if shown.status == "done" else 0
    return page(
        request,
        "web/import.html",
        principal=principal,
        settings=state.settings,
        context={
            "imp": shown,
            "kind_name": KIND_NAMES[imp.kind],
            "fields": fields.SPECS[imp.kind].fields,
            "required": fields.SPECS[imp.kind].required,
            "mapping": mapping,
            "preview": await _preview(state.settings, session, imp),
            "running": shown.status in RUNNING,
            "finished": shown.status in FINISHED,
            "label_parts": parts,
            "labels_each": service.LABELS_PER_PDF,
            "can_print": principal.can(Permission.LABEL_PRINT),
        },
    )


@router.post(BASE + "/{import_id}/run")
async def run_import(
    import_id: int,
    request: Request,
    principal: Importer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Check (dry run) or import a kept file with the mapping chosen on its page."""
    settings = state.settings
    form = await request.form()
    imp = await service.get_import(session, import_id, actor=principal, lock=True)
    mapping: dict[str, Any] = {}
    for index, column in enumerate(imp.header):
        value = form.get(f"map-{index}")
        if isinstance(value, str):
            mapping[column] = value or None
    dry_run = form.get("action") != "import"
    try:
        service.prepare(imp, dry_run=dry_run, mapping=mapping)
        imp.mapping = mapping or imp.mapping
        if imp.size_bytes > settings.import_inline_max_bytes:
            await service.enqueue(session, imp, dry_run=dry_run)
        else:
            await service.run_stored(session, settings, imp, actor=principal, dry_run=dry_run)
    except QtrackError as exc:
        await settle_refused(session, principal, exc)
        return await _list_page(
            request, session, settings, principal,
            message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}/{imp.id}", status_code=303)
