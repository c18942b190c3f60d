"""Every form an administrator reaches on the pages, sent with a bad value in each of its
fields in turn and with each field left out, is answered below 500: the page again with its
error, or a refusal. `test_api_contract.py` does this for the API; the pages' forms are not
in its document, so they are found here the way a person finds them, by following links."""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import pytest

from qtrack.config import Settings
from qtrack.core.db import Database
from tests.conftest import make_settings
from tests.factories.accounts import PASSWORD, create_user, login, web_login
from tests.factories.items import register
from tests.factories.locations import create_tree

# Each replaces one field's value in turn; on SQLite a field left out is tried too. PostgreSQL
# gets the values its columns check beyond what Python does (a NUL, a number past a bigint,
# text past a column's length); the rest would be refused the same way on either.
BAD_VALUES = ("²", "-1", "9" * 24, "x" * 3000, "\x00", "2026-13-45")
BAD_FOR_POSTGRESQL = ("-1", "9" * 24, "x" * 3000, "\x00")
# Where the crawl starts, besides the links it finds.
START = ("/", "/admin", "/scan", "/admin/jobs", "/orders/receive", "/sync/refused")
MAX_PAGES = 160
PAGES_A_ROUTE = 3
# Forms that end what later forms rely on (a key, a record, an account): sent last.
LAST = ("rotate", "archive", "delete", "remove", "revoke", "retire", "disable", "cancel")
# Not sent: signing out, and the signed-in admin's own account (a new password, or the account
# disabled, ends the session the crawl goes on in).
SKIPPED = ("/logout", "/admin/users/boss")
_ID = re.compile(r"/(?:[A-Z]{2,8}-\d{6}|\d+)(?=/|$)")
# A repeated group's later rows (a workflow's `states.1.key`...): only its first row is tried.
_LATER_ROW = re.compile(r"\.[1-9][0-9]*\.")


@dataclass
class Field:
    name: str
    kind: str  # an input's type, or "select" / "textarea"
    value: str = ""
    checked: bool = False
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    page: str
    action: str
    method: str
    fields: list[Field] = field(default_factory=list)
    button: tuple[str, str] | None = None

    @property
    def target(self) -> str:
        return urlsplit(urljoin(f"http://testserver{self.page}", self.action or self.page)).path

    @property
    def key(self) -> tuple[str, str, tuple[str, ...], tuple[str, str] | None]:
        """What makes two forms the same: their route, their fields and their button."""
        names = tuple(sorted({re.sub(r"\.\d+\.", ".N.", f.name) for f in self.fields}))
        return self.method, _ID.sub("/N", self.target), names, self.button


