"""Ed25519 signing keys for label tokens: create, rotate, retire, and a small cache.

Private keys are stored encrypted (AES-GCM under a key derived from QTRACK_SECRET_KEY), so a
database dump alone cannot forge labels. Changing the secret makes the stored private keys
unusable for signing (labels still verify: that needs only the public keys); rotate after
changing it.
"""

import base64
import functools
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import audit
from qtrack.accounts.models import User
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.errors import Conflict, NotFound, ServiceUnavailable
from qtrack.signing.models import SigningKey

MAX_KEY_ID = 0xFFFF  # two bytes in the token
# How long a process trusts its copy of the keys: after a rotation or retirement elsewhere,
# other workers follow within this many seconds.
CACHE_SECONDS = 30.0


class KeyNotFound(NotFound):
    code, message = "key_not_found", "No such signing key"


class KeyStateConflict(Conflict):
    code, message = "key_state_conflict", "The key cannot make that change"


class KeyLocked(ServiceUnavailable):
    code, message = (
        "signing_key_locked",
        "The signing key cannot be opened with this server's QTRACK_SECRET_KEY: start the"
        " server with the secret the key was sealed with",
    )


def _wrapping_key(settings: Settings) -> AESGCM:
    return _wrapping_key_of(settings.secret_key.get_secret_value())


@functools.lru_cache(maxsize=4)
def _wrapping_key_of(secret: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"qtrack signing keys")
    return AESGCM(hkdf.derive(secret.encode()))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _seal(settings: Settings, private: Ed25519PrivateKey, key_id_hint: bytes) -> bytes:
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    nonce = os.urandom(12)
    return nonce + _wrapping_key(settings).encrypt(nonce, raw, key_id_hint)


def _unseal(settings: Settings, sealed: bytes, key_id: int) -> Ed25519PrivateKey:
    return unseal(settings.secret_key.get_secret_value(), sealed, key_id)


@functools.lru_cache(maxsize=16)
def unseal(secret: str, sealed: bytes, key_id: int) -> Ed25519PrivateKey:
    """A stored key's private half, opened with the server's secret. Remembered: the same
    key object each time, so `tokens` keeps its signer ready."""
    try:
        raw = _wrapping_key_of(secret).decrypt(sealed[:12], sealed[12:], str(key_id).encode())
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (InvalidTag, ValueError):  # another secret (a database restored elsewhere), or damaged
        raise KeyLocked(details={"key_id": key_id}) from None


@dataclass(frozen=True)
class LoadedKey:
    """A key ready to verify (and, if active, to sign)."""

    id: int
    status: str
    public: Ed25519PublicKey
    row: SigningKey
    sealed: bytes  # the private half as stored (read at load: `row` may be expired later)


_cache: dict[int, LoadedKey] = {}
_cache_loaded_at = 0.0


def forget_cached_keys() -> None:
    """Drop this process's copy of the keys (after a change, and in tests)."""
    global _cache_loaded_at
    _cache.clear()
    _cache_loaded_at = 0.0


def public_key_text(row: SigningKey) -> str:
    """The public key as published at /api/v1/keys: unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(row.public_key).decode().rstrip("=")


def fingerprint(row: SigningKey) -> str:
    """A short name for the public key to compare by eye: SHA-256, first 8 bytes, in hex."""
    digest = hashlib.sha256(row.public_key).hexdigest()[:16]
    return ":".join(digest[i : i + 4] for i in range(0, 16, 4))


async def list_keys(session: AsyncSession) -> Sequence[SigningKey]:
    """Every key, oldest first."""
    return (await session.scalars(select(SigningKey).order_by(SigningKey.id))).all()


async def keyring(session: AsyncSession) -> dict[int, LoadedKey]:
    """All keys by id, from this process's cache when it is fresh."""
    global _cache_loaded_at
    if not _cache or time.monotonic() - _cache_loaded_at > CACHE_SECONDS:
        rows = await list_keys(session)
        _cache.clear()
        for row in rows:
            public = Ed25519PublicKey.from_public_bytes(row.public_key)
            _cache[row.id] = LoadedKey(
                id=row.id,
                status=row.status,
                public=public,
                row=row,
                sealed=row.private_key_encrypted,
            )
        _cache_loaded_at = time.monotonic()
    return _cache


