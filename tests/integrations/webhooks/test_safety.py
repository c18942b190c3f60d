"""Receivers on loopback, link-local or private addresses are refused when registered
(and at delivery, see test_delivery.py) unless QTRACK_WEBHOOKS_ALLOW_PRIVATE is on."""

import ipaddress

import httpx
import pytest

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.integrations.webhooks import safety
from tests.conftest import make_settings
from tests.factories.accounts import AppLogin
from tests.integrations.webhooks.test_api import URL, _count


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)  # QTRACK_WEBHOOKS_ALLOW_PRIVATE off


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "https://224.0.0.1/hook",
    ],
)
async def test_private_receivers_are_refused_unless_allowed(
    client: httpx.AsyncClient, admin: AppLogin, db: Database, url: str
) -> None:
    response = await client.post(
        URL, json={"url": url, "event_types": ["*"]}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "webhook_url_refused"
    assert "QTRACK_WEBHOOKS_ALLOW_PRIVATE" in error["message"]
    assert await _count(db) == 0


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.2", "loopback"), ("::1", "loopback"), ("169.254.1.1", "link-local"),
        ("fe80::2", "link-local"), ("10.0.0.1", "private"), ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"), ("100.64.1.1", "non-public"),
        ("0.0.0.0", "unspecified")  # noqa: S104
        , ("239.1.1.1", "multicast"), ("93.184.216.34", None),
        ("2606:4700::1111", None),
        # 6to4 wraps an IPv4 address: these were let through as global.
        ("2002:7f00:1::", "loopback"), ("2002:a9fe:a9fe::1", "link-local"),
        ("2002:c0a8:101::", "private"), ("2002:5db8:d822::1", None), ("fec0::1", "site-local"),
    ],
)  # fmt: skip
def test_which_addresses_may_receive_webhooks(address: str, reason: str | None) -> None:
    assert safety.refusal(ipaddress.ip_address(address)) == reason
