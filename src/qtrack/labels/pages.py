"""Label template admin pages: the list with a sample-sheet preview, create, edit, reset to
the shipped values, and delete.

Use cases run in a savepoint: a refusal undoes only their writes, and the rest of the request
(the signed-in user the layout shows) stays loaded for the page that explains the refusal.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.codes.models import LabelTemplate
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.labels import pdf
from qtrack.labels import service as labels_service
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.schemas import LabelTemplateCreate
from qtrack.labels.service import LAYOUT_FIELDS
from qtrack.web.forms import CHECK_FIELDS, Words, field_errors, last_part
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]
BASE = "/admin/label-templates"
# After a change, the list says which template it was about (post/redirect/get).
KeyQuery = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# What a label can show, in the order a new template lists them.
SHOWABLE = {"qr": "QR code", "code": "Code", "name": "Name", "batch": "Batch", "expiry": "Expiry"}
TIMES = " \u00d7 "  # the multiplication sign, as in 63.5 x 38.1 mm
# Friendlier words than the schema's for the mistakes a form invites.
_MESSAGES: Words = {
    ("key", "string_pattern_mismatch"): "Lower-case letters, digits, - and _ (up to 64)",
    ("fields", "string_pattern_mismatch"): "Choose at least one thing to show",
}


def _describe(template: LabelTemplate) -> dict[str, Any]:
    """One row of the list: size, layout and what the labels show, in words."""
    layout = (
        "Roll, one label a page"
        if template.page == "roll"
        else f"{template.page}, {template.columns}{TIMES}{template.rows}"
        f" = {template.columns * template.rows} a sheet"
    )
    return {
        "key": template.key,
        "name": template.name,
        "size": f"{template.label_width_mm:g}{TIMES}{template.label_height_mm:g} mm",
        "layout": layout,
        "shows": ", ".join(SHOWABLE.get(f, f) for f in template.fields.split(",") if f),
        "font": f"{template.font_size_pt:g} pt",
        "builtin": template.builtin,
    }


def _text(value: Any) -> str:
    """A value as a form shows it: 63.5, 0 and 8 rather than 63.5, 0.0 and 8.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _values_of(template: LabelTemplate) -> dict[str, str]:
    return {name: _text(getattr(template, name)) for name in ("key", *LAYOUT_FIELDS)}


def _submitted(form: FormData) -> dict[str, str]:
    values = {name: str(form.get(name) or "").strip() for name in ("key", *LAYOUT_FIELDS)}
    # Checked boxes arrive in the order the form lists them, which is the template's order.
    values["fields"] = ",".join(str(v) for v in form.getlist("fields") if str(v) in SHOWABLE)
    return values


def _filled(values: dict[str, str]) -> dict[str, str]:
    """What was filled in: a blank box means "not given" (a default or "required"), except
    the fields, where none ticked means none, which is refused rather than defaulted."""
    return {k: v for k, v in values.items() if v or k == "fields"}


def _choices(fields: str) -> list[dict[str, Any]]:
    """The field checkboxes: the chosen ones first, in the template's order, then the rest."""
    chosen = [f for f in fields.split(",") if f in SHOWABLE]
    rest = [f for f in SHOWABLE if f not in chosen]
    return [{"key": f, "label": SHOWABLE[f], "checked": f in chosen} for f in chosen + rest]


async def _form_page(
    request: Request,
    principal: Principal,
    settings: Settings,
    *,
    template: LabelTemplate | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    message: str | None = None,
    delete_error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "admin/label_template_form.html",
        principal=principal,
        settings=settings,
        context={
            "template": template,
            "etag": labels_service.template_etag(template) if template else "",
            "values": values,
            "choices": _choices(values.get("fields", "")),
            "errors": errors or {},
            "message": message,
            "delete_error": delete_error,
            "notice": notice,
        },
        status_code=status_code,
    )


@router.get(BASE)
async def templates_page(
    request: Request,
    principal: Admin,
    session: SessionDep,
    state: StateDep,
    created: KeyQuery = None,
    saved: KeyQuery = None,
    deleted: KeyQuery = None,
) -> Response:
    """Every label template: size, layout, what it shows, a preview and an edit link."""
    rows = [_describe(t) for t in await labels_service.list_templates(session)]
    keys = {row["key"] for row in rows}
    notice = None
    if created in keys:
        notice = f"Created label template {created}."
    elif saved in keys:
        notice = f"Saved label template {saved}."
    elif deleted and deleted not in keys:
        notice = f"Deleted label template {deleted}."
    return page(
        request,
        "admin/label_templates.html",
        principal=principal,
        settings=state.settings,
        context={"templates": rows, "notice": notice},
    )


