"""Shipment tables: the bill, its lines (containers), its history, and its number series."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base, TimestampMixin

WEIGHT = Numeric(18, 6)


class ShipmentCounter(Base):
    """The shipment number series: one row, bumped with UPDATE ... RETURNING, so numbers are
    unique and gap-free even when two bills are created at once."""

    __tablename__ = "shipment_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Shipment(TimestampMixin, Base):
    """A bill: a set of containers going to one consignee."""

    __tablename__ = "shipment"
    __table_args__ = (Index("ix_shipment_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    consignee: Mapped[str] = mapped_column(String(200), default="")
    destination: Mapped[str] = mapped_column(String(500), default="")
    destination_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    carrier: Mapped[str] = mapped_column(String(200), default="")
    vehicle: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(String(2000), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    issued_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)


class ShipmentLine(Base):
    """One container on a bill. `open_item_id` repeats `item_id` while the bill holds the
    container (draft, issued, dispatched) and is emptied when a cancel or a delivery releases
    it: its unique key is what keeps a container on one open bill, even when two scans race."""

    __tablename__ = "shipment_line"
    __table_args__ = (Index("ix_shipment_line_shipment_id_position", "shipment_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id"))
    item_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("item.id"), index=True
    )
    open_item_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), unique=True
    )
    position: Mapped[int]
    expected_weight_kg: Mapped[Decimal | None] = mapped_column(WEIGHT)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShipmentEvent(Base):
    """The bill's own history: created, edited, lines added and removed, refused scans, and
    each change of status. Item changes are in the item's events, naming the bill."""

    __tablename__ = "shipment_event"
    __table_args__ = (
        Index("ix_shipment_event_shipment_id_id", "shipment_id", "id"),
        Index("ix_shipment_event_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id"))
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
