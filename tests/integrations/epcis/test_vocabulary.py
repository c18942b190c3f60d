"""The words and names EPCIS events use: CBV terms an admin may set per workflow state and
transition, identifiers both ways, units."""

import json
from typing import Any

import httpx
import pytest

from qtrack.core.db import Database
from qtrack.integrations.epcis import identifiers, mapping
from qtrack.integrations.epcis.identifiers import Ref
from qtrack.workflow import cbv
from qtrack.workflow.defaults import SHIPPED_WORKFLOWS
from tests.integrations.epcis.conftest import BASE, SCHEMA_FILE, History, events_of, gtin
from tests.items.conftest import Crew
from tests.workflow.test_pages import Page, definition_in_db, form_of


def test_the_cbv_terms_are_the_schemas() -> None:
    definitions = json.loads(SCHEMA_FILE.read_text())["definitions"]
    assert set(definitions["bizStep"]["anyOf"][1]["enum"]) == cbv.BIZ_STEPS
    assert set(definitions["disposition"]["anyOf"][1]["enum"]) == cbv.DISPOSITIONS
    assert set(cbv.DEFAULT_DISPOSITIONS.values()) <= cbv.DISPOSITIONS
    assert set(cbv.DEFAULT_BIZ_STEPS.values()) <= cbv.BIZ_STEPS
    assert set(mapping.KIND_BIZ_STEP.values()) | set(mapping.QUANTITY_BIZ_STEP.values()) <= (
        cbv.BIZ_STEPS
    )
    # Every state and transition qtrack ships has its CBV word.
    for _, definition in SHIPPED_WORKFLOWS.values():
        assert {s["key"] for s in definition["states"]} <= set(cbv.DEFAULT_DISPOSITIONS)
        transitions = {t["name"] for t in definition["transitions"]} - {"reopen"}
        assert transitions <= set(cbv.DEFAULT_BIZ_STEPS)


GT = gtin("0950110153000")


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        (f"{BASE}/id/item/MAT-000001", Ref(code="MAT-000001")),
        (f"{BASE}/id/item/mat-000001", Ref(code="MAT-000001")),
        (f"{BASE}/id/location/WH-A", Ref(location="WH-A")),
        (f"{BASE}/id/item/", None),
        (f"{BASE}/id/item/A/B", None),
        ("http://elsewhere.example/id/item/MAT-000001", None),
        (f"https://id.gs1.org/01/{GT}/21/S%2F1", Ref(gtin=GT, serial="S/1")),
        (f"https://id.gs1.org/01/{GT}/10/L42", Ref(gtin=GT, lot="L42")),
        (f"https://id.gs1.org/01/{GT}/10/L42/21/9", Ref(gtin=GT, lot="L42", serial="9")),
        (f"https://id.gs1.org/01/{GT}", Ref(gtin=GT)),
        (f"https://brand.example/products/01/{GT}/21/9?linkType=all", Ref(gtin=GT, serial="9")),
        (f"https://id.gs1.org/gtin/{GT}/ser/9", Ref(gtin=GT, serial="9")),
        (f"https://id.gs1.org/01/{GT[1:]}/21/9", Ref(gtin=GT, serial="9")),  # GTIN-13
        (f"https://id.gs1.org/01/{GT[:-1]}0/21/9", None),  # wrong check digit
        ("urn:epc:id:sgtin:0614141.107346.2017", Ref(gtin=gtin("1061414107346"), serial="2017")),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            Ref(gtin=gtin("0401234512345"), lot="998877"),
        ),
        ("urn:epc:idpat:sgtin:4012345.098765.*", Ref(gtin=gtin("0401234598765"))),
        ("urn:epc:id:sscc:0614141.1234567890", None),
        ("urn:epc:id:sgtin:0614141.10734.2017", None),  # 12 digits: not a GTIN
        ("not a uri", None),
    ],
)
def test_identifiers_qtrack_reads(uri: str, ref: Ref | None) -> None:
    assert identifiers.parse(uri, BASE) == ref


def test_identifiers_qtrack_writes_read_back() -> None:
    for gtin_, serial, batch in [(GT, "S/1 x", None), (GT, None, "L 42%"), (None, None, None)]:
        uri, is_class = identifiers.identify(BASE, "MAT-000001", gtin_, serial, batch)
        ref = identifiers.parse(uri, BASE)
        assert ref is not None
        assert ref.is_class == is_class
        assert (ref.code, ref.gtin, ref.serial, ref.lot) == (
            None if gtin_ else "MAT-000001", gtin_, serial, batch,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("unit", "uom"),
    [("kg", "KGM"), ("KG", "KGM"), ("ml", "MLT"), ("pcs", None), ("H87", "H87"), ("bottles", None)],
)
def test_units(unit: str, uom: str | None) -> None:
    assert mapping.uom_of(unit) == uom


