"""Alert response bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from qtrack.alerts.service import AlertRow


class AlertRead(BaseModel):
    id: int
    kind: str = Field(description="stock_low, stock_out, item_expired, ...")
    subject: str = Field(description='What it is about, e.g. "stock:gauze"')
    message: str
    data: dict[str, Any]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="Username of who acknowledged it")
    cleared_at: datetime | None = Field(description="When its cause went away; null: open")

    @classmethod
    def of(cls, row: AlertRow) -> "AlertRead":
        """From an alert and who acknowledged it."""
        a = row.alert
        return cls(
            id=a.id, kind=a.kind, subject=a.subject, message=a.message, data=a.data,
            raised_at=a.raised_at, acknowledged_at=a.acknowledged_at,
            acknowledged_by=row.acknowledged_by, cleared_at=a.cleared_at,
        )  # fmt: skip


class AlertCount(BaseModel):
    pending: int = Field(description="Open alerts nobody has acknowledged yet")
