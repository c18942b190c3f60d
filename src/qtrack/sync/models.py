"""What devices pushed: every change received, once, with the answer it got."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base


class SyncChange(Base):
    """One change a device made (offline), as received, and what became of it.

    The row is written before the change is applied, so a retried or concurrent duplicate
    (same user, same change id) waits on the unique key and is then answered from the
    stored `answer`: a change is applied once however often it arrives. Rejected and
    conflicting changes stay here with their reason, for the user and supervisors.
    """

    __tablename__ = "sync_change"
    __table_args__ = (
        UniqueConstraint("user_id", "change_id"),
        # The items a device created offline, by the UUID it gave them.
        UniqueConstraint("user_id", "record_uuid"),
        Index("ix_sync_change_outcome_id", "outcome", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    change_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))  # create, move, transition, quantity, ...
    # For a create: the UUID the device gave the new record; later changes may name it.
    record_uuid: Mapped[str | None] = mapped_column(String(64))
    item_code: Mapped[str | None] = mapped_column(String(32), index=True)
    base_version: Mapped[int | None]
    occurred_at: Mapped[datetime | None]  # the device's clock
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # applied, rejected, conflict (None while being applied, inside the push's transaction).
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))  # not_allowed, invalid, stale
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(String(1000))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
