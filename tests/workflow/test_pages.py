"""The workflow admin pages: an admin reads and edits workflows in forms; every problem is
shown on the input it is about, with a 422, and nothing is written."""

import copy
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.core.db import Database
from qtrack.core.errors import ValidationFailed
from qtrack.workflow import service as workflow_service
from qtrack.workflow.defaults import BAG, MATERIAL, SHIPPED_WORKFLOWS
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import WorkflowDefinition
from tests.factories.accounts import create_user, csrf_of, login, web_login
from tests.factories.items import insert_item_row

MATERIAL_NAME = SHIPPED_WORKFLOWS["material"][0]
_VOID = {"input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"}


class Page(HTMLParser):
    """A page as a browser sees it: what each form would submit, and each element by id
    (its attributes and its text). Template contents are inert, as in a browser."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, dict[str, str]] = {}
        self.text: dict[str, str] = {}
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self._form: str | None = None
        self._template = 0
        self._open: list[tuple[str, str | None]] = []
        self._select: dict[str, Any] | None = None
        self._textarea: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "template":
            self._template += 1
        if self._template:
            return
        if "id" in found:
            self.by_id[found["id"]] = {"tag": tag, **found}
            self.text[found["id"]] = ""
        if tag not in _VOID:
            self._open.append((tag, found.get("id")))
        if tag == "form":
            self._form = found.get("id") or found.get("action", "")
            self.forms[self._form] = []
        elif tag == "input" and self._form and found.get("name"):
            kind = found.get("type", "text")
            if kind in {"checkbox", "radio"}:
                if "checked" in found:
                    self._add(found["name"], found.get("value") or "on")
            elif kind not in {"submit", "button", "reset"}:
                self._add(found["name"], found.get("value", ""))
        elif tag == "select":
            self._select = {"name": found.get("name"), "multiple": "multiple" in found, "opts": []}
        elif tag == "option" and self._select is not None:
            self._select["opts"].append((found.get("value", ""), "selected" in found))
        elif tag == "textarea":
            self._textarea = [found.get("name", "")]

    def _add(self, name: str, value: str) -> None:
        if self._form is not None:
            self.forms[self._form].append((name, value))

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._template -= 1
        if self._template:
            return
        if tag == "select" and self._select is not None:
            opts, chosen = self._select["opts"], [v for v, s in self._select["opts"] if s]
            if not chosen and opts and not self._select["multiple"]:
                chosen = [opts[0][0]]
            for value in chosen:
                self._add(self._select["name"], value)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._add(self._textarea[0], "".join(self._textarea[1:]))
            self._textarea = None
        elif tag == "form":
            self._form = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._template:
            return
        if self._textarea is not None:
            self._textarea.append(data)
        for _, element_id in self._open:
            if element_id:
                self.text[element_id] += data


class Form:
    """A form's fields, to change as a person would before submitting."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = list(fields)

    def get(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]

    def set(self, name: str, *values: str) -> "Form":
        self.fields = [(k, v) for k, v in self.fields if k != name]
        self.fields += [(name, v) for v in values]
        return self

    def data(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.fields:
            out.setdefault(k, []).append(v)
        return out


async def form_of(client: httpx.AsyncClient, path: str, form_id: str) -> Form:
    """The form as the page at `path` renders it."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return Form(Page(response.text).forms[form_id])


async def definition_in_db(db: Database, key: str) -> dict[str, Any]:
    async with db.session_scope("read") as session:
        row = await session.scalar(select(Workflow).where(Workflow.key == key))
        assert row is not None
        return {"name": row.name, **row.definition}


async def test_the_list_shows_each_workflow_its_states_and_who_follows_it(
    web_admin: httpx.AsyncClient,
) -> None:
    response = await web_admin.get("/admin/workflows")
    assert response.status_code == 200
    text = Page(response.text).text["workflows"]
    for key in ("bag", "material", "supply"):
        assert f'data-workflow="{key}"' in response.text
    assert 'data-state="quarantine"' in response.text
    assert 'fill="#bf8700"' in response.text  # quarantine's colour, on its badge
    assert "Followed by: material" in " ".join(text.split())


async def test_the_editor_shows_the_saved_workflow(web_admin: httpx.AsyncClient) -> None:
    response = await web_admin.get("/admin/workflows/material")
    assert response.status_code == 200
    page = Page(response.text)
    form = Form(page.forms["workflow-editor"])
    assert form.get("name") == [MATERIAL_NAME]
    assert [form.get(f"states.{i}.key")[0] for i in range(9)] == [
        s["key"] for s in MATERIAL["states"]
    ]
    assert form.get("states.9.key") == [""]  # blank rows to add states without script
    assert form.get("initial") == ["@0"]
    assert form.get("states.5.terminal") == ["1"]  # dispensed
    release = 2
    assert form.get(f"transitions.{release}.name") == ["release"]
    assert form.get(f"transitions.{release}.from") == ["@2"]  # under_test's row
    assert form.get(f"transitions.{release}.to") == ["@3"]
    assert form.get(f"transitions.{release}.permission") == ["item.release"]
    assert form.get(f"transitions.{release}.signature_required") == ["1"]
    assert form.get(f"transitions.{release}.signature_meaning") == ["QA release"]
    assert form.get(f"transitions.{release}.distinct_actor") == ["1"]
    assert form.get(f"transitions.{release}.reason_required") == []
    assert form.get("transitions.6.from") == ["@1", "@2", "@3"]  # expire, from three states
    summary = " ".join(page.text["workflow-summary"].split())
    assert "under_test → released (release, item.release" in summary
    assert "quarantine, under_test, released → expired (expire, item.release, reason)" in summary
    # The editor's script is loaded as a module, never inline (CSP).
    assert '/static/js/workflow-editor.js"></script>' in response.text


async def test_the_from_states_are_a_checkbox_each(web_admin: httpx.AsyncClient) -> None:
    response = await web_admin.get("/admin/workflows/material")
    page = Page(response.text)
    assert "<select multiple" not in response.text  # no ctrl-click to pick several
    expire = 6
    boxes = [v for v in page.by_id.values() if v.get("name") == f"transitions.{expire}.from"]
    # One per state row (nine states and two blank rows), ticked where the transition starts.
    assert [b["tag"] + ":" + b["type"] for b in boxes] == ["input:checkbox"] * 11
    assert [b["value"] for b in boxes if "checked" in b] == ["@1", "@2", "@3"]
    # The first carries the field's id, and each box says which state it is.
    assert boxes[0]["id"] == f"f-transitions-{expire}-from"
    assert re.search(
        rf'id="f-transitions-{expire}-from-2"[^>]*> <span>under_test</span></label>', response.text
    )


async def test_saving_the_form_as_shown_keeps_the_workflow_as_it_was(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    before = await definition_in_db(db, "material")
    form = await form_of(web_admin, "/admin/workflows/material", "workflow-editor")
    saved = await web_admin.post("/admin/workflows/material", data=form.data())
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/admin/workflows/material?saved=1"
    assert await definition_in_db(db, "material") == before
    shown = await web_admin.get(saved.headers["location"])
    assert Page(shown.text).text["saved"] == "Saved."


async def test_an_admin_adds_a_state_and_a_transition_without_script(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    # Bag has four states (rows 0-3) and four transitions: fill the first blank row of each.
    form.set("states.4.key", "inspected").set("states.4.label", "Inspected")
    form.set("states.4.colour", "#123456")
    form.set("transitions.4.name", "inspect").set("transitions.4.label", "Inspect bag")
    form.set("transitions.4.from", "@0", "@1").set("transitions.4.to", "@4")
    form.set("transitions.4.permission", "item.pack").set("transitions.4.reason_required", "1")
    saved = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert saved.status_code == 303, saved.text

    stored = await definition_in_db(db, "bag")
    assert stored["states"][-1] == {
        "key": "inspected",
        "label": "Inspected",
        "colour": "#123456",
        "terminal": False,
        "closed": False,
    }
    inspect = stored["transitions"][-1]
    assert inspect["name"] == "inspect"
    assert inspect["label"] == "Inspect bag"
    assert inspect["from"] == ["open", "sealed"]
    assert inspect["to"] == "inspected"
    assert inspect["permission"] == "item.pack"
    assert inspect["reason_required"] is True
    assert (
        stored["transitions"][:4]
        == WorkflowDefinition.model_validate(BAG).model_dump(by_alias=True)["transitions"]
    )
    shown = Page((await web_admin.get("/admin/workflows/bag")).text)
    assert "open, sealed → inspected (inspect, item.pack, reason)" in " ".join(
        shown.text["workflow-summary"].split()
    )


async def test_removing_rows_removes_states_and_transitions(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    # Delivered goes, and with it the transition that led there.
    form.set("states.3.remove", "1").set("transitions.3.remove", "1")
    form.set("states.2.terminal", "1")
    saved = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert saved.status_code == 303, saved.text
    stored = await definition_in_db(db, "bag")
    assert [s["key"] for s in stored["states"]] == ["open", "sealed", "dispatched"]
    assert [t["name"] for t in stored["transitions"]] == ["seal", "reopen", "dispatch"]


Change = Callable[[Form], object]


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        pytest.param(
            lambda f: f.set("transitions.0.to", "shipped"),
            "transitions.0.to",
            "'shipped' is not one of the states",
            id="transition to an unknown state",
        ),
        pytest.param(
            lambda f: f.set("transitions.0.to", ""),
            "transitions.0.to",
            "Choose a state",
            id="transition to nowhere",
        ),
        pytest.param(
            lambda f: f.set("transitions.2.from"),
            "transitions.2.from",
            "Choose at least one state",
            id="transition from nowhere",
        ),
        pytest.param(
            lambda f: f.set("states.1.colour", "red"),
            "states.1.colour",
            "A colour like #1a7f37",
            id="bad colour",
        ),
        pytest.param(
            lambda f: f.set("transitions.0.permission", "item.fly"),
            "transitions.0.permission",
            "Unknown permission 'item.fly'",
            id="unknown permission",
        ),
        pytest.param(
            lambda f: f.set("states.2.key", "sealed"),
            "states.2.key",
            "Another state has the key 'sealed'",
            id="duplicate state keys",
        ),
        pytest.param(
            lambda f: f.set("states.0.key", "Open Bag"),
            "states.0.key",
            "Lower-case letters, digits and _",
            id="bad state key",
        ),
        pytest.param(
            lambda f: f.set("states.1.label", ""),
            "states.1.label",
            "Required",
            id="state without a label",
        ),
        pytest.param(
            lambda f: f.set("initial"),
            "initial",
            "Choose the initial state",
            id="missing initial",
        ),
        pytest.param(
            lambda f: f.set("transitions.3.remove", "1"),
            "states.3.key",
            "No transition leads to this state",
            id="unreachable state",
        ),
        pytest.param(
            lambda f: f.set("states.1.terminal", "1"),
            "transitions.1.from",
            "'sealed' is terminal: nothing leaves it",
            id="transition out of a terminal state",
        ),
        pytest.param(
            lambda f: f.set("transitions.0.signature_required", "1"),
            "transitions.0.signature_meaning",
            "Say what the e-signature means",
            id="e-signature without a meaning",
        ),
        pytest.param(
            lambda f: (
                f.set("transitions.4.name", "seal")
                .set("transitions.4.from", "@0")
                .set("transitions.4.to", "@2")
            ),
            "transitions.4.name",
            "'seal' is defined twice from 'open'",
            id="transition defined twice",
        ),
        pytest.param(
            lambda f: f.set("states.3.remove", "1"),
            "transitions.3.to",
            "That state's row is removed or has no key",
            id="transition to a removed row",
        ),
        pytest.param(
            lambda f: f.set("transitions.1.name", "Re open"),
            "transitions.1.name",
            "Lower-case letters, digits and _",
            id="bad transition name",
        ),
        pytest.param(lambda f: f.set("name", ""), "name", "Required", id="workflow without a name"),
    ],
)
async def test_each_problem_is_shown_on_its_input_and_nothing_is_written(
    web_admin: httpx.AsyncClient, db: Database, change: Change, field: str, problem: str
) -> None:
    before = await definition_in_db(db, "bag")
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    change(form)
    response = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert response.status_code == 422, response.text
    page = Page(response.text)
    error_id = "e-" + field.replace(".", "-")
    assert problem in page.text[error_id]
    # The input points at its message, and is marked invalid.
    inputs = (
        [v for v in page.by_id.values() if v.get("name") == "initial"]
        if field == "initial"
        else [page.by_id["f-" + field.replace(".", "-")]]
    )
    assert inputs
    for element in inputs:
        assert element["aria-invalid"] == "true"
        assert element["aria-describedby"] == error_id
    # The summary at the top links to it.
    assert "error-summary" in page.by_id
    anchor = "states-section" if field == "initial" else "f-" + field.replace(".", "-")
    assert f'href="#{anchor}"' in response.text
    # What was typed is shown again, so it can be fixed rather than retyped.
    again = Form(page.forms["workflow-editor"])
    if field.startswith("states.") and not form.get(field.rsplit(".", 1)[0] + ".remove"):
        assert again.get(field) == form.get(field)
    assert await definition_in_db(db, "bag") == before


async def test_an_unknown_key_is_shown_selected_in_its_select(web_admin: httpx.AsyncClient) -> None:
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    response = await web_admin.post(
        "/admin/workflows/bag", data=form.set("transitions.0.to", "shipped").data()
    )
    assert response.status_code == 422
    again = Form(Page(response.text).forms["workflow-editor"])
    assert again.get("transitions.0.to") == ["shipped"]
    assert "shipped (unknown)" in response.text


async def test_every_problem_at_once(web_admin: httpx.AsyncClient, db: Database) -> None:
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    form.set("states.1.colour", "nope").set("transitions.0.permission", "x.y")
    form.set("transitions.2.to", "moon")
    response = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert response.status_code == 422
    page = Page(response.text)
    for error_id in ("e-states-1-colour", "e-transitions-0-permission", "e-transitions-2-to"):
        assert page.text[error_id], error_id


async def test_a_state_items_are_in_cannot_be_removed(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    await insert_item_row(db, "bag", "delivered", "BAG-900001")
    before = await definition_in_db(db, "bag")
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    form.set("states.3.remove", "1").set("transitions.3.remove", "1")
    response = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert response.status_code == 409
    summary = Page(response.text).text["error-summary"]
    assert "Items are in states this change removes: delivered" in summary
    assert await definition_in_db(db, "bag") == before


async def test_the_editor_says_how_many_items_are_in_each_state(
    web_admin: httpx.AsyncClient,
) -> None:
    jwt = await login(web_admin, "boss")
    made = await web_admin.post(
        "/api/v1/items", json={"type": "bag", "count": 3}, headers=jwt.headers
    )
    assert made.status_code == 201, made.text
    response = await web_admin.get("/admin/workflows/bag")
    hints = [" ".join(h.split()) for h in re.findall(r'cfg-in-use">([^<]*)<', response.text)]
    assert hints == ["3 items here"]


async def test_an_admin_creates_a_workflow(web_admin: httpx.AsyncClient, db: Database) -> None:
    form = await form_of(web_admin, "/admin/workflows/new", "workflow-editor")
    assert form.get("states.1.key") == [""]
    assert form.get("transitions.1.name") == [""]
    form.set("key", "sample").set("name", "Lab sample")
    form.set("states.0.key", "drawn").set("states.0.label", "Drawn")
    form.set("states.1.key", "tested").set("states.1.label", "Tested")
    form.set("states.1.terminal", "1").set("initial", "@0")
    form.set("transitions.0.name", "test").set("transitions.0.from", "@0")
    form.set("transitions.0.to", "@1")
    created = await web_admin.post("/admin/workflows/new", data=form.data())
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/admin/workflows/sample?saved=1"
    stored = await definition_in_db(db, "sample")
    assert stored["name"] == "Lab sample"
    assert stored["initial"] == "drawn"
    assert [(t["from"], t["to"]) for t in stored["transitions"]] == [(["drawn"], "tested")]

    again = await web_admin.post("/admin/workflows/new", data=form.data())
    assert again.status_code == 422
    assert "already exists" in Page(again.text).text["e-key"]
    reserved = await web_admin.post("/admin/workflows/new", data=form.set("key", "new").data())
    assert reserved.status_code == 422
    assert "e-key" in Page(reserved.text).by_id


@pytest.mark.parametrize(
    ("fields", "error_id"),
    [
        ({"key": "Bad Key", "name": "X"}, "e-key"),
        ({"key": "fine", "name": ""}, "e-name"),
        ({"key": "fine", "name": "X"}, "e-states"),  # no states at all
    ],
)
async def test_a_new_workflow_with_problems_is_not_created(
    web_admin: httpx.AsyncClient, db: Database, fields: dict[str, str], error_id: str
) -> None:
    page = Page((await web_admin.get("/admin/workflows/new")).text)
    form = Form(page.forms["workflow-editor"])
    for name, value in fields.items():
        form.set(name, value)
    if error_id != "e-states":
        form.set("states.0.key", "only").set("states.0.label", "Only")
    response = await web_admin.post("/admin/workflows/new", data=form.data())
    assert response.status_code == 422, response.text
    assert Page(response.text).text[error_id]
    async with db.session_scope("read") as session:
        keys = set((await session.scalars(select(Workflow.key))).all())
    assert keys == {"bag", "material", "supply"}


async def test_an_operator_is_turned_away(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "boss", "admin")
    await create_user(db, "op", "operator")
    await web_login(client, "boss")
    form = await form_of(client, "/admin/workflows/bag", "workflow-editor")
    await client.post("/logout", data={"csrf_token": form.get("csrf_token")[0]})
    before = await definition_in_db(db, "bag")

    await web_login(client, "op")
    for path in ("/admin/workflows", "/admin/workflows/bag", "/admin/workflows/new"):
        assert (await client.get(path)).status_code == 403, path
    token = csrf_of((await client.get("/")).text)
    form.set("csrf_token", token).set("states.0.label", "Opened")
    refused = await client.post("/admin/workflows/bag", data=form.data())
    assert refused.status_code == 403
    created = await client.post("/admin/workflows/new", data=form.set("key", "mine").data())
    assert created.status_code == 403
    assert await definition_in_db(db, "bag") == before


@pytest.mark.parametrize("token", ["forged", None])
async def test_a_forged_or_missing_csrf_token_changes_nothing(
    web_admin: httpx.AsyncClient, db: Database, token: str | None
) -> None:
    before = await definition_in_db(db, "bag")
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    form.set("states.0.label", "Opened")
    if token is None:
        form.set("csrf_token")
    else:
        form.set("csrf_token", "0" * 64)
    response = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert await definition_in_db(db, "bag") == before


async def test_unknown_workflow_and_garbage(web_admin: httpx.AsyncClient, db: Database) -> None:
    assert (await web_admin.get("/admin/workflows/ghost")).status_code == 404
    token = csrf_of((await web_admin.get("/admin/workflows")).text)
    ghost = await web_admin.post("/admin/workflows/ghost", data={"csrf_token": token})
    assert ghost.status_code == 404
    before = await definition_in_db(db, "bag")
    empty = await web_admin.post("/admin/workflows/bag", data={"csrf_token": token})
    assert empty.status_code == 422  # no name, no states: said so, not a crash
    huge = await web_admin.post(
        "/admin/workflows/bag",
        data={"csrf_token": token, "name": "Bag", "states.99999.key": "x", "initial": "@x"},
    )
    assert huge.status_code == 422
    assert await definition_in_db(db, "bag") == before


# parse_definition itself: every whole-workflow rule is placed at the input it is about.
_SAMPLE: dict[str, Any] = {
    "initial": "a",
    "states": [{"key": "a", "label": "A"}, {"key": "b", "label": "B", "terminal": True}],
    "transitions": [{"name": "go", "from": ["a"], "to": "b"}],
}


def _sample(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(_SAMPLE)
    raw.update(changes)
    return raw


def _go(name: str = "go", src: str = "a", to: str = "b", **more: Any) -> dict[str, Any]:
    return {"name": name, "from": [src], "to": to, **more}


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (_sample(initial="z"), ["initial"]),
        (_sample(states=[*_SAMPLE["states"], {"key": "a", "label": "A2"}]), ["states", "2", "key"]),
        (_sample(states=[*_SAMPLE["states"], {"key": "c", "label": "C"}]), ["states", "2", "key"]),
        (_sample(transitions=[_go(to="z")]), ["transitions", "0", "to"]),
        (_sample(transitions=[_go(src="z")]), ["transitions", "0", "from"]),
        (_sample(transitions=[_go(permission="no")]), ["transitions", "0", "permission"]),
        (
            _sample(transitions=[_go(signature_required=True)]),
            ["transitions", "0", "signature_meaning"],
        ),
        (_sample(transitions=[_go(), _go("back", "b", "a")]), ["transitions", "1", "from"]),
        (_sample(transitions=[_go(), _go(to="a")]), ["transitions", "1", "name"]),
        (_sample(states=[{"key": "a", "label": "A", "colour": "blue"}]), ["states", "0", "colour"]),
        ("not a workflow", []),
    ],
)
def test_parse_definition_locates_each_problem(raw: Any, loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        workflow_service.parse_definition(raw)
    details = refused.value.details
    assert details[0]["loc"] == ["body", "definition", *loc]
    assert details[0]["msg"]


async def test_the_editor_shows_and_saves_which_states_are_closed(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await form_of(web_admin, "/admin/workflows/bag", "workflow-editor")
    # open, sealed, dispatched, delivered: a container in the last three holds what it holds.
    assert [form.get(f"states.{i}.closed") for i in range(4)] == [[], ["1"], ["1"], ["1"]]
    saved = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert saved.status_code == 303, saved.text
    stored = await definition_in_db(db, "bag")
    assert [s["closed"] for s in stored["states"]] == [False, True, True, True]

    form.set("states.1.closed").set("states.0.closed", "1")
    saved = await web_admin.post("/admin/workflows/bag", data=form.data())
    assert saved.status_code == 303, saved.text
    stored = await definition_in_db(db, "bag")
    assert [s["closed"] for s in stored["states"]] == [True, False, True, True]