async def _put_bag(client: httpx.AsyncClient, crew: Crew, change: Any) -> httpx.Response:
    current = (await client.get("/api/v1/workflows/bag", headers=crew.admin.headers)).json()
    definition = current["definition"]
    change(definition)
    return await client.put(
        "/api/v1/workflows/bag", json={"definition": definition}, headers=crew.admin.headers
    )


async def test_an_admin_sets_the_words_of_a_state_and_a_transition(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    def change(definition: dict[str, Any]) -> None:
        definition["states"][1]["epcis_disposition"] = "urn:acme:disp:sealed"  # their own
        definition["transitions"][0]["epcis_biz_step"] = "https://ref.gs1.org/cbv/BizStep-loading"

    response = await _put_bag(client, crew, change)
    assert response.status_code == 200, response.text
    saved = response.json()["definition"]
    assert saved["states"][1]["epcis_disposition"] == "urn:acme:disp:sealed"
    assert saved["transitions"][0]["epcis_biz_step"] == "loading"  # kept as the bare term
    assert "epcis_disposition" not in saved["states"][0]  # unset: left out

    (sealed,) = await events_of(client, crew.admin.headers, EQ_bizStep="loading")
    assert (sealed["qtrack:type"], sealed["qtrack:item"]) == ("status_changed", history.bag)
    assert sealed["disposition"] == "urn:acme:disp:sealed"
    found = await events_of(client, crew.admin.headers, EQ_disposition="urn:acme:disp:sealed")
    assert [e["eventID"] for e in found] == [sealed["eventID"]]
    assert await events_of(client, crew.admin.headers, EQ_disposition="container_closed") == []


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("states", 1, "epcis_disposition"), "sealed_tight"),
        (("states", 1, "epcis_disposition"), "urn:epcglobal:cbv:disp:sealed_tight"),
        (("transitions", 0, "epcis_biz_step"), "sealing"),
        (("transitions", 0, "epcis_biz_step"), "two words"),
    ],
)
async def test_a_word_that_is_not_cbv_is_refused(
    client: httpx.AsyncClient, crew: Crew, db: Database, where: tuple[str, int, str], value: str
) -> None:
    before = await definition_in_db(db, "bag")

    def change(definition: dict[str, Any]) -> None:
        definition[where[0]][where[1]][where[2]] = value

    response = await _put_bag(client, crew, change)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["loc"] == ["body", "definition", where[0], str(where[1]), where[2]]
    assert "CBV 2.0" in detail["msg"]
    assert await definition_in_db(db, "bag") == before


async def test_the_editor_shows_and_saves_the_words(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await form_of(web_admin, "/admin/workflows/material", "workflow-editor")
    assert form.get("states.1.epcis_disposition") == [""]
    page = Page((await web_admin.get("/admin/workflows/material")).text)
    assert page.by_id["f-states-1-epcis_disposition"]["placeholder"] == "non_sellable_other"
    assert page.by_id["f-transitions-2-epcis_biz_step"]["placeholder"] == "inspecting"
    assert page.by_id["f-states-1-epcis_disposition"]["list"] == "cbv-dispositions"
    form.set("states.1.epcis_disposition", "unavailable")
    form.set("transitions.0.epcis_biz_step", "storing")
    saved = await web_admin.post("/admin/workflows/material", data=form.data())
    assert saved.status_code == 303, saved.text
    stored = await definition_in_db(db, "material")
    assert stored["states"][1]["epcis_disposition"] == "unavailable"
    assert stored["transitions"][0]["epcis_biz_step"] == "storing"
    again = await form_of(web_admin, "/admin/workflows/material", "workflow-editor")
    assert again.get("states.1.epcis_disposition") == ["unavailable"]

    # A word that is not CBV is shown on its input, and nothing is written.
    again.set("states.1.epcis_disposition", "quarantined")
    refused = await web_admin.post("/admin/workflows/material", data=again.data())
    assert refused.status_code == 422
    shown = Page(refused.text)
    assert "is not a CBV 2.0 disposition" in shown.text["e-states-1-epcis_disposition"]
    assert shown.by_id["f-states-1-epcis_disposition"]["aria-invalid"] == "true"
    assert await definition_in_db(db, "material") == stored
