"""An alert raised reaches the webhook endpoints that ask for `alert.raised`, signed, once."""

import httpx

from qtrack.core.state import AppState
from tests.factories.accounts import AppLogin
from tests.factories.items import register as register_item
from tests.integrations.webhooks.conftest import pump, register
from tests.integrations.webhooks.receiver import Receiver
from tests.integrations.webhooks.test_delivery import verified
from tests.stock.test_api import levels, quantity


async def test_an_alert_is_delivered_once_to_endpoints_that_ask_for_it(
    client: httpx.AsyncClient, admin: AppLogin, started: AppState, receiver: Receiver
) -> None:
    hook = await register(client, admin, receiver.url(), event_types=["alert.raised"])
    other = await register(client, admin, receiver.url("/other"), event_types=["item.moved"])
    lot = await register_item(client, admin, type="supply", quantity="20")
    await levels(client, admin, reorder_level="10")
    await quantity(client, admin, lot["code"], "dispense", "11")
    await quantity(client, admin, lot["code"], "dispense", "1")  # still low: no second alert
    await pump(started, lambda: len(receiver.received) >= 1)
    await pump(started)
    (request,) = receiver.received
    assert request.path == "/hook"
    body = verified(hook["secret"], request)
    assert body["type"] == "alert.raised"
    assert body["data"] | {
        "kind": "stock_low", "subject": "stock:supply", "item_type": "supply", "location": None
    } == body["data"]  # fmt: skip
    assert body["data"]["details"]["on_hand"] == "9"
    assert request.headers["webhook-id"] == f"msg_alert_{body['data']['id']}"
    assert other["id"] != hook["id"]
