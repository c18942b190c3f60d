"""Items: the tracked things."""

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qtrack.core.orm import Base, TimestampMixin
from qtrack.item_types.models import QUANTITY, ItemType


class Item(TimestampMixin, Base):
    """One tracked thing."""

    __tablename__ = "item"
    __table_args__ = (
        Index("ix_item_type_id_status", "type_id", "status"),
        Index("ix_item_batch", "batch"),
        Index("ix_item_gtin", "gtin"),
        Index("ix_item_expiry_on", "expiry_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("item_type.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("item.id"), index=True)
    quantity: Mapped[Decimal | None] = mapped_column(QUANTITY)
    unit: Mapped[str | None] = mapped_column(String(16))
    batch: Mapped[str | None] = mapped_column(String(64))
    serial: Mapped[str | None] = mapped_column(String(64))
    gtin: Mapped[str | None] = mapped_column(String(14))
    expiry_on: Mapped[date | None]
    expiry_raw: Mapped[str | None] = mapped_column(String(6))  # YYMMDD as a GS1 AI(17) gave it
    weight_kg: Mapped[Decimal | None] = mapped_column(QUANTITY)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(default=1)
    archived: Mapped[bool] = mapped_column(default=False)
    # Head of this item's event chain: how many events it has and the hash of the last one.
    event_count: Mapped[int] = mapped_column(default=0)
    last_event_hash: Mapped[str | None] = mapped_column(String(64))

    type: Mapped[ItemType] = relationship(lazy="raise")
