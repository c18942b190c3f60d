"""Checkpoints and the chain heads they record: append-only (database triggers refuse UPDATE
and DELETE, as on `event`)."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base


class Checkpoint(Base):
    """A signed statement over every item's chain head at one moment, chained to the one
    before it. What is signed is `audit.statement.canonical(...)` of these columns."""

    __tablename__ = "audit_checkpoint"

    # 1, 2, 3...: the position in the checkpoints' own chain, signed; not a free sequence.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    # Every event with an id up to this one was committed when the checkpoint was made, and
    # the heads below are each item's last such event.
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)  # how many events up to last_event_id
    items: Mapped[int] = mapped_column(BigInteger)  # how many items had a chain by then
    heads_digest: Mapped[str] = mapped_column(String(64))  # over every item's head
    changed: Mapped[int] = mapped_column(BigInteger)  # heads that moved since the last one
    changed_digest: Mapped[str] = mapped_column(String(64))  # over those heads
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[int] = mapped_column(ForeignKey("signing_key.id"))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[str] = mapped_column(String(100))  # Ed25519, base64url, no padding


class CheckpointHead(Base):
    """One item's chain head as a checkpoint recorded it: only heads that moved since the
    checkpoint before (the first records them all), so storage follows activity.

    No foreign keys: these rows are evidence about items and checkpoints, authenticated by
    the signed `changed_digest`, and they are written before their checkpoint row (whose
    digests they feed)."""

    __tablename__ = "audit_checkpoint_head"

    checkpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