class _Page(HTMLParser):
    """The links and forms of a page (inputs outside a form joined by their `form` id)."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._by_id: dict[str, Form] = {}
        self._form: Form | None = None
        self._open: Field | None = None  # the select or textarea being read
        self._buttons: dict[int, list[tuple[str, str]]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(self.url, a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
            self._by_id[a.get("id", f"#{len(self.forms)}")] = self._form
        elif tag == "option" and self._open is not None and self._open.kind == "select":
            self._open.options.append(a.get("value", ""))
            if "selected" in a:
                self._open.value = a.get("value", "")
        elif tag in ("input", "select", "textarea", "button") and a.get("name"):
            form = self._by_id.get(a["form"]) if a.get("form") else self._form
            kind = tag if tag in ("select", "textarea") else a.get("type", "text").lower()
            if form is None or "disabled" in a or kind in ("reset", "button"):
                return
            if tag == "button" or kind in ("submit", "image"):
                self._buttons.setdefault(id(form), []).append((a["name"], a.get("value", "")))
                return
            one = Field(a["name"], kind, a.get("value", ""), "checked" in a)
            form.fields.append(one)
            if tag in ("select", "textarea"):
                self._open = one

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag in ("select", "textarea"):
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None and self._open.kind == "textarea":
            self._open.value += data

    def all_forms(self) -> list[Form]:
        """Each form once for each of its named buttons (or once, without one)."""
        out = []
        for form in self.forms:
            for button in self._buttons.get(id(form), [None]):
                out.append(Form(form.page, form.action, form.method, form.fields, button))
        return out


def _plausible(one: Field, seeded: dict[str, str]) -> str:
    """A value for an empty field, so that the field being tried is the only thing wrong."""
    name = one.name.lower()
    by_kind = {
        "number": "1", "date": "2027-06-01", "datetime-local": "2027-06-01T10:00",
        "email": "qa@example.com", "url": "http://127.0.0.1:9/hook", "color": "#336699",
        "password": PASSWORD,
    }  # fmt: skip
    if one.kind in by_kind:
        return by_kind[one.kind]
    if name in ("location", "parent", "to", "site"):
        return "DOCK"
    if name in ("container", "bag"):
        return seeded["bag"]
    if name in ("code", "codes", "scan", "item"):
        return seeded["lot"]
    if name in ("quantity", "count", "weight_kg") or name.endswith(("_level", "_days")):
        return "1"
    return "" if one.kind == "hidden" else "fz1"


def _filled(form: Form, seeded: dict[str, str]) -> list[tuple[str, Any]]:
    """The form as a browser sends it, its empty fields filled in."""
    sent: list[tuple[str, Any]] = []
    radios: set[str] = set()
    for one in form.fields:
        if one.kind in ("checkbox", "radio"):
            if one.checked and one.name not in radios:
                sent.append((one.name, one.value or "on"))
                radios.add(one.name)
        elif one.kind == "select":
            sent.append((one.name, one.value or next((o for o in one.options if o), "")))
        elif one.kind == "file":
            sent.append((one.name, ("rows.csv", b"type,name\nmaterial,Fz\n", "text/csv")))
        else:
            sent.append((one.name, one.value or _plausible(one, seeded)))
    for one in form.fields:  # a radio group with none checked: its first, as people choose
        if one.kind == "radio" and one.name not in radios:
            sent.append((one.name, one.value or "on"))
            radios.add(one.name)
    if form.button is not None:
        sent.append(form.button)
    return sent


async def _send(
    client: httpx.AsyncClient, form: Form, values: list[tuple[str, Any]]
) -> httpx.Response:
    if form.method == "get":
        query = urlencode([(k, v) for k, v in values if isinstance(v, str)])
        return await client.get(f"{form.target}?{query}")
    files = [(k, v) for k, v in values if not isinstance(v, str)]
    data = [(k, v) for k, v in values if isinstance(v, str)]
    if files:
        return await client.post(form.target, data=dict(data), files=files)
    return await client.post(
        form.target,
        content=urlencode(data).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, webhooks_allow_private=True)


async def _seed(client: httpx.AsyncClient, db: Database) -> dict[str, str]:
    """Enough for most forms to have something to act on: places, lots, bags, an order, a bill."""
    await create_user(db, "boss", "admin")
    await create_user(db, "op", "operator")
    admin = await login(client, "boss")
    places = (("PLANT", None, "site"), ("RACK-1", "PLANT", "shelf"), ("DOCK", "PLANT", "zone"))
    await create_tree(client, admin, *places)
    lot = await register(client, admin, name="Cellulose", batch="B-1", location="RACK-1")
    other = await register(client, admin, name="Lactose", location="RACK-1", quantity="20")
    bag = await register(client, admin, type="bag", name="Bag", location="DOCK")
    await register(client, admin, type="supply", name="Syringe", location="RACK-1", quantity="4")
    for path, body in (
        (f"/api/v1/items/{other['code']}/pack", {"container": bag["code"]}),
        (f"/api/v1/items/{bag['code']}/transitions", {"transition": "seal"}),
        ("/api/v1/orders", {"supplier": "MedCo", "lines": [{"type": "supply", "quantity": "9"}]}),
        ("/api/v1/shipments", {"consignee": "ACME", "destination": "Lyon"}),
        ("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}),
        ("/api/v1/tokens", {"name": "scanner", "username": "op"}),
    ):
        made = await client.post(path, json=body, headers=admin.headers)
        assert made.status_code in (200, 201), made.text
    return {"lot": lot["code"], "bag": bag["code"]}


async def _crawl(client: httpx.AsyncClient) -> dict[tuple[Any, ...], Form]:
    """Every distinct form on the pages reachable from START, each answered below 500."""
    queue = list(START)
    seen: set[str] = set()
    forms: dict[tuple[Any, ...], Form] = {}
    per_route: dict[str, int] = {}
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        route = _ID.sub("/N", urlsplit(url).path)
        if url in seen or per_route.get(route, 0) >= PAGES_A_ROUTE:
            continue
        seen.add(url)
        per_route[route] = per_route.get(route, 0) + 1
        page = await client.get(url)
        assert page.status_code < 500, (url, page.text[:2000])
        if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
            continue
        parsed = _Page(url)
        parsed.feed(page.text)
        for form in parsed.all_forms():
            if not form.target.startswith(SKIPPED):
                forms.setdefault(form.key, form)
        for href in parsed.links:
            link = urlsplit(urljoin(f"http://testserver{url}", href))
            if link.netloc == "testserver" and not link.path.startswith(
                ("/static", "/api", *SKIPPED)
            ):
                queue.append(link.path + (f"?{link.query}" if link.query else ""))
    return forms


async def test_no_form_on_the_pages_answers_a_bad_value_with_a_5xx(
    client: httpx.AsyncClient, db: Database, backend: str
) -> None:
    sqlite = backend == "sqlite"
    bad_values = BAD_VALUES if sqlite else BAD_FOR_POSTGRESQL
    seeded = await _seed(client, db)
    await web_login(client, "boss")
    forms = await _crawl(client)
    ordered = sorted(forms.values(), key=lambda f: any(w in f.target for w in LAST))
    tried = 0
    for form in ordered:
        baseline = _filled(form, seeded)
        variants = [baseline]
        for i, (name, _) in enumerate(baseline):
            if name == "csrf_token" or _LATER_ROW.search(name):
                continue
            variants += [[*baseline[:i], (name, bad), *baseline[i + 1 :]] for bad in bad_values]
            if sqlite:
                variants.append(baseline[:i] + baseline[i + 1 :])
        for values in variants:
            answer = await _send(client, form, values)
            tried += 1
            assert answer.status_code < 500, (form.method, form.target, values, answer.text[:2000])
            assert not answer.headers.get("location", "").startswith("/login"), (form, values)
    # The crawl reached the pages' forms (a changed start page must not leave it with none).
    assert len(forms) >= 40, sorted(form.target for form in forms.values())
    assert tried >= 1000
