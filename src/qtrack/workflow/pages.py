"""Admin pages for workflows: the list, and an editor for states and transitions.

The editor's form names each input after the place in the definition it fills
(`states.2.key`, `transitions.0.to`), so every problem `service.parse_definition` locates is
shown next to its input. Selects point at state rows (`@2`: the state in row 2), not at keys,
so a transition can lead to a state typed into a blank row of the same form, without script.
"""

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.web.forms import Words, field_errors
from qtrack.web.render import page, settle_refused
from qtrack.workflow import cbv
from qtrack.workflow import service as workflow_service
from qtrack.workflow.deps import UsageDep, usage
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import Key, Label, WorkflowDefinition

router = APIRouter(include_in_schema=False)
AdminConfig = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]

BLANK_STATES, BLANK_TRANSITIONS = 2, 2
DEFAULT_COLOUR = "#6e7781"
FLAGS = ("reason_required", "signature_required", "distinct_actor")
_FIELD = re.compile(r"(states|transitions)\.(\d{1,3})\.(\w+)")
_KEY, _LABEL = TypeAdapter(Key), TypeAdapter(Label)
_KEY_RULE = "Lower-case letters, digits and _, starting with a letter"
# What to tell a person for a problem pydantic reports in its own words, by the input's own
# name (`to` of `transitions.0.to`) and the error type, else by the error type.
WORDS: Words = {
    ("initial", "missing"): "Choose the initial state",
    ("to", "missing"): "Choose a state",
    ("to", "string_too_short"): "Choose a state",
    ("from", "missing"): "Choose at least one state",
    ("from", "too_short"): "Choose at least one state",
    ("states", "too_short"): "Add at least one state",
    ("colour", "string_pattern_mismatch"): "A colour like #1a7f37",
    "missing": "Required",
    "string_too_short": "Required",
    "string_pattern_mismatch": _KEY_RULE,
}


# The CBV terms the editor offers, and what a state or transition is when left blank.
_CBV = {
    "dispositions": sorted(cbv.DISPOSITIONS), "biz_steps": sorted(cbv.BIZ_STEPS),
    "default_dispositions": cbv.DEFAULT_DISPOSITIONS, "default_biz_steps": cbv.DEFAULT_BIZ_STEPS,
    "other": cbv.OTHER_BIZ_STEP,
}  # fmt: skip


def _blank_state() -> dict[str, Any]:
    return {
        "key": "", "label": "", "colour": DEFAULT_COLOUR, "terminal": False, "closed": False,
        "expired": False, "epcis_disposition": "",
    }  # fmt: skip


def _blank_transition() -> dict[str, Any]:
    return {
        "name": "", "label": "", "from": [], "to": "", "permission": Permission.ITEM_TRANSITION,
        "signature_meaning": "", "epcis_biz_step": "", **dict.fromkeys(FLAGS, False),
    }  # fmt: skip


def editor_of(definition: WorkflowDefinition) -> dict[str, Any]:
    """A saved definition as the editor's rows (selects point at rows: `@index`)."""
    row = {s.key: f"@{i}" for i, s in enumerate(definition.states)}
    return {
        "initial": row[definition.initial],
        "states": [
            {**s.model_dump(), "epcis_disposition": s.epcis_disposition or ""}
            for s in definition.states
        ],
        "transitions": [
            {
                **t.model_dump(include={"name", "to", "permission", *FLAGS}),
                "label": t.label or "",
                "signature_meaning": t.signature_meaning or "",
                "epcis_biz_step": t.epcis_biz_step or "",
                "from": [row[s] for s in t.from_],
                "to": row[t.to],
            }
            for t in definition.transitions
        ],
    }


