"""The alert table: one row per crossing (stock got low, ran out; an item expired)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base


class Alert(Base):
    """Something a person should look at. Open until cleared (the cause went away);
    acknowledged when someone has seen it."""

    __tablename__ = "alert"
    __table_args__ = (
        # At most one open alert of a kind about a subject: raising it again is a no-op.
        Index(
            "uq_alert_kind_subject_open",
            "kind",
            "subject",
            unique=True,
            postgresql_where=text("cleared_at IS NULL"),
            sqlite_where=text("cleared_at IS NULL"),
        ),
        # The dashboard's count and the list of what still needs a look.
        Index(
            "ix_alert_pending",
            "id",
            postgresql_where=text("acknowledged_at IS NULL AND cleared_at IS NULL"),
            sqlite_where=text("acknowledged_at IS NULL AND cleared_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # stock_low, stock_out, item_expired...
    subject: Mapped[str] = mapped_column(String(200))  # what it is about, e.g. "stock:GAUZE"
    message: Mapped[str] = mapped_column(String(500))
    type_id: Mapped[int | None] = mapped_column(ForeignKey("item_type.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    item_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("item.id")
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    cleared_at: Mapped[datetime | None]
    # When the e-mail digest (alerts/digest.py) carried it; None: not mailed yet.
    digested_at: Mapped[datetime | None]
