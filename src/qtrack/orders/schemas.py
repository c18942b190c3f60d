"""Bodies and answers of the orders API."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Ordered = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]
STATUSES = (
    "draft", "submitted", "approved", "partly_received", "received", "closed", "cancelled"
)  # fmt: skip
Status = Literal[
    "draft", "submitted", "approved", "partly_received", "received", "closed", "cancelled"
]  # fmt: skip


class LineCreate(BaseModel):
    """A line: so much of an item type (in the type's unit; items, where it counts none)."""

    model_config = ConfigDict(extra="forbid")

    type: Key = Field(description="The item type's key")
    quantity: Ordered
    supplier_ref: Ref = Field(default="", description="The supplier's article number, or a GTIN")


class LineUpdate(BaseModel):
    """Fields of a draft's line to change (only those sent)."""

    model_config = ConfigDict(extra="forbid")

    type: Key | None = None
    quantity: Ordered | None = None
    supplier_ref: Ref | None = None


class OrderCreate(BaseModel):
    """A new draft order, with its first lines if any."""

    model_config = ConfigDict(extra="forbid")

    supplier: Text = ""
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""
    lines: list[LineCreate] = Field(default_factory=list, max_length=500)


class SuggestBody(BaseModel):
    """A suggested order: a draft for everything below its reorder level (of a category)."""

    model_config = ConfigDict(extra="forbid")

    supplier: Text = ""
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""
    category: Key | None = Field(
        default=None, description="Only item types in this category and those under it"
    )


class CloseBody(BaseModel):
    """Why the rest of a partly received order will not come."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class CancelBody(BaseModel):
    """Why the order is cancelled."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class ReceiveBody(BaseModel):
    """What arrived: a scanned label (`data`, GS1 fills GTIN, batch, expiry and quantity)
    and/or typed fields; typed fields win over the scan. The line is found by `line`, else
    by `type`, else by the GTIN (a line's supplier reference, or the GTIN of earlier lots)."""

    model_config = ConfigDict(extra="forbid")

    data: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    symbology: Annotated[str, StringConstraints(max_length=8)] | None = None
    line: int | None = Field(default=None, ge=1, description="The line's position")
    type: Key | None = None
    quantity: Ordered | None = Field(
        default=None, description="How much arrived (items, where the type counts none)"
    )
    gtin: Annotated[str, StringConstraints(pattern=r"^([0-9]{8}|[0-9]{12,14})$")] | None = None
    batch: Key | None = None
    serial: Key | None = None
    expiry_on: date | None = None
    expiry_raw: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    name: Text | None = None
    location: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    reason: Reason | None = Field(
        default=None, description="Needed when the receipt takes the line past what was ordered"
    )
    client_event_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Unique per receipt; a retry with the same id changes nothing"
    )
    occurred_at: AwareDatetime | None = None


class LineRead(BaseModel):
    position: int
    type: str
    type_name: str
    unit: str
    counts_quantity: bool = Field(description="False: the quantity is a number of items")
    quantity: Decimal
    supplier_ref: str
    received_quantity: Decimal
    remaining: Decimal = Field(description="Still to come (never below zero)")


class ReceiptRead(BaseModel):
    line: int
    quantity: Decimal
    gtin: str | None
    batch: str | None
    expiry_on: date | None
    items: list[str]
    reason: str | None
    received_by: str | None
    received_at: datetime


class OrderSummary(BaseModel):
    id: int
    code: str
    status: str
    supplier: str
    lines: int
    created_at: datetime
    submitted_at: datetime | None


class OrderRead(BaseModel):
    id: int
    code: str
    status: str
    supplier: str
    notes: str
    created_by: str | None
    created_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None
    version: int
    lines: list[LineRead]
    receipts: list[ReceiptRead]


class HistoryRead(BaseModel):
    type: str
    actor: str | None
    recorded_at: datetime
    data: dict[str, Any]


class ReceiveOutcome(BaseModel):
    line: int
    quantity: Decimal
    items: list[str] = Field(description="Codes of the lots registered for this receipt")
    over_received: bool
    repeated: bool = Field(description="True: a retry of a receipt already recorded")
    order: OrderRead
