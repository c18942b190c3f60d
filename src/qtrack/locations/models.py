"""Location table: a tree kept with a materialized path for fast subtree queries."""

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base, TimestampMixin


class Location(TimestampMixin, Base):
    """A place things can be: a site, building, zone, rack or shelf."""

    __tablename__ = "location"
    __table_args__ = (Index("ix_location_path", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # site, building, zone, rack, shelf, area
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"), index=True)
    # "/1/5/9/": the ids from the root down to this location, so a subtree is a prefix match.
    path: Mapped[str] = mapped_column(String(1000))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    radius_m: Mapped[float | None]
    archived: Mapped[bool] = mapped_column(default=False)
