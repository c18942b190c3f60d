"""On-hand stock per item type and location, with the levels it is compared to.

A row (type, location) holds what is on hand *directly* at that location; the row
(type, 0) holds the type's total everywhere (items with no location count only there).
`location_id` is therefore a plain integer, not a foreign key: 0 is no location. The items'
write path (`items.on_hand`) adds deltas to these rows in the same transaction as each
change, so reading them never counts items.

Levels sit on the same rows: on (type, 0) the type's overall minimum and reorder levels, on
(type, location) those of that location and everything under it. `state` is the level's
state as last evaluated ("ok", "low", "out"; None without levels); an alert is raised when
it gets worse (see `stock.service`).
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base
from qtrack.item_types.models import QUANTITY

EVERYWHERE = 0  # the location_id of a type's total row


class StockOnHand(Base):
    """What is on hand of a type at a location (0: everywhere), and its levels there."""

    __tablename__ = "stock_on_hand"
    __table_args__ = (
        # The low-stock list reads only rows in a state, whatever the number of items.
        Index("ix_stock_on_hand_state", "state", postgresql_where=text("state IS NOT NULL")),
    )

    type_id: Mapped[int] = mapped_column(ForeignKey("item_type.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    on_hand: Mapped[Decimal] = mapped_column(QUANTITY, default=0, server_default="0")
    minimum_level: Mapped[Decimal | None] = mapped_column(QUANTITY)
    reorder_level: Mapped[Decimal | None] = mapped_column(QUANTITY)
    state: Mapped[str | None] = mapped_column(String(8))
    # On a type's total row: how many of its location rows have levels (0: skip looking).
    local_levels: Mapped[int] = mapped_column(default=0, server_default="0")
    levels_updated_at: Mapped[datetime | None] = mapped_column(default=None)
