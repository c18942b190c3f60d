"""An event as clients read it: what every change answers with, and what histories list."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class SignatureRead(BaseModel):
    by: str | None
    meaning: str
    at: datetime


class EventRead(BaseModel):
    id: int
    item: str
    seq: int
    type: str
    actor: str | None
    recorded_at: datetime
    occurred_at: datetime | None
    location: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None
    signature: SignatureRead | None
    client_event_id: str | None
    hash: str
    prev_hash: str | None
