"""Signed label tokens: every way a label can be wrong gets its own answer."""

import asyncio
import base64
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qtrack import config, migrations
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.signing import keys, tokens
from tests.factories.accounts import AppLogin
from tests.factories.items import register


async def _verify(client: httpx.AsyncClient, who: AppLogin, data: str) -> dict[str, object]:
    response = await client.post("/api/v1/codes/verify", json={"data": data}, headers=who.headers)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.b32decode(token))
    raw[index] ^= 0x01
    return base64.b32encode(bytes(raw)).decode()


def _forge(token: str, key: Ed25519PrivateKey) -> str:
    raw = base64.b32decode(token)
    payload = raw[:11]
    return base64.b32encode(payload + key.sign(b"qtrack-label:" + payload)).decode()


async def test_every_item_gets_a_label_that_verifies(
    client: httpx.AsyncClient, qa: AppLogin, settings: Settings
) -> None:
    item = await register(client, qa)
    label = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()
    assert label["serial"] == 1
    assert len(label["token"]) == tokens.TOKEN_LENGTH == 120
    assert label["url"] == f"HTTP://127.0.0.1:8000/Q/{label['token']}"
    # Everything in QR's alphanumeric set, and short enough for version 6 at level M.
    assert set(label["url"]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert len(label["url"]) <= 154

    for data in (
        label["url"],
        label["token"],
        label["url"].lower().replace(label["token"].lower(), label["token"]),
    ):
        result = await _verify(client, qa, data)
        assert result["status"] == "valid"
        assert result["item"]["code"] == item["code"]  # type: ignore[index]


async def test_each_kind_of_bad_token_gets_its_own_answer(
    client: httpx.AsyncClient, qa: AppLogin
) -> None:
    item = await register(client, qa)
    token = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()[
        "token"
    ]
    cases = {
        "truncated": (token[:-8], "malformed"),
        "not base32": ("1" * 120, "malformed"),
        "empty-ish": ("Q", "malformed"),
        "bit flipped in the signature": (_flip(token, 40), "bad_signature"),
        "bit flipped in the item id": (_flip(token, 8), "bad_signature"),
        "forged with another key": (_forge(token, Ed25519PrivateKey.generate()), "bad_signature"),
        "unknown key id": (_flip(token, 2), "unknown_key"),
    }
    for name, (data, expected) in cases.items():
        result = await _verify(client, qa, data)
        assert result["status"] == expected, name
        assert result["item"] is None, name
        assert result["message"], name


async def test_reprint_revokes_the_old_label(client: httpx.AsyncClient, qa: AppLogin) -> None:
    item = await register(client, qa)
    old = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()
    reprint = await client.post(f"/api/v1/items/{item['code']}/labels", headers=qa.headers)
    assert reprint.status_code == 201
    new = reprint.json()
    assert new["serial"] == 2
    assert new["token"] != old["token"]
    assert (await _verify(client, qa, old["url"]))["status"] == "revoked"
    assert (await _verify(client, qa, new["url"]))["status"] == "valid"


async def test_rotation_keeps_old_labels_valid_and_retirement_ends_them(
    client: httpx.AsyncClient, qa: AppLogin, db: Database, settings: Settings
) -> None:
    before = await register(client, qa)
    old_label = (
        await client.get(f"/api/v1/items/{before['code']}/label", headers=qa.headers)
    ).json()
    async with db.session_scope() as session:
        new_key = await keys.rotate(session, settings)
    after = await register(client, qa)
    new_label = (
        await client.get(f"/api/v1/items/{after['code']}/label", headers=qa.headers)
    ).json()
    assert new_label["key_id"] == new_key.id != old_label["key_id"]
    assert (await _verify(client, qa, old_label["url"]))["status"] == "valid"
    # Tokens are signed when shown, each with the key that issued its label: an old label
    # shown after the rotation is the very token printed before it, not a new key's.
    again = (await client.get(f"/api/v1/items/{before['code']}/label", headers=qa.headers)).json()
    assert again == old_label

    published = (await client.get("/api/v1/keys")).json()
    assert [(k["kid"], k["status"]) for k in published] == [
        (old_label["key_id"], "verifying"),
        (new_key.id, "active"),
    ]
    assert "private" not in str(published).lower()

    async with db.session_scope() as session:
        await keys.retire(session, old_label["key_id"])
    assert (await _verify(client, qa, old_label["url"]))["status"] == "retired_key"
    assert (await _verify(client, qa, new_label["url"]))["status"] == "valid"
    # Shown after its key retired, a label is still what was printed (and still refused).
    again = (await client.get(f"/api/v1/items/{before['code']}/label", headers=qa.headers)).json()
    assert again == old_label


async def test_the_active_key_cannot_be_retired(db: Database, settings: Settings) -> None:
    async with db.session_scope() as session:
        key = await keys.create_first_key(session, settings)
    with pytest.raises(keys.KeyStateConflict):
        async with db.session_scope() as session:
            await keys.retire(session, key.id)


async def test_published_keys_verify_offline(client: httpx.AsyncClient, qa: AppLogin) -> None:
    """What an app does without the server: check the signature with the published key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    item = await register(client, qa)
    token = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()[
        "token"
    ]
    published = {k["kid"]: k for k in (await client.get("/api/v1/keys")).json()}
    raw = base64.b32decode(token)
    kid = int.from_bytes(raw[1:3], "big")
    public = base64.urlsafe_b64decode(published[kid]["public_key"] + "==")
    Ed25519PublicKey.from_public_bytes(public).verify(raw[11:], b"qtrack-label:" + raw[:11])


async def test_verify_needs_login_and_refuses_huge_input(
    client: httpx.AsyncClient, qa: AppLogin
) -> None:
    assert (await client.post("/api/v1/codes/verify", json={"data": "x"})).status_code == 401
    huge = await client.post("/api/v1/codes/verify", json={"data": "A" * 5000}, headers=qa.headers)
    assert huge.status_code == 422


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda url, token: token.lower(), id="bare-token"),
        pytest.param(lambda url, token: url.lower(), id="whole-url"),
        pytest.param(
            lambda url, token: url.replace(token, token[:60] + token[60:].lower()), id="half"
        ),
    ],
)
async def test_verify_and_scan_apply_one_rule_to_a_lower_cased_token(
    client: httpx.AsyncClient, qa: AppLogin, spoil: object
) -> None:
    """Labels print tokens in capitals: lower-cased, a token is malformed at both edges."""
    item = await register(client, qa)
    label = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()
    data = spoil(label["url"], label["token"])  # type: ignore[operator]
    assert data != label["url"]

    verified = await _verify(client, qa, data)
    assert verified["status"] == "malformed"
    assert verified["item"] is None
    scanned = await client.post("/api/v1/scan", json={"data": data}, headers=qa.headers)
    if scanned.status_code == 422:  # a label URL whose token is malformed
        assert scanned.json()["error"]["message"] == "malformed qtrack token"
    else:  # bare lower-case text is no token at all, and matches nothing
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["kind"] == "text"
        assert scanned.json().get("item") is None

    # The label as printed is valid at both edges.
    assert (await _verify(client, qa, label["url"]))["status"] == "valid"
    good = await client.post("/api/v1/scan", json={"data": label["url"]}, headers=qa.headers)
    assert good.json()["kind"] == "qtrack_token"


def test_well_formed_is_the_one_rule() -> None:
    token = "A2" * 60
    assert tokens.well_formed(token)
    assert not tokens.well_formed(token.lower())
    assert not tokens.well_formed(token[:-1])
    assert not tokens.well_formed(token + "A")
    assert not tokens.well_formed(token[:-1] + "1")  # 0, 1, 8, 9 are not base32


def test_labels_signed_through_libsodium_are_openssls_signatures() -> None:
    # Ed25519 is deterministic: the fast signer must give what the key itself gives, and
    # what verification (through the public key) accepts.
    private = Ed25519PrivateKey.generate()
    for item_id in (1, 2, 99_999, (1 << 48) - 1):
        token = tokens.sign_label(private, 7, item_id, 3)
        raw = base64.b32decode(token)
        payload, signature = raw[: tokens._PAYLOAD_LEN], raw[tokens._PAYLOAD_LEN :]
        assert signature == private.sign(tokens._DOMAIN + payload)
        private.public_key().verify(signature, tokens._DOMAIN + payload)


async def test_downgrading_below_0020_stores_every_label_token_again(
    client: httpx.AsyncClient,
    qa: AppLogin,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The release before 0020 stored tokens: a downgrade signs them again, each with the key
    that issued its label, so that release prints the very labels already on the shelf."""
    first, second = await register(client, qa), await register(client, qa)
    await client.post(f"/api/v1/items/{second['code']}/labels", headers=qa.headers)  # serial 2
    shown = {}
    for item in (first, second):
        label = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()
        shown[(item["code"], label["serial"])] = label["token"]
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            head = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        # With another secret the keys do not open: `qtrack db downgrade` fails and leaves
        # the database as it was, the later migrations' downgrades undone with it (one
        # transaction, on SQLite too), and can be run again.
        other = settings.model_copy(update={"secret_key": SecretStr("not the server's secret")})
        monkeypatch.setattr(config, "get_settings", lambda: other)
        with pytest.raises(keys.KeyLocked):
            await asyncio.to_thread(migrations.downgrade, settings.database_url, "0019")
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == head
            columns = await conn.run_sync(
                lambda sync: {
                    table: {c["name"] for c in inspect(sync).get_columns(table)}
                    for table in ("item_label", "restock_receipt")
                }
            )
            assert "token" not in columns["item_label"]
            assert "fingerprint" in columns["restock_receipt"]  # 0021, kept
            assert not [t for t in await conn.run_sync(_tables) if t.startswith("_alembic_tmp")]
        monkeypatch.setattr(config, "get_settings", lambda: settings)  # the server's secret
        async with engine.begin() as conn:
            await conn.run_sync(migrations.downgrade_on, "0019")
            stored = (
                await conn.execute(
                    text(
                        "SELECT i.code, l.serial, l.token FROM item_label l"
                        " JOIN item i ON i.id = l.item_id"
                    )
                )
            ).all()
            await conn.run_sync(migrations.upgrade_on, "head")
    finally:
        await engine.dispose()
    by_label = {(code, serial): token for code, serial, token in stored}
    assert len(by_label) == 3  # the revoked label 1 of `second` too
    assert all(by_label.values())
    assert {k: by_label[k] for k in shown} == shown
    revoked = by_label[(second["code"], 1)]
    assert (await _verify(client, qa, revoked))["status"] == "revoked"


async def test_a_label_under_another_secret_is_a_clear_503_and_still_verifies(
    client: httpx.AsyncClient, qa: AppLogin, db: Database, settings: Settings
) -> None:
    """A database restored beside another QTRACK_SECRET_KEY cannot open its signing keys:
    showing or printing a label says so (503 signing_key_locked, never a 500), while labels
    already printed still verify with the public key."""
    item = await register(client, qa)
    shown = (await client.get(f"/api/v1/items/{item['code']}/label", headers=qa.headers)).json()
    elsewhere = settings.model_copy(
        update={"secret_key": SecretStr("a different secret for the restored copy, 48 chars")}
    )
    async with db.session_scope() as session:
        item_id = await session.scalar(
            text("SELECT id FROM item WHERE code = :code"), {"code": item["code"]}
        )
        label = await tokens.current_label(session, item_id)
        assert label is not None
        assert await tokens.label_token(session, settings, label) == shown["token"]
        with pytest.raises(keys.KeyLocked) as refused:
            await tokens.label_token(session, elsewhere, label)
        # Issuing a label records the active key's id: that needs no secret.
        assert await keys.active_key_id(session, elsewhere) == label.key_id
    assert (refused.value.status_code, refused.value.code) == (503, "signing_key_locked")
    assert (await _verify(client, qa, shown["url"]))["status"] == "valid"


def _tables(sync: Any) -> list[str]:
    return list(inspect(sync).get_table_names())
