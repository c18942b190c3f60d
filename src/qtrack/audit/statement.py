"""What a checkpoint signs, byte for byte, and how anyone checks it: no database here.

The statement is JSON with sorted keys and no spaces (as the event chain's canonical content),
times as UTC ISO strings with microseconds. Its hash is SHA-256 of those bytes; the next
checkpoint carries that hash as `prev_hash`, so checkpoints chain as events do. The signature
is Ed25519 over the same bytes, base64url without padding.

The two digests are SHA-256 over lines `"<item_id> <seq> <hash>\\n"` in item id order: every
item's head (`heads_digest`) and the heads that moved since the checkpoint before
(`changed_digest`, the rows kept in `audit_checkpoint_head` and in the export).
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from qtrack.audit.heads import Head
from qtrack.events.chain import iso

VERSION = 1
FIELDS = (
    "id",
    "created_at",
    "last_event_id",
    "events",
    "items",
    "heads_digest",
    "changed",
    "changed_digest",
    "prev_hash",
    "key_id",
)


@dataclass(frozen=True)
class Statement:
    """Everything a checkpoint says, as it is signed."""

    id: int
    created_at: datetime
    last_event_id: int
    events: int
    items: int
    heads_digest: str
    changed: int
    changed_digest: str
    prev_hash: str | None
    key_id: int

    @classmethod
    def of(cls, row: Any) -> "Statement":
        """What a stored checkpoint (or anything with the same attributes) says."""
        return cls(**{name: getattr(row, name) for name in FIELDS})

    def payload(self) -> dict[str, Any]:
        """The statement as plain JSON values, with the format version."""
        values: dict[str, Any] = {name: getattr(self, name) for name in FIELDS}
        values["created_at"] = iso(self.created_at)
        values["v"] = VERSION
        return values

    def canonical(self) -> bytes:
        """The exact bytes that are hashed and signed."""
        return orjson.dumps(self.payload(), option=orjson.OPT_SORT_KEYS)

    def hash(self) -> str:
        """SHA-256 of the canonical bytes, in hex: what the next checkpoint links to."""
        return hashlib.sha256(self.canonical()).hexdigest()


class HeadsDigest:
    """SHA-256 over heads fed in item id order, and how many there were."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.count = 0

    def add(self, head: Head) -> None:
        """Feed the next head (item ids must ascend)."""
        self._sha.update(f"{head.item_id} {head.seq} {head.hash}\n".encode())
        self.count += 1

    def hexdigest(self) -> str:
        """The digest of what was fed so far."""
        return self._sha.hexdigest()


def sign(statement: Statement, key: Ed25519PrivateKey) -> str:
    """The Ed25519 signature of the statement, base64url without padding."""
    signature = key.sign(statement.canonical())
    return base64.urlsafe_b64encode(signature).decode().rstrip("=")


def signature_valid(statement: Statement, signature: str, key: Ed25519PublicKey) -> bool:
    """Whether the signature is the key's over this statement."""
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        key.verify(raw, statement.canonical())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A public key as published at /api/v1/keys (raw 32 bytes, base64url, no padding)."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)
