"""Counters maintained in the same transaction as every change, so reading them is O(1).

Each count is spread over `items.counts.SHARDS` rows (the shard is taken from the changed
item's id), and readers add the rows up: a busy state or place would otherwise be one row
that every change of it must lock until its transaction commits, so such writes could only
run one at a time. The item write path (`items.counts`) keeps them in step.
"""

from sqlalchemy import BigInteger, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base


class StatusCount(Base):
    """How many live (not archived) items of a type are in a state: the sum over shards."""

    __tablename__ = "status_count"

    type_id: Mapped[int] = mapped_column(ForeignKey("item_type.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(64), primary_key=True)
    shard: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, default=0, server_default="0"
    )
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class LocationCount(Base):
    """How many live items are directly at a location: the sum over shards."""

    __tablename__ = "location_count"

    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, default=0, server_default="0"
    )
    count: Mapped[int] = mapped_column(BigInteger, default=0)
