"""Restock order tables: the order, its lines, its receipts, its history, its number series.

The table names say `restock_` because `order` is an SQL keyword.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base, TimestampMixin

QUANTITY = Numeric(18, 6)
ITEM_ID = BigInteger().with_variant(Integer, "sqlite")


class RestockOrderCounter(Base):
    """The order number series: one row, bumped with UPDATE ... RETURNING, so codes are
    unique and gap-free even when two orders are created at once."""

    __tablename__ = "restock_order_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class RestockOrder(TimestampMixin, Base):
    """A restock request: draft -> submitted -> approved -> partly received -> received, or
    cancelled before anything arrived."""

    __tablename__ = "restock_order"
    __table_args__ = (Index("ix_restock_order_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    supplier: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(String(2000), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    submitted_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)


class RestockOrderLine(Base):
    """One line: so much of an item type, with the supplier's reference, and how much of it
    has arrived so far."""

    __tablename__ = "restock_order_line"
    __table_args__ = (UniqueConstraint("order_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("restock_order.id"))
    position: Mapped[int]
    type_id: Mapped[int] = mapped_column(ForeignKey("item_type.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    supplier_ref: Mapped[str] = mapped_column(String(100), default="")
    received_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal(0))


class RestockReceipt(Base):
    """What arrived against a line at one time, and the lots it was registered as.

    `client_event_id` makes a retried receipt (a scanner resending after a lost answer)
    change nothing: its unique key holds even when the twins race. `fingerprint` is what the
    receipt said, hashed, so that the id sent again with something else is refused, not
    answered with the first receipt."""

    __tablename__ = "restock_receipt"
    __table_args__ = (
        UniqueConstraint("order_id", "client_event_id"),
        Index("ix_restock_receipt_order_id_id", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("restock_order.id"))
    line_id: Mapped[int] = mapped_column(ForeignKey("restock_order_line.id"))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    gtin: Mapped[str | None] = mapped_column(String(14))
    batch: Mapped[str | None] = mapped_column(String(64))
    expiry_on: Mapped[date | None]
    item_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(String(500))
    client_event_id: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RestockOrderEvent(Base):
    """The order's own history: created, lines changed, each step, each receipt. The lots a
    receipt registers have their own events (created, received) in the item log."""

    __tablename__ = "restock_order_event"
    __table_args__ = (
        Index("ix_restock_order_event_order_id_id", "order_id", "id"),
        Index("ix_restock_order_event_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("restock_order.id"))
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
