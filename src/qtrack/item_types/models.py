"""Item types: what kind of thing an item is."""

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qtrack.categories.models import Category
from qtrack.core.orm import Base, TimestampMixin
from qtrack.workflow.models import Workflow

QUANTITY = Numeric(18, 6)


class ItemType(TimestampMixin, Base):
    """What kind of thing an item is: its code prefix, workflow, unit and attribute rules."""

    __tablename__ = "item_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    code_prefix: Mapped[str] = mapped_column(String(8), unique=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflow.id"), index=True)
    unit: Mapped[str] = mapped_column(String(16), default="pcs")
    tracks_quantity: Mapped[bool] = mapped_column(default=False)
    tracks_expiry: Mapped[bool] = mapped_column(default=False)
    can_contain: Mapped[bool] = mapped_column(default=False)
    low_stock_threshold: Mapped[Decimal | None] = mapped_column(QUANTITY)
    # How many days before its expiry date an item of this type counts as "expiring soon".
    expiry_window_days: Mapped[int] = mapped_column(default=30, server_default="30")
    attribute_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The label template its labels print with when none is asked for (None: the server's).
    label_template_key: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("label_template.key")
    )
    # The last number handed out for codes; bumped with UPDATE ... RETURNING, so codes are
    # unique and gap-free even with concurrent registrations.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)

    # Its category ("Consumables > Syringes"), for filters and the stock list; None: none.
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"), index=True)
    # Critical supplies come first on the stock list and in alerts.
    critical: Mapped[bool] = mapped_column(default=False, server_default=false())

    workflow: Mapped[Workflow] = relationship(lazy="raise")
    category: Mapped[Category | None] = relationship(lazy="raise")
