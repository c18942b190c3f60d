"""The event table: append-only (database triggers refuse UPDATE and DELETE), hash-chained."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base


class Event(Base):
    """One change of one item. Corrections are new events; nothing here is ever edited."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("item_id", "seq"),
        Index("ix_event_item_id_id", "item_id", "id"),
        Index("ix_event_txid_id", "txid", "id"),
        # The daily summary counts one day's events by a range on this (reports/).
        Index("ix_event_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    seq: Mapped[int]  # 1, 2, 3... per item: a gap or a repeat is a broken chain
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"))
    client_event_id: Mapped[str | None] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime | None]  # the device's clock, as the device said
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)  # the server's clock
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(String(500))
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    signature_meaning: Mapped[str | None] = mapped_column(String(100))
    signed_at: Mapped[datetime | None]
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The change feed's order (events/feed.py). PostgreSQL: the id of the transaction that
    # wrote the row, filled in by a column default, so recording an event costs no second
    # statement; SQLite: always 0 (writers take turns there, so `id` alone is commit order).
    # Not part of the hash: it says when the row was written, not what happened.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())


class FeedConsumer(Base):
    """A named reader of the change feed and how far it has got (events/feed.py)."""

    __tablename__ = "feed_consumer"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The position of the last change handled: (txid, event id), as in a feed cursor.
    txid: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)
    handled: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(default=0)  # in a row; 0 after a success
    last_error: Mapped[str | None] = mapped_column(String(2000))
    retry_at: Mapped[datetime | None]  # after a failure: not before then
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventArchive(Base):
    """A month of events taken out of `event` by `qtrack db partitions detach` (PostgreSQL):
    what it held, so that the chains that began in it still verify (events/partitions.py)."""

    __tablename__ = "event_archive"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)  # the detached table
    starts_at: Mapped[datetime]  # the partition's range of recorded_at: [starts_at, ends_at)
    ends_at: Mapped[datetime]
    events: Mapped[int] = mapped_column(BigInteger)
    first_id: Mapped[int | None] = mapped_column(BigInteger)
    last_id: Mapped[int | None] = mapped_column(BigInteger)
    detached_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventArchiveHead(Base):
    """One item's stretch of chain inside an archived month: where it starts and ends and the
    hashes at both ends, which is all a verifier needs to link what is left to what went."""

    __tablename__ = "event_archive_head"

    item_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    archive: Mapped[str] = mapped_column(ForeignKey("event_archive.name"), primary_key=True)
    first_seq: Mapped[int]
    first_prev_hash: Mapped[str | None] = mapped_column(String(64))
    last_seq: Mapped[int]
    last_hash: Mapped[str] = mapped_column(String(64))
