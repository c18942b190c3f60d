"""Bodies of the audit API."""

from datetime import datetime

from pydantic import BaseModel, Field

from qtrack.audit.models import Checkpoint
from qtrack.audit.statement import Statement


class CheckpointRead(BaseModel):
    """A checkpoint as published: what it says, its hash, its signature, and the exact bytes
    that were signed, so that anyone can check it with the public keys at /api/v1/keys."""

    id: int
    created_at: datetime
    last_event_id: int = Field(description="Every event up to this id, and none after")
    events: int
    items: int
    heads_digest: str = Field(description="SHA-256 over every item's head")
    changed: int = Field(description="Heads that moved since the checkpoint before")
    changed_digest: str
    prev_hash: str | None = Field(description="The hash of the checkpoint before")
    key_id: int
    hash: str = Field(description="SHA-256 of `statement`")
    signature: str = Field(description="Ed25519 over `statement`, base64url without padding")
    statement: str = Field(description="The canonical JSON that was hashed and signed")

    @classmethod
    def of(cls, row: Checkpoint) -> "CheckpointRead":
        """The published form of a stored checkpoint."""
        return cls(
            id=row.id,
            created_at=row.created_at,
            last_event_id=row.last_event_id,
            events=row.events,
            items=row.items,
            heads_digest=row.heads_digest,
            changed=row.changed,
            changed_digest=row.changed_digest,
            prev_hash=row.prev_hash,
            key_id=row.key_id,
            hash=row.hash,
            signature=row.signature,
            statement=Statement.of(row).canonical().decode(),
        )