def read_form(form: FormData) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The posted editor as (its rows to show again, the raw definition, row problems).

    Blank rows and rows marked for removal are left out; the rest are numbered afresh, so the
    definition's `states[i]` is the i-th row shown again.
    """
    rows: dict[str, dict[int, dict[str, list[str]]]] = {"states": {}, "transitions": {}}
    for name, value in form.multi_items():
        found = _FIELD.fullmatch(name)
        if found and isinstance(value, str):
            field = rows[found[1]].setdefault(int(found[2]), {}).setdefault(found[3], [])
            field.append(value.strip())

    def first(row: dict[str, list[str]], field: str) -> str:
        return (row.get(field) or [""])[0]

    states: list[dict[str, Any]] = []
    moved: dict[str, str] = {}  # a posted row reference -> the same row's place now
    for index, row in sorted(rows["states"].items()):
        if "remove" in row or not (first(row, "key") or first(row, "label")):
            continue
        moved[f"@{index}"] = f"@{len(states)}"
        states.append(
            {"key": first(row, "key"), "label": first(row, "label"),
             "colour": first(row, "colour"), "terminal": "terminal" in row,
             "closed": "closed" in row, "expired": "expired" in row,
             "epcis_disposition": first(row, "epcis_disposition")}
        )  # fmt: skip
    errors: dict[str, str] = {}

    def ref(value: str, field: str) -> str:
        if value in moved:
            return moved[value]
        if value.startswith("@"):
            errors.setdefault(field, "That state's row is removed or has no key")
            return ""
        # A key sent as such: the row that has it, or the unknown key itself, to show it.
        return next((f"@{i}" for i, s in enumerate(states) if s["key"] == value), value)

    def key_of(value: str) -> str:
        return str(states[int(value[1:])]["key"]) if value.startswith("@") else value

    initial = str(form.get("initial") or "").strip()
    editor: dict[str, Any] = {
        "initial": ref(initial, "initial") if initial else "",
        "states": states,
        "transitions": [],
    }
    for row in (row for _, row in sorted(rows["transitions"].items())):
        name, label, to = first(row, "name"), first(row, "label"), first(row, "to")
        sources = [v for v in row.get("from", []) if v]
        if "remove" in row or not (name or label or to or sources):
            continue
        at = f"transitions.{len(editor['transitions'])}."
        editor["transitions"].append(
            {
                "name": name, "label": label, "to": ref(to, at + "to") if to else "",
                "from": [r for r in (ref(v, at + "from") for v in sources) if r],
                "permission": first(row, "permission") or Permission.ITEM_TRANSITION,
                "signature_meaning": first(row, "signature_meaning"),
                "epcis_biz_step": first(row, "epcis_biz_step"),
                **{flag: flag in row for flag in FLAGS},
            }
        )  # fmt: skip
    raw: dict[str, Any] = {
        "states": [{**s, "epcis_disposition": s["epcis_disposition"] or None} for s in states],
        "transitions": [
            {**t, "label": t["label"] or None, "signature_meaning": t["signature_meaning"] or None,
             "epcis_biz_step": t["epcis_biz_step"] or None,
             "from": [key_of(s) for s in t["from"]], "to": key_of(t["to"])}
            for t in editor["transitions"]
        ],
    }  # fmt: skip
    if editor["initial"]:
        raw["initial"] = key_of(editor["initial"])
    return editor, raw, errors


def input_of(loc: Sequence[str]) -> str:
    """The editor's input a located problem of the definition is about (`states.2.key`)."""
    loc = loc[1:] if loc[:1] == ["definition"] else loc
    deep = len(loc) >= 3 and loc[0] in {"states", "transitions"}
    return ".".join(loc[:3]) if deep else (loc[0] if loc else "definition")


def _summary(errors: dict[str, str]) -> list[dict[str, str]]:
    """The problems as links to their inputs, for the top of the form."""
    items = []
    for field, problem in errors.items():
        parts = field.split(".")
        if len(parts) == 3:
            noun = "State" if parts[0] == "states" else "Transition"
            where = f"{noun} {int(parts[1]) + 1}, {parts[2].replace('_', ' ')}"
            anchor = "f-" + field.replace(".", "-")
        else:
            where = {"initial": "Initial state", "definition": "Workflow"}.get(field, field)
            anchor = {"initial": "states-section", "transitions": "transitions-section"}.get(
                field, "states-section" if field in {"states", "definition"} else f"f-{field}"
            )
        items.append({"anchor": anchor, "text": f"{where.capitalize()}: {problem}"})
    return items


async def _editor_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    settings: Any,
    *,
    workflow: Workflow | None,
    values: dict[str, str],
    editor: dict[str, Any],
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    errors = errors or {}
    editor["states"] += [_blank_state() for _ in range(BLANK_STATES)]
    editor["transitions"] += [_blank_transition() for _ in range(BLANK_TRANSITIONS)]
    context: dict[str, Any] = {
        "workflow": workflow, "values": values, "editor": editor, "errors": errors,
        "summary": _summary(errors), "message": message, "permissions": list(Permission),
        "saved": request.query_params.get("saved") == "1", "cbv": _CBV,
    }  # fmt: skip
    if workflow is not None:
        context["definition"] = workflow_service.definition_of(workflow)
        followers = await usage.of(request.app).followers(session)
        used_by = [t for t in followers if t.workflow_id == workflow.id]
        in_use: dict[str, int] = {}
        for t in used_by:
            for status, count in t.in_state.items():
                in_use[status] = in_use.get(status, 0) + count
        context |= {"used_by": used_by, "in_use": in_use}
    return page(
        request, "admin/workflow_form.html", principal=principal, settings=settings,
        context=context, status_code=status_code,
    )  # fmt: skip


