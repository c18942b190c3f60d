"""Idempotent writes: a retried request with the same key gets the first answer, and writes
nothing new.

The record is inserted *first*, in the request's transaction. A concurrent duplicate then
waits on the unique key (PostgreSQL) or the write lock (SQLite) until the first commits, fails
to insert, and is answered from the stored response instead.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base


class IdempotencyRecord(Base):
    """The first answer to a keyed write."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body, hashed
    status_code: Mapped[int | None]
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
