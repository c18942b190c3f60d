"""Admin pages for item types: the list, a form to define one, a form to change one.

Thin: the rules (unique key and prefix, a valid attribute schema, a prefix that stays while
items carry it) live in `item_types.service`; these pages show what it says next to the field.
"""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.item_types import service as item_types
from qtrack.item_types.models import ItemType
from qtrack.item_types.schemas import ItemTypeCreate, ItemTypeUpdate, plain_decimal
from qtrack.web.render import page, settle_refused
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
AdminConfig = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]

TEXT_FIELDS = (
    "key",
    "name",
    "code_prefix",
    "workflow",
    "unit",
    "low_stock_threshold",
    "expiry_window_days",
    "label_template",
    "category",
)
FLAGS = ("tracks_quantity", "tracks_expiry", "can_contain", "critical")
# A schema is configuration, not a document store; anything longer is a pasted mistake.
MAX_SCHEMA_CHARS = 100_000
# Friendlier words for what pydantic reports, by error type.
_MESSAGES = {
    "missing": "Required",
    "string_too_short": "Required",
    "decimal_parsing": "A number, e.g. 10",
    "int_parsing": "A whole number, e.g. 30",
    "dict_type": 'The schema must be a JSON object, e.g. {"type": "object"}',
}
_PATTERNS = {
    "key": "Lower-case letters, digits and _, starting with a letter",
    "workflow": "Choose a workflow",
    "code_prefix": "2 to 8 letters or digits, e.g. MAT",
}


def _form_values(form: FormData) -> dict[str, Any]:
    """What the form sent, as strings and booleans, to parse and to show again."""
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in TEXT_FIELDS}
    values.update({k: form.get(k) is not None for k in FLAGS})
    schema = form.get("attribute_schema")
    values["attribute_schema"] = schema if isinstance(schema, str) else ""
    return values


def _values_of(item_type: ItemType) -> dict[str, Any]:
    threshold = plain_decimal(item_type.low_stock_threshold)
    schema = item_type.attribute_schema
    return {
        "key": item_type.key,
        "name": item_type.name,
        "code_prefix": item_type.code_prefix,
        "workflow": item_type.workflow.key,
        "unit": item_type.unit,
        "low_stock_threshold": "" if threshold is None else str(threshold),
        "expiry_window_days": str(item_type.expiry_window_days),
        "label_template": item_type.label_template_key or "",
        "category": item_type.category.key if item_type.category is not None else "",
        "attribute_schema": json.dumps(schema, indent=2) if schema else "",
        **{k: getattr(item_type, k) for k in FLAGS},
    }