@router.get(BASE + "/new")
async def new_template_form(request: Request, principal: Admin, state: StateDep) -> Response:
    """The form to define a label template, started from the A4 21-a-sheet layout."""
    starter = {"key": "", **SHIPPED_TEMPLATES["a4-21"], "name": ""}
    values = {name: _text(value) for name, value in starter.items()}
    return await _form_page(request, principal, state.settings, template=None, values=values)


@router.post(BASE + "/new")
async def new_template_submit(
    request: Request, principal: Admin, session: SessionDep, state: StateDep
) -> Response:
    """Create the template, or show the form again with what to fix (nothing is saved)."""
    values = _submitted(await request.form())
    try:
        spec = LabelTemplateCreate.model_validate(_filled(values))
        async with session.begin_nested():
            await labels_service.create_template(session, spec.model_dump())
    except ValidationError as exc:
        return await _form_page(
            request, principal, state.settings, template=None, values=values,
            errors=field_errors(exc, words=_MESSAGES, unlocated="name"),
            message=CHECK_FIELDS, status_code=422,
        )  # fmt: skip
    except QtrackError as exc:
        return await _form_page(
            request, principal, state.settings, template=None, values=values,
            errors=field_errors(exc, field_of=last_part),
            message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}?created={spec.key}", status_code=303)


@router.get(BASE + "/{key}")
async def edit_template_form(
    key: str,
    request: Request,
    principal: Admin,
    session: SessionDep,
    state: StateDep,
    reset: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """The form to change a template, with reset (shipped ones) and delete (others)."""
    template = await labels_service.get_template(session, key)
    notice = "Back to the values qtrack ships it with." if reset and template.builtin else None
    return await _form_page(
        request, principal, state.settings, template=template, values=_values_of(template),
        notice=notice,
    )  # fmt: skip


@router.post(BASE + "/{key}")
async def edit_template_submit(
    key: str, request: Request, principal: Admin, session: SessionDep, state: StateDep
) -> Response:
    """Save the layout if it is valid and still the one the form was opened on."""
    form = await request.form()
    template = await labels_service.get_template(session, key)
    values = {**_submitted(form), "key": template.key}
    try:
        spec = LabelTemplateCreate.model_validate(_filled(values))
        changes = spec.model_dump(include=set(LAYOUT_FIELDS))
        async with session.begin_nested():
            await labels_service.update_template(
                session, key, changes, if_match=str(form.get("etag") or "") or None
            )
    except ValidationError as exc:
        return await _form_page(
            request, principal, state.settings, template=template, values=values,
            errors=field_errors(exc, words=_MESSAGES, unlocated="name"),
            message=CHECK_FIELDS, status_code=422,
        )  # fmt: skip
    except labels_service.TemplateChanged as exc:
        current = await labels_service.get_template(session, key)
        return await _form_page(
            request, principal, state.settings, template=current, values=_values_of(current),
            message="Someone else changed this template since you opened the form. It now"
            " shows their values: make your change again.",
            status_code=exc.status_code,
        )  # fmt: skip
    except QtrackError as exc:
        template = await labels_service.get_template(session, key)
        return await _form_page(
            request, principal, state.settings, template=template, values=values,
            errors=field_errors(exc, field_of=last_part),
            message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}?saved={template.key}", status_code=303)


@router.post(BASE + "/{key}/reset")
async def reset_template_submit(key: str, _: Admin, session: SessionDep) -> Response:
    """Put a shipped template back to the values qtrack ships it with."""
    template = await labels_service.reset_template(session, key)
    return RedirectResponse(f"{BASE}/{template.key}?reset=1", status_code=303)


@router.post(BASE + "/{key}/delete")
async def delete_template_submit(
    key: str, request: Request, principal: Admin, session: SessionDep, state: StateDep
) -> Response:
    """Delete a template once confirmed; shipped and in-use templates are refused."""
    form = await request.form()
    template = await labels_service.get_template(session, key)
    if form.get("confirm") != "yes":
        return await _form_page(
            request, principal, state.settings, template=template, values=_values_of(template),
            errors={"confirm": "Tick the box to confirm"}, delete_error="Nothing was deleted.",
            status_code=422,
        )  # fmt: skip
    try:
        async with session.begin_nested():
            await labels_service.delete_template(session, key)
    except QtrackError as exc:
        template = await labels_service.get_template(session, key)
        return await _form_page(
            request, principal, state.settings, template=template, values=_values_of(template),
            delete_error=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}?deleted={key}", status_code=303)


@router.get(BASE + "/{key}/preview.pdf")
async def preview_template(key: str, _: Admin, session: SessionDep, state: StateDep) -> Response:
    """A full sheet (or one roll label) of sample labels laid out by the template."""
    layout = pdf.SheetLayout.from_template(await labels_service.get_template(session, key))
    contents = labels_service.sample_contents(state.settings, layout)
    body = await run_in_threadpool(pdf.label_pdf, contents, layout)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{key}-preview.pdf"',
            "Cache-Control": "private, no-cache",
        },
    )
