"""The webhooks admin pages: register with the secret shown once, refusals next to their
fields, the delivery log with redelivery, rotation, the switched-off alert."""

import html
import re

import httpx
from sqlalchemy import func, select

from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.core.state import AppState
from qtrack.integrations.webhooks.dispatch import switch_off
from qtrack.integrations.webhooks.models import WebhookEndpoint
from tests.factories.accounts import create_user, csrf_of, web_login
from tests.integrations.webhooks.conftest import pump
from tests.integrations.webhooks.receiver import Receiver

BASE = "/admin/webhooks"


def _secret(page: str) -> str:
    found = re.search(r'id="secret-value"[^>]*value="(whsec_[^"]+)"', page)
    assert found, "the page shows the secret"
    return found.group(1)


async def _count(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


async def test_an_admin_registers_a_webhook_and_sees_the_secret_once(
    web_admin: httpx.AsyncClient, db: Database, receiver: Receiver, state: AppState
) -> None:
    listing = await web_admin.get(BASE)
    assert listing.status_code == 200
    assert "No webhooks yet." in listing.text
    form = {
        "csrf_token": csrf_of(listing.text), "url": receiver.url(), "description": "ERP",
        "event_types": ["item.created", "item.moved"], "item_types": ["material"],
        "enabled": "on",
    }  # fmt: skip
    created = await web_admin.post(BASE, data=form)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = _secret(created.text)
    assert secret.startswith("whsec_")
    listing = await web_admin.get(BASE)
    assert html.escape(receiver.url()) in listing.text
    assert secret not in listing.text
    [hook_id] = re.findall(r'data-webhook-id="(\d+)"', listing.text)
    detail = await web_admin.get(f"{BASE}/{hook_id}")
    assert secret not in detail.text
    assert 'value="item.moved" checked' in detail.text
    assert "Nothing delivered yet." in detail.text

    rotated = await web_admin.post(
        f"{BASE}/{hook_id}/rotate", data={"csrf_token": csrf_of(detail.text)}
    )
    assert rotated.status_code == 200
    assert _secret(rotated.text) != secret
    assert "signed with the old secret too" in rotated.text

    tested = await web_admin.post(
        f"{BASE}/{hook_id}/test", data={"csrf_token": csrf_of(detail.text)}
    )
    assert tested.status_code == 303
    await pump(state, lambda: len(receiver.received) >= 1)
    detail = await web_admin.get(f"{BASE}/{hook_id}")
    [delivery_id] = re.findall(r'data-delivery-id="(\d+)" data-status="succeeded"', detail.text)
    assert "webhook.test" in detail.text
    one = await web_admin.get(f"{BASE}/{hook_id}/deliveries/{delivery_id}")
    assert one.status_code == 200
    assert 'data-attempt="1"' in one.text
    assert "A test message from qtrack" in one.text
    again = await web_admin.post(
        f"{BASE}/{hook_id}/deliveries/{delivery_id}/redeliver",
        data={"csrf_token": csrf_of(detail.text)},
    )
    assert again.status_code == 303
    await pump(state, lambda: len(receiver.received) >= 2)
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]


async def test_refused_forms_show_the_problem_next_to_the_field_and_write_nothing(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    token = csrf_of((await web_admin.get(BASE)).text)
    no_types = await web_admin.post(BASE, data={"csrf_token": token, "url": "http://x.test/"})
    assert no_types.status_code == 422
    assert 'id="w-types-error"' in no_types.text
    bad_url = await web_admin.post(
        BASE, data={"csrf_token": token, "url": "gopher://x", "event_types": ["*"]}
    )
    assert bad_url.status_code == 422
    assert 'id="w-url" name="url" type="url" value="gopher://x"' in bad_url.text
    assert 'id="w-url-error"' in bad_url.text
    assert "Only http:// and https:// URLs" in bad_url.text
    unknown_place = await web_admin.post(
        BASE,
        data={"csrf_token": token, "url": "http://127.0.0.1:9/", "event_types": ["*"],
              "location": "NOWHERE"},
    )  # fmt: skip
    assert unknown_place.status_code == 422
    assert 'id="w-location-error"' in unknown_place.text
    assert await _count(db) == 0


async def test_a_switched_off_endpoint_is_shown_with_why_and_delete_needs_a_tick(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    token = csrf_of((await web_admin.get(BASE)).text)
    await web_admin.post(
        BASE, data={"csrf_token": token, "url": "http://127.0.0.1:9/", "event_types": ["*"],
                    "enabled": "on"},
    )  # fmt: skip
    async with db.session_scope() as session:
        hook_id = await session.scalar(select(WebhookEndpoint.id))
        assert hook_id is not None
        await switch_off(session, hook_id, "5 deliveries in a row failed every attempt", utcnow())
    listing = await web_admin.get(BASE)
    assert f'data-alert-webhook="{hook_id}"' in listing.text
    assert "5 deliveries in a row failed every attempt" in listing.text
    detail = await web_admin.get(f"{BASE}/{hook_id}")
    assert 'id="disabled-reason"' in detail.text
    unticked = await web_admin.post(f"{BASE}/{hook_id}/delete", data={"csrf_token": token})
    assert unticked.status_code == 422
    assert await _count(db) == 1
    ticked = await web_admin.post(
        f"{BASE}/{hook_id}/delete", data={"csrf_token": token, "confirm": "yes"}
    )
    assert ticked.status_code == 303
    assert await _count(db) == 0


async def test_the_pages_need_webhooks_manage(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "sam", "supervisor")
    await web_login(client, "sam")
    assert (await client.get(BASE)).status_code == 403
    assert (await client.post(BASE, data={})).status_code == 403
