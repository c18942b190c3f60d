"""Signed label tokens: version ‖ key id ‖ item id ‖ label serial ‖ Ed25519 signature.

75 bytes, written as 120 characters of uppercase base32, inside an uppercase URL
`<PUBLIC_BASE_URL>/Q/<TOKEN>`: every character is in QR's alphanumeric set, so the whole URL
fits QR version 6 at error correction M. The label serial (beyond the brief's fields) makes a
reprint a different token, so the old label can be revoked.
"""

import base64
import binascii
import functools
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.signing import keys
from qtrack.signing.models import ItemLabel

VERSION = 1
_HEADER = struct.Struct(">BHQH")  # version, key id, item id (8 bytes, top 2 must be 0), serial
_PAYLOAD_LEN = 1 + 2 + 6 + 2
_TOKEN_BYTES = _PAYLOAD_LEN + 64
TOKEN_LENGTH = _TOKEN_BYTES * 8 // 5  # 120 base32 characters, no padding
_DOMAIN = b"qtrack-label:"

Status = Literal["valid", "bad_signature", "unknown_key", "retired_key", "revoked", "malformed"]


def _payload(key_id: int, item_id: int, serial: int) -> bytes:
    packed = _HEADER.pack(VERSION, key_id, item_id, serial)
    # The item id travels in 6 bytes: drop the two high bytes of the 8-byte field.
    return packed[:3] + packed[5:]


_B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@functools.cache
def _b32_triples() -> list[str]:
    # Three base32 characters for each 15 bits: 75 bytes are 40 lookups, about twice as fast
    # as base64.b32encode (pure Python in 3.11) and, without padding, the same text. Bulk
    # imports sign a label an item. Built on first use (50 ms, 2 MB), not at every start-up.
    return [
        bytes((_B32[n >> 10], _B32[(n >> 5) & 31], _B32[n & 31])).decode() for n in range(1 << 15)
    ]


def _base32(raw: bytes) -> str:
    assert len(raw) % 15 == 0  # whole 120-bit groups: no padding
    n = int.from_bytes(raw, "big")
    triples = _b32_triples()
    return "".join([triples[(n >> s) & 0x7FFF] for s in range(len(raw) * 8 - 15, -1, -15)])


@functools.lru_cache(maxsize=8)
def _signer(private: Ed25519PrivateKey) -> Callable[[bytes], bytes]:
    """Ed25519 signing with this key through libsodium (PyNaCl), 16 µs a signature against
    OpenSSL's 28 on this machine: an import signs a label an item. Ed25519 is deterministic,
    so both give the same signature (tests/signing/test_tokens.py holds them equal). Cached
    per key object (`keys` keeps one per key)."""
    try:  # a dependency (pyproject.toml); a virtualenv made before it signs through OpenSSL
        from nacl.bindings import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
            crypto_sign,
            crypto_sign_seed_keypair,
        )
    except ImportError:  # pragma: no cover
        return private.sign
    _, secret = crypto_sign_seed_keypair(private.private_bytes_raw())
    return lambda message: bytes(crypto_sign(message, secret)[:64])


def sign_label(private: Ed25519PrivateKey, key_id: int, item_id: int, serial: int) -> str:
    """The token of one label: payload and Ed25519 signature in uppercase base32."""
    payload = _payload(key_id, item_id, serial)
    return _base32(payload + _signer(private)(_DOMAIN + payload))


def label_url(settings: Settings, token: str) -> str:
    """What the QR code holds: the public URL in capitals, then the token."""
    return f"{settings.public_url.upper()}/Q/{token}"


