"""An item type names the label template its labels print with when none is asked for."""

import httpx
import pypdfium2 as pdfium
import pytest

from tests.factories.accounts import AppLogin
from tests.factories.items import register


def _page_size_mm(pdf: bytes) -> tuple[int, int]:
    document = pdfium.PdfDocument(pdf)
    try:
        width, height = document[0].get_size()
    finally:
        document.close()
    return round(width / 72 * 25.4), round(height / 72 * 25.4)


async def test_labels_print_with_their_types_template_unless_another_is_asked_for(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    bag = (await register(client, admin, type="bag"))["code"]
    sheet = await client.get(f"/api/v1/labels.pdf?items={bag}", headers=admin.headers)
    assert _page_size_mm(sheet.content) == (210, 297)  # nothing named: the A4 default

    chosen = await client.patch(
        "/api/v1/item-types/bag", json={"label_template": "roll-50x30"}, headers=admin.headers
    )
    assert chosen.status_code == 200, chosen.text
    roll = await client.get(f"/api/v1/labels.pdf?items={bag}", headers=admin.headers)
    assert roll.status_code == 200
    assert _page_size_mm(roll.content) == (50, 30)

    asked = await client.get(
        f"/api/v1/labels.pdf?items={bag}&template=a4-21", headers=admin.headers
    )
    assert _page_size_mm(asked.content) == (210, 297)

    # Items of types with different defaults: the server's default sheet.
    lot = (await register(client, admin))["code"]
    mixed = await client.get(f"/api/v1/labels.pdf?items={bag},{lot}", headers=admin.headers)
    assert _page_size_mm(mixed.content) == (210, 297)


@pytest.mark.parametrize("method", ["post", "patch"])
async def test_an_unknown_template_is_refused_on_the_field(
    client: httpx.AsyncClient, admin: AppLogin, method: str
) -> None:
    if method == "post":
        body = {"key": "reagent", "name": "Reagent", "code_prefix": "RGT", "workflow": "material"}
        response = await client.post(
            "/api/v1/item-types", json={**body, "label_template": "nope"}, headers=admin.headers
        )
    else:
        response = await client.patch(
            "/api/v1/item-types/bag", json={"label_template": "nope"}, headers=admin.headers
        )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["body", "label_template"]
    types = await client.get("/api/v1/item-types", headers=admin.headers)
    assert {t["key"]: t["label_template"] for t in types.json()}.get("bag") is None
    assert "reagent" not in {t["key"] for t in types.json()}