def _parse(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The form's values as the item type schemas take them; problems go into `errors`."""
    data: dict[str, Any] = {k: values[k] for k in (*TEXT_FIELDS, *FLAGS)}
    data["low_stock_threshold"] = values["low_stock_threshold"] or None
    data["label_template"] = values["label_template"] or None
    data["category"] = values["category"] or None
    if not values["expiry_window_days"]:  # empty: the default (a new type) or as it is
        data.pop("expiry_window_days")
    text = values["attribute_schema"].strip()
    if len(text) > MAX_SCHEMA_CHARS:
        errors["attribute_schema"] = f"At most {MAX_SCHEMA_CHARS:,} characters"
    elif text:
        try:
            data["attribute_schema"] = json.loads(text)
        except json.JSONDecodeError as exc:
            errors["attribute_schema"] = (
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            )
        except RecursionError:
            errors["attribute_schema"] = "Not valid JSON: nested too deeply"
    else:
        data["attribute_schema"] = {}
    return data


def _pydantic_errors(exc: ValidationError, errors: dict[str, str]) -> None:
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "name"
        message = _MESSAGES.get(e["type"]) or (
            _PATTERNS.get(field, e["msg"]) if e["type"] == "string_pattern_mismatch" else e["msg"]
        )
        errors.setdefault(field, message.removeprefix("Value error, "))


def _service_errors(exc: QtrackError) -> dict[str, str]:
    """Field -> message for what the item type use cases refuse."""
    details = exc.details
    if isinstance(details, list):  # ValidationFailed: loc is ["body", field, *path in it]
        errors: dict[str, str] = {}
        for d in details:
            loc = [str(p) for p in d.get("loc", [])][1:] if isinstance(d, dict) else []
            if loc:
                where = f" (at {'/'.join(loc[1:])})" if loc[1:] else ""
                errors.setdefault(loc[0], f"{d.get('msg', exc.message)}{where}")
        return errors
    if isinstance(details, dict) and ("states_in_use" in details or "terminal_changed" in details):
        return {"workflow": exc.message}
    if isinstance(details, dict):
        return {k: exc.message for k in ("key", "code_prefix") if k in details}
    if isinstance(exc, workflow_service.WorkflowNotFound):
        return {"workflow": exc.message}
    if isinstance(exc, categories_service.CategoryNotFound):
        return {"category": exc.message}
    return {}


async def _form_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    settings: Any,
    *,
    values: dict[str, Any],
    item_type: ItemType | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    count = None
    if item_type is not None:
        count = (await item_types.live_counts(session)).get(item_type.id, 0)
    return page(
        request,
        "admin/item_type_form.html",
        principal=principal,
        settings=settings,
        context={
            "item_type": item_type,
            "count": count,
            "values": values,
            "errors": errors or {},
            "message": message,
            "saved": request.query_params.get("saved") == "1",
            "workflows": await workflow_service.list_workflows(session),
            "templates": await item_types.template_choices(session),
            "categories": await categories_service.reads(
                session, await categories_service.list_categories(session)
            ),
        },
        status_code=status_code,
    )


@router.get("/admin/item-types")
async def item_types_list(
    request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """Every item type with its prefix, workflow, unit, flags and how many live items."""
    types = await item_types.list_item_types(session)
    by_id = await item_types.live_counts(session)
    counts = {t.key: by_id.get(t.id, 0) for t in types}
    return page(
        request,
        "admin/item_types.html",
        principal=principal,
        settings=state.settings,
        context={"item_types": types, "counts": counts},
    )


@router.get("/admin/item-types/new")
async def new_item_type_form(
    request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """The form to define a new kind of item."""
    values: dict[str, Any] = dict.fromkeys(TEXT_FIELDS, "") | dict.fromkeys(FLAGS, False)
    values |= {"unit": "pcs", "attribute_schema": "", "expiry_window_days": "30"}
    return await _form_page(request, session, principal, state.settings, values=values)


@router.post("/admin/item-types/new")
async def create_item_type(
    request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """Define the item type; on a problem, the form again with it next to the field."""
    values = _form_values(await request.form())
    errors: dict[str, str] = {}
    data = _parse(values, errors)
    if values["key"] == "new":
        errors["key"] = "'new' is taken by this page's address; choose another key"
    message, status_code = "Check the fields marked below.", 422
    try:
        spec = ItemTypeCreate.model_validate(data)
    except ValidationError as exc:
        _pydantic_errors(exc, errors)
    else:
        if not errors:
            fields = spec.model_dump(exclude={"key", "workflow"})
            try:
                await item_types.create_item_type(
                    session, key=spec.key, workflow=spec.workflow, **fields
                )
                return RedirectResponse(f"/admin/item-types/{spec.key}?saved=1", status_code=303)
            except QtrackError as exc:
                await settle_refused(
                    session, principal, exc
                )  # nothing of a refused item type is kept
                errors, message = _service_errors(exc), exc.message
                status_code = 422 if errors else exc.status_code
    return await _form_page(
        request, session, principal, state.settings, values=values, errors=errors,
        message=message, status_code=status_code,
    )  # fmt: skip


@router.get("/admin/item-types/{key}")
async def item_type_form(
    key: str, request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """One item type, every editable field in a form."""
    item_type = await item_types.get_item_type(session, key)
    return await _form_page(
        request, session, principal, state.settings,
        values=_values_of(item_type), item_type=item_type,
    )  # fmt: skip


@router.post("/admin/item-types/{key}")
async def update_item_type(
    key: str, request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """Save the item type's fields; on a problem, the form again with it next to the field."""
    item_type = await item_types.get_item_type(session, key)
    values = _form_values(await request.form())
    values["key"] = item_type.key
    errors: dict[str, str] = {}
    data = _parse(values, errors)
    data.pop("key")
    message, status_code = "Check the fields marked below.", 422
    try:
        changes = ItemTypeUpdate.model_validate(data).model_dump(exclude_unset=True)
    except ValidationError as exc:
        _pydantic_errors(exc, errors)
    else:
        if not errors:
            try:
                await item_types.update_item_type(session, key=key, changes=changes)
                return RedirectResponse(f"/admin/item-types/{key}?saved=1", status_code=303)
            except QtrackError as exc:
                await settle_refused(
                    session, principal, exc
                )  # a refused change keeps none of its fields
                errors, message = _service_errors(exc), exc.message
                status_code = 422 if errors else exc.status_code
    item_type = await item_types.get_item_type(session, key)
    return await _form_page(
        request, session, principal, state.settings, values=values, item_type=item_type,
        errors=errors, message=message, status_code=status_code,
    )  # fmt: skip