_label: Table = ItemLabel.__table__  # type: ignore[assignment]
_LAST_SERIAL = select(func.max(_label.c.serial)).where(_label.c.item_id == bindparam("item_id"))
_REVOKE = (
    update(_label)
    .where(_label.c.item_id == bindparam("label_item_id"), _label.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_INSERT_LABEL = insert(_label).returning(_label.c.id)


def label_row(
    key_id: int, item_id: int, serial: int, *, issued_by: int | None, issued_at: datetime
) -> dict[str, Any]:
    """The `item_label` row of one label: what `issue_label` inserts, and the importer
    copies for each imported item's label 1. Its token is not stored (`label_token`)."""
    if item_id >= 1 << 48:
        raise ValueError("item id does not fit a label token")
    return {
        "item_id": item_id,
        "serial": serial,
        "key_id": key_id,
        "issued_at": issued_at,
        "issued_by_id": issued_by,
    }


async def label_token(session: AsyncSession, settings: Settings, label: ItemLabel) -> str:
    """A label's token, signed with the key that issued it: the same text every time
    (Ed25519 is deterministic), so it is made when a label is printed or shown rather than
    stored. The key's status does not matter here; `verify` judges it."""
    private = await keys.private_key(session, settings, label.key_id)
    return sign_label(private, label.key_id, label.item_id, label.serial)


async def issue_label(
    session: AsyncSession, settings: Settings, *, item_id: int, issued_by: int | None
) -> ItemLabel:
    """Issue a new label for an item (with the active key); any earlier label of it is
    revoked. The caller holds the item's row lock (two labels of one item cannot take the
    same serial)."""
    last = await session.scalar(_LAST_SERIAL, {"item_id": item_id})
    key_id = await keys.active_key_id(session, settings)
    now = utcnow()
    row = label_row(key_id, item_id, (last or 0) + 1, issued_by=issued_by, issued_at=now)
    await session.execute(_REVOKE, {"label_item_id": item_id, "now": now})
    label_id = (await session.execute(_INSERT_LABEL, row)).scalar_one()
    return ItemLabel(id=label_id, **row)


async def issue_first_labels(
    session: AsyncSession, settings: Settings, *, item_ids: list[int], issued_by: int | None
) -> None:
    """Issue label 1 of freshly registered items (nothing to look up or revoke)."""
    key_id = await keys.active_key_id(session, settings)
    now = utcnow()
    rows = [
        label_row(key_id, item_id, 1, issued_by=issued_by, issued_at=now) for item_id in item_ids
    ]
    if rows:
        await session.execute(insert(_label), rows)


async def current_label(session: AsyncSession, item_id: int) -> ItemLabel | None:
    """The item's label that is not revoked, if it has one."""
    return await session.scalar(
        select(ItemLabel).where(ItemLabel.item_id == item_id, ItemLabel.revoked_at.is_(None))
    )


@dataclass(frozen=True)
class Verdict:
    """What a token turned out to be."""

    status: Status
    message: str
    item_id: int | None = None
    key_id: int | None = None
    serial: int | None = None


_WELL_FORMED = re.compile(f"[A-Z2-7]{{{TOKEN_LENGTH}}}", re.ASCII)


def well_formed(token: str) -> bool:
    """Whether text has a label token's form: 120 characters of *uppercase* base32.

    The one rule for every edge (scan, verify): labels print the token in capitals (QR's
    alphanumeric mode has no small letters), so a lower-cased token is no label's and is
    malformed, not valid."""
    return _WELL_FORMED.fullmatch(token) is not None


def decode(token: str) -> tuple[int, int, int, bytes, bytes] | None:
    """(key id, item id, serial, signed payload, signature) of a well-formed token, or None."""
    if not well_formed(token):
        return None
    try:
        raw = base64.b32decode(token, casefold=False)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _TOKEN_BYTES or raw[0] != VERSION:
        return None
    payload, signature = raw[:_PAYLOAD_LEN], raw[_PAYLOAD_LEN:]
    key_id = int.from_bytes(payload[1:3], "big")
    item_id = int.from_bytes(payload[3:9], "big")
    serial = int.from_bytes(payload[9:11], "big")
    return key_id, item_id, serial, payload, signature


async def verify(session: AsyncSession, token: str) -> Verdict:
    """Check a token's form, key, signature and revocation."""
    decoded = decode(token.strip())
    if decoded is None:
        return Verdict(
            "malformed",
            "This is not a qtrack label token (wrong length, or characters other than A-Z and 2-7)",
        )
    key_id, item_id, serial, payload, signature = decoded
    ring = await keys.keyring(session)
    key = ring.get(key_id)
    if key is None:
        keys.forget_cached_keys()  # a key made by another worker a moment ago?
        key = (await keys.keyring(session)).get(key_id)
    if key is None:
        return Verdict(
            "unknown_key",
            f"Signed with key {key_id}, which this server does not know",
            key_id=key_id,
        )
    try:
        key.public.verify(signature, _DOMAIN + payload)
    except InvalidSignature:
        return Verdict(
            "bad_signature",
            "The signature does not match: the label is forged or damaged",
            key_id=key_id,
        )
    if key.status == "retired":
        return Verdict(
            "retired_key",
            f"Signed with key {key_id}, which has been retired",
            item_id,
            key_id,
            serial,
        )
    label = await session.scalar(
        select(ItemLabel).where(ItemLabel.item_id == item_id, ItemLabel.serial == serial)
    )
    if label is None or label.revoked_at is not None:
        return Verdict(
            "revoked",
            "This label was replaced by a reprint; use the new label",
            item_id,
            key_id,
            serial,
        )
    return Verdict("valid", "Genuine qtrack label", item_id, key_id, serial)
