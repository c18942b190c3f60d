"""Counters maintained in the same transaction as every change, so reading them is O(1)."""

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base


class StatusCount(Base):
    """How many live (not archived) items of a type are in a state."""

    __tablename__ = "status_count"

    type_id: Mapped[int] = mapped_column(ForeignKey("item_type.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class LocationCount(Base):
    """How many live items are directly at a location."""

    __tablename__ = "location_count"

    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
