"""Endpoint secrets and signatures, as the Standard Webhooks specification says.

A secret is `whsec_` + base64 of 32 random bytes, shown once; it is stored sealed (AES-GCM
under a key derived from QTRACK_SECRET_KEY), so a database dump alone cannot forge
deliveries. A signature is `v1,` + base64 of HMAC-SHA256 over `{webhook-id}.{timestamp}.{body}`
with the raw secret bytes; during a rotation's overlap the header carries two, space
separated, and receivers accept either.
"""

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64
_AAD = b"qtrack webhook secret"


def new_secret() -> tuple[str, bytes]:
    """A fresh secret: the `whsec_…` text to show once, and its raw bytes."""
    raw = secrets.token_bytes(SECRET_BYTES)
    return PREFIX + base64.b64encode(raw).decode(), raw


@lru_cache(maxsize=8)
def _wrapping_key(secret_key: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"qtrack webhook secrets")
    return AESGCM(hkdf.derive(secret_key.encode()))


def seal(secret_key: str, raw: bytes) -> bytes:
    """The raw secret encrypted for storage: nonce ‖ ciphertext."""
    nonce = os.urandom(12)
    return nonce + _wrapping_key(secret_key).encrypt(nonce, raw, _AAD)


def unseal(secret_key: str, sealed: bytes) -> bytes:
    """The raw secret back from storage (InvalidTag if QTRACK_SECRET_KEY changed)."""
    return _wrapping_key(secret_key).decrypt(sealed[:12], sealed[12:], _AAD)


def signature(raw: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a message."""
    content = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(raw, content, hashlib.sha256).digest()).decode()


def headers(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every key (the newest first)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, msg_id, timestamp, body) for k in keys),
    }


def new_msg_id() -> str:
    """A message id: `msg_` and 22 URL-safe characters (never a full stop)."""
    return "msg_" + secrets.token_urlsafe(16)


def unseal_text(secret: str) -> bytes:
    """The raw bytes of a `whsec_…` secret as shown to a receiver."""
    return base64.b64decode(secret.removeprefix(PREFIX))
