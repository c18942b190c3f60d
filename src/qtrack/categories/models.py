"""The category table: a tree kept with a materialized path, as locations are."""

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base, TimestampMixin


class Category(TimestampMixin, Base):
    """A kind of supply or material ("Syringes" under "Consumables") that item types belong to."""

    __tablename__ = "category"
    __table_args__ = (Index("ix_category_path", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    # "/1/5/": the ids from the root down to this category, so a subtree is a prefix match.
    path: Mapped[str] = mapped_column(String(400))
    archived: Mapped[bool] = mapped_column(default=False)
