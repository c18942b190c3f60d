"""The item page's forms: move, pack and unpack, quantities, edit, archive. Each is offered
only with its API route's permission, says what it did, and a refused form comes back open
with the problem next to its field, having written nothing."""

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, create_user, csrf_of, web_login
from tests.factories.items import register
from tests.items.conftest import Crew

pytestmark = pytest.mark.usefixtures("site")


def tag(html: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    found = re.search(rf'<[a-z]+\b[^>]*\bid="{re.escape(element_id)}"[^>]*>', html)
    assert found, f"no #{element_id}"
    return found.group(0)


def text_of(html: str, element_id: str) -> str:
    """The text of a one-line element with this id (a message, a notice)."""
    found = re.search(rf'\bid="{re.escape(element_id)}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no #{element_id}"
    return found.group(1).strip()


def field_error(html: str, field_id: str) -> str:
    """The problem shown at a field; the field points at it and is marked invalid."""
    field = tag(html, field_id)
    assert 'aria-invalid="true"' in field, field
    assert f'aria-describedby="e-{field_id}"' in field, field
    return text_of(html, f"e-{field_id}")


async def events_of(client: httpx.AsyncClient, who: AppLogin, code: str) -> list[str]:
    response = await client.get(f"/api/v1/items/{code}/events", headers=who.headers)
    return [e["type"] for e in response.json()["items"]]


async def item(client: httpx.AsyncClient, who: AppLogin, code: str) -> dict[str, object]:
    response = await client.get(f"/api/v1/items/{code}", headers=who.headers)
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


async def post_form(
    client: httpx.AsyncClient, code: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Send one of the item page's forms, with the page's CSRF token, as a browser does."""
    page = await client.get(f"/items/{code}")
    assert page.status_code == 200
    return await client.post(
        f"/items/{code}/{action}", data={**data, "csrf_token": csrf_of(page.text)}
    )


async def followed(
    client: httpx.AsyncClient, response: httpx.Response
) -> tuple[dict[str, list[str]], str]:
    """Where a form sent the browser (303), its query, and the page there."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    page = await client.get(location)
    assert page.status_code == 200
    return parse_qs(urlsplit(location).query), page.text


async def test_an_operator_moves_packs_unpacks_and_dispenses_from_the_page(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    lot = await register(client, crew.operator, type="material", quantity="20", location="WH-A")
    bag = await register(client, crew.operator, type="bag", location="WH-B")
    code = str(lot["code"])
    await web_login(client, "op")
    page = await client.get(f"/items/{code}")
    for action in ("move", "pack", "quantity"):
        assert f'data-action="{action}"' in page.text
    assert 'data-action="unpack"' not in page.text  # it is in no container
    assert 'data-action="edit"' not in page.text  # an operator may not edit
    assert 'data-action="archive"' not in page.text

    query, html = await followed(
        client, await post_form(client, code, "move", {"location": "rack-1", "reason": ""})
    )
    assert query["done"] == ["move"]
    assert text_of(html, "outcome") == "Moved to RACK-1."
    assert (await item(client, crew.operator, code))["location"] == "RACK-1"

    _, html = await followed(
        client, await post_form(client, code, "pack", {"container": str(bag["code"])})
    )
    assert text_of(html, "outcome") == f"Packed into {bag['code']} at WH-B."
    assert 'data-action="unpack"' in html

    _, html = await followed(
        client, await post_form(client, code, "unpack", {"reason": "Wrong bag"})
    )
    assert text_of(html, "outcome") == "Taken out of its container; it stays at WH-B."

    _, html = await followed(
        client, await post_form(client, code, "quantity", {"kind": "dispense", "amount": "2.5"})
    )
    assert text_of(html, "outcome") == "Dispensed 2.5 kg: 17.5 kg left."
    assert "<dd>17.5 kg</dd>" in html
    # The history names the change in the same figures, and not the unit that stayed the same.
    assert "quantity: 20 → 17.5; kind: dispense; amount: 2.5" in html
    assert "unit: kg → kg" not in html

    # A move to where it already is changes nothing, and says so.
    _, html = await followed(client, await post_form(client, code, "move", {"location": "WH-B"}))
    assert text_of(html, "outcome") == "Nothing to change: it was already so."
    assert await events_of(client, crew.operator, code) == [
        "quantity_changed",
        "unpacked",
        "packed",
        "moved",
        "created",
    ]


@pytest.mark.parametrize(
    ("action", "data", "field", "problem", "status"),
    [
        pytest.param(
            "move", {"location": "NOWHERE"}, "move-location", "No location", 422, id="unknown place"
        ),
        pytest.param("move", {"location": ""}, "move-location", "Required", 422, id="no place"),
        pytest.param(
            "pack", {"container": "MAT-999999"}, "pack-container", "No item", 422, id="no box"
        ),
        pytest.param(
            "quantity",
            {"kind": "dispense", "amount": "25"},
            "quantity-amount",
            "Only 20 kg left",
            409,
            id="more than there is",
        ),
        pytest.param(
            "quantity",
            {"kind": "adjust", "amount": "18"},
            "quantity-reason",
            "An adjustment needs a reason",
            422,
            id="adjust without a reason",
        ),
        pytest.param(
            "quantity",
            {"kind": "dispense", "amount": "a lot"},
            "quantity-amount",
            "valid decimal",
            422,
            id="not a number",
        ),
        pytest.param(
            "quantity",
            {"kind": "spill", "amount": "1"},
            "quantity-kind",
            "dispense",
            422,
            id="unknown kind",
        ),
    ],
)
async def test_a_refused_form_comes_back_open_with_the_problem_at_its_field(
    client: httpx.AsyncClient,
    crew: Crew,
    action: str,
    data: dict[str, str],
    field: str,
    problem: str,
    status: int,
) -> None:
    lot = await register(client, crew.operator, type="material", quantity="20", location="WH-A")
    code = str(lot["code"])
    await web_login(client, "op")
    refused = await post_form(client, code, action, data)
    assert refused.status_code == status, refused.text
    assert problem in field_error(refused.text, field)
    assert "open" in tag(refused.text, f"{action}-dialog")
    assert 'id="action-error"' in refused.text
    for name, value in data.items():
        if name != "kind" and value:  # what was typed is shown again, to fix, not retype
            assert f'value="{value}"' in tag(refused.text, f"{action}-{name}")
    assert await events_of(client, crew.operator, code) == ["created"]
    after = await item(client, crew.operator, code)
    assert (after["location"], after["quantity"], after["container"]) == ("WH-A", "20.000000", None)


async def test_packing_into_something_that_holds_nothing_is_refused_at_the_field(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    lot, other = [
        str((await register(client, crew.operator, type="material"))["code"]) for _ in range(2)
    ]
    await web_login(client, "op")
    refused = await post_form(client, lot, "pack", {"container": other})
    assert refused.status_code == 409
    assert "cannot hold items" in field_error(refused.text, "pack-container")
    assert await events_of(client, crew.operator, lot) == ["created"]


async def test_a_supervisor_edits_at_the_version_seen_and_a_stale_form_changes_nothing(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    lot = await register(client, crew.qa, type="material", name="Talc", batch="T-1")
    code = str(lot["code"])
    await web_login(client, "qa")
    page = await client.get(f"/items/{code}")
    assert 'data-action="edit"' in page.text
    assert re.search(r'name="version" value="1"', page.text)
    form = {
        "name": "Talc, sieved",
        "batch": "T-2",
        "serial": "",
        "gtin": "",
        "expiry_on": "2027-01-31",
        "weight_kg": "25",
        "reason": "Label misread",
        "version": "1",
    }
    query, html = await followed(client, await post_form(client, code, "edit", form))
    assert query["fields"] == ["name,batch,expiry_on,weight_kg"]
    assert text_of(html, "outcome") == "Saved: name, batch, expiry date, weight changed."
    assert "<dd>25 kg</dd>" in html
    edited = await item(client, crew.qa, code)
    assert (edited["name"], edited["batch"], edited["version"]) == ("Talc, sieved", "T-2", 2)

    # The same form again, filled at version 1: someone has changed the item since.
    stale = await post_form(client, code, "edit", {**form, "name": "Talc, old"})
    assert stale.status_code == 412
    assert "nothing was saved" in text_of(stale.text, "action-error")
    assert "open" in tag(stale.text, "edit-dialog")
    assert 'value="Talc, old"' in tag(stale.text, "edit-name")
    # Sent again, it applies to the item as it is now (the page shows that version).
    assert re.search(r'name="version" value="2"', stale.text)
    assert (await item(client, crew.qa, code))["name"] == "Talc, sieved"

    # Bad input is refused at its field; a version that is not one is refused as stale.
    bad = await post_form(client, code, "edit", {**form, "version": "2", "gtin": "12345678"})
    assert bad.status_code == 422
    assert "check digit" in field_error(bad.text, "edit-gtin")
    garbage = await post_form(client, code, "edit", {**form, "version": "v18446744073709551616"})
    assert garbage.status_code == 412
    # A digit to str.isdigit() and not to int() (it was a 500).
    superscript = await post_form(client, code, "edit", {**form, "version": "²"})
    assert superscript.status_code == 412
    assert await events_of(client, crew.qa, code) == ["edited", "created"]

    # Saving the form as it is changes nothing, and says so.
    same = {**form, "version": "2", "reason": ""}
    _, html = await followed(client, await post_form(client, code, "edit", same))
    assert text_of(html, "outcome") == "Nothing to change: it was already so."


async def test_archiving_needs_a_reason_and_leaves_nothing_to_do(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    code = str((await register(client, crew.qa, type="bag"))["code"])
    await web_login(client, "qa")
    refused = await post_form(client, code, "archive", {"reason": ""})
    assert refused.status_code == 422
    assert field_error(refused.text, "archive-reason") == "Required"
    assert await events_of(client, crew.qa, code) == ["created"]
    _, html = await followed(
        client, await post_form(client, code, "archive", {"reason": "Torn, replaced"})
    )
    assert text_of(html, "outcome").startswith("Archived")
    assert "<dt>Archived</dt><dd>yes</dd>" in html
    assert "What you can do now" not in html
    assert await events_of(client, crew.qa, code) == ["archived", "created"]


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("move", {"location": "WH-B"}),
        ("pack", {"container": "BAG-000001"}),
        ("unpack", {}),
        ("quantity", {"kind": "receive", "amount": "1"}),
        ("edit", {"name": "x", "version": "1"}),
        ("archive", {"reason": "x"}),
    ],
)
async def test_each_form_needs_its_api_permission_and_the_session_token(
    client: httpx.AsyncClient, db: Database, crew: Crew, action: str, data: dict[str, str]
) -> None:
    code = str((await register(client, crew.qa, type="material", quantity="3"))["code"])
    await register(client, crew.qa, type="bag")
    await create_user(db, "dora", "dispatcher")  # moves and packs; no quantities, no edits
    may = {"move", "pack", "unpack"}
    for username in ("vic", "dora"):
        await web_login(client, username)
        page = await client.get(f"/items/{code}")
        shown = f'data-action="{action}"' in page.text
        allowed = username == "dora" and action in may
        assert shown == (allowed and action != "unpack"), (username, action)
        response = await post_form(client, code, action, data)
        if not allowed:
            assert response.status_code == 403, (username, action)
            assert "permission_denied" in response.text
    # A form another site made carries no token of this session: refused, whoever is signed in.
    await web_login(client, "qa")
    forged = await client.post(f"/items/{code}/{action}", data=data)
    assert forged.status_code == 403
    assert "csrf_failed" in forged.text
    events = await events_of(client, crew.qa, code)
    assert events[-1] == "created"
    assert set(events) <= {"created", "moved", "packed", "unpacked"}


async def test_a_refused_transition_marks_the_field_and_keeps_the_reason(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    code = str((await register(client, crew.qa, type="material"))["code"])
    for body in ({"transition": "quarantine"}, {"transition": "start_test"}):
        response = await client.post(
            f"/api/v1/items/{code}/transitions", json=body, headers=crew.operator.headers
        )
        assert response.status_code == 200
    await web_login(client, "qa")
    refused = await post_form(
        client, code, "transitions", {"transition": "reject", "reason": "Out of spec"}
    )
    assert refused.status_code == 422
    assert "password" in field_error(refused.text, "password-reject").lower()
    assert 'value="Out of spec"' in tag(refused.text, "reason-reject")
    assert 'value="' not in tag(refused.text, "password-reject")
    wrong = await post_form(
        client,
        code,
        "transitions",
        {"transition": "reject", "reason": "Out of spec", "password": "not mine"},
    )
    assert wrong.status_code == 403
    assert "does not match" in field_error(wrong.text, "password-reject")
    assert (await item(client, crew.qa, code))["status"] == "under_test"
    _, html = await followed(
        client,
        await post_form(client, code, "transitions", {"transition": "expire", "reason": "Old"}),
    )
    assert text_of(html, "outcome") == f"Done: {code} is now Expired."


async def test_an_outcome_cannot_be_made_up_by_a_link(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    code = str((await register(client, crew.operator, type="material", quantity="4"))["code"])
    await web_login(client, "op")
    for query in ("done=hacked", "done=dispense&amount=lots", "done=edit&fields=secret"):
        page = await client.get(f"/items/{code}?{query}")
        assert page.status_code == 200
        assert 'id="outcome"' not in page.text, query
    page = await client.get(f"/items/{code}?done=dispense&amount=1")
    assert text_of(page.text, "outcome") == "Dispensed 1 kg: 4 kg left."