@router.get("/admin/workflows")
async def workflows_list(
    request: Request, principal: AdminConfig, session: SessionDep, state: StateDep, use: UsageDep
) -> Response:
    """Every workflow with its states and the item types that follow it."""
    workflows = await workflow_service.list_workflows(session)
    used_by: dict[int, list[str]] = {}
    for t in await use.followers(session):
        used_by.setdefault(t.workflow_id, []).append(t.key)
    rows = [
        {"workflow": w, "definition": workflow_service.definition_of(w), "used": used_by.get(w.id)}
        for w in workflows
    ]
    return page(
        request, "admin/workflows.html", principal=principal, settings=state.settings,
        context={"rows": rows},
    )  # fmt: skip


@router.get("/admin/workflows/new")
async def new_workflow_form(
    request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """An empty editor for a new workflow."""
    editor = {"initial": "@0", "states": [], "transitions": []}
    values = {"key": "", "name": ""}
    return await _editor_page(
        request, session, principal, state.settings, workflow=None, values=values, editor=editor
    )


def _check_names(values: dict[str, str], errors: dict[str, str], *, new: bool) -> None:
    checks = [("key", _KEY), ("name", _LABEL)] if new else [("name", _LABEL)]
    for field, adapter in checks:
        try:
            adapter.validate_python(values[field])
        except ValidationError as exc:
            errors |= field_errors(exc, words=WORDS, unlocated=field)
    if new and values["key"] == "new":
        errors["key"] = "'new' is taken by this page's address; choose another key"


async def _save(
    request: Request, session: AsyncSession, principal: Principal, settings: Any, key: str | None
) -> Response:
    """Validate the whole posted workflow, then create or replace it; else show the problems."""
    form = await request.form()
    workflow = None if key is None else await workflow_service.get_workflow(session, key)
    values = {f: str(form.get(f) or "").strip() for f in ("key", "name")}
    if workflow is not None:
        values["key"] = workflow.key
    editor, raw, errors = read_form(form)
    _check_names(values, errors, new=workflow is None)
    message, status_code = "The workflow was not saved: fix the problems marked below.", 422
    try:
        definition = workflow_service.parse_definition(raw)
        if not errors:
            if workflow is None:
                await workflow_service.create_workflow(
                    session, key=values["key"], name=values["name"], definition=definition
                )
            else:
                await workflow_service.update_workflow(
                    session,
                    key=workflow.key,
                    name=values["name"],
                    definition=definition,
                    item_states=usage.of(request.app).item_states,
                )
            return RedirectResponse(f"/admin/workflows/{values['key']}?saved=1", status_code=303)
    except QtrackError as exc:
        await settle_refused(
            session, principal, exc
        )  # a refused workflow keeps nothing of the change
        for field, problem in field_errors(exc, words=WORDS, field_of=input_of).items():
            errors.setdefault(field, problem)
        if isinstance(exc.details, dict) and "key" in exc.details:
            errors["key"] = exc.message
        if not errors:
            message, status_code = exc.message, exc.status_code
    if key is not None:  # loaded again: a rollback above expired it
        workflow = await workflow_service.get_workflow(session, key)
    return await _editor_page(
        request, session, principal, settings, workflow=workflow, values=values,
        editor=editor, errors=errors, message=message, status_code=status_code,
    )  # fmt: skip


@router.post("/admin/workflows/new")
async def create_workflow(
    request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """Create the workflow the editor describes."""
    return await _save(request, session, principal, state.settings, None)


@router.get("/admin/workflows/{key}")
async def workflow_form(
    key: str, request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """A workflow: its summary, and the editor for its states and transitions."""
    workflow = await workflow_service.get_workflow(session, key)
    editor = editor_of(workflow_service.definition_of(workflow))
    values = {"key": workflow.key, "name": workflow.name}
    return await _editor_page(
        request, session, principal, state.settings, workflow=workflow, values=values, editor=editor
    )


@router.post("/admin/workflows/{key}")
async def update_workflow(
    key: str, request: Request, principal: AdminConfig, session: SessionDep, state: StateDep
) -> Response:
    """Replace the workflow's name and definition with what the editor holds."""
    return await _save(request, session, principal, state.settings, key)