async def _create(session: AsyncSession, settings: Settings) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    row = SigningKey(
        public_key=_raw_public(private.public_key()), private_key_encrypted=b"", status="active"
    )
    session.add(row)
    await session.flush()
    if row.id > MAX_KEY_ID:
        raise KeyStateConflict("No key ids left")
    row.private_key_encrypted = _seal(settings, private, str(row.id).encode())
    await session.flush()
    forget_cached_keys()
    return row


async def create_first_key(session: AsyncSession, settings: Settings) -> SigningKey:
    """Create the first signing key; 409 when one is already active (use rotate)."""
    active = await session.scalar(select(SigningKey).where(SigningKey.status == "active"))
    if active is not None:
        raise KeyStateConflict(f"Key {active.id} is already active; rotate to replace it")
    return await _create(session, settings)


async def rotate(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: User | None = None,
    origin: audit.Origin | None = None,
) -> SigningKey:
    """A new key signs from now on; the old one keeps verifying the labels it signed."""
    now = utcnow()
    previous = []
    for old in (
        await session.scalars(
            select(SigningKey).where(SigningKey.status == "active").with_for_update()
        )
    ).all():
        old.status, old.sign_until = "verifying", now
        previous.append(old.id)
    row = await _create(session, settings)
    await audit.record(
        session,
        "signing_key_rotated",
        actor=actor,
        origin=origin,
        username=actor.username if actor else None,
        key_id=row.id,
        previous_key_ids=previous,
    )
    return row


async def retire(
    session: AsyncSession,
    key_id: int,
    *,
    actor: User | None = None,
    origin: audit.Origin | None = None,
) -> SigningKey:
    """Stop trusting a key: labels it signed no longer verify. The active key cannot retire."""
    row = await session.get(SigningKey, key_id, with_for_update=True)
    if row is None:
        raise KeyNotFound(f"No key {key_id}", details={"key_id": key_id})
    if row.status == "active":
        raise KeyStateConflict(
            f"Key {key_id} is the active key: it signs every new label and cannot be retired."
            " Rotate first, then retire it."
        )
    if row.status != "retired":
        row.status, row.retired_at = "retired", utcnow()
        await session.flush()
        forget_cached_keys()
        await audit.record(
            session,
            "signing_key_retired",
            actor=actor,
            origin=origin,
            username=actor.username if actor else None,
            key_id=row.id,
        )
    return row


async def private_key(session: AsyncSession, settings: Settings, key_id: int) -> Ed25519PrivateKey:
    """The private half of key `key_id`, whatever its status: a label's token is made again
    with the key that issued it whenever the label is printed or shown."""
    key = (await keyring(session)).get(key_id)
    if key is None:  # made by another worker a moment ago?
        forget_cached_keys()
        key = (await keyring(session)).get(key_id)
    if key is None:
        raise KeyNotFound(f"No key {key_id}", details={"key_id": key_id})
    return _unseal(settings, key.sealed, key.id)


async def active_key_id(session: AsyncSession, settings: Settings) -> int:
    """The active key's id, the key created on first use: what a new label records. Its
    private half is not opened (a label's token is signed when it is shown)."""
    key_id = await session.scalar(select(SigningKey.id).where(SigningKey.status == "active"))
    if key_id is None:
        key_id = (await _create(session, settings)).id
    return key_id


async def signer(session: AsyncSession, settings: Settings) -> tuple[int, Ed25519PrivateKey]:
    """The active key, created on first use."""
    row = await session.scalar(select(SigningKey).where(SigningKey.status == "active"))
    if row is None:
        row = await _create(session, settings)
    return row.id, _unseal(settings, row.private_key_encrypted, row.id)
