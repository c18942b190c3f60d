"""Bodies and answers of the shipments API."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]
Weight = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
STATUSES = ("draft", "issued", "dispatched", "delivered", "cancelled")
Status = Literal["draft", "issued", "dispatched", "delivered", "cancelled"]


class ShipmentFields(BaseModel):
    """What a person types on a bill."""

    consignee: Text | None = None
    destination: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = (
        None
    )
    destination_location: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None
    ) = Field(default=None, description="Code of a location; empty to clear")
    carrier: Text | None = None
    vehicle: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ShipmentCreate(ShipmentFields):
    """A new draft bill."""


class ShipmentUpdate(ShipmentFields):
    """Fields to change (only those sent)."""


class LineAdd(BaseModel):
    """A container to add, by any code form the scanner understands."""

    code: Code
    expected_weight_kg: Weight | None = None


class ScanBody(BaseModel):
    """A scan on the bill's screen: a container to add, or `undo` to remove the last line."""

    data: Code | None = None
    undo: bool = False


class LineRead(BaseModel):
    position: int
    code: str
    type: str
    status: str
    items: int = Field(description="Items inside, at any depth")
    tare_kg: Decimal | None
    net_kg: Decimal | None
    gross_kg: Decimal | None
    expected_weight_kg: Decimal | None
    difference_kg: Decimal | None = Field(description="gross - expected, when both are known")
    added_at: datetime


class TypeTotal(BaseModel):
    type: str
    items: int
    net_kg: Decimal | None


class Totals(BaseModel):
    containers: int
    items: int
    net_kg: Decimal
    gross_kg: Decimal
    by_type: list[TypeTotal]
    expected_kg: Decimal | None
    difference_kg: Decimal | None


class ShipmentSummary(BaseModel):
    id: int
    number: str
    status: str
    consignee: str
    destination: str
    carrier: str
    vehicle: str
    containers: int
    created_at: datetime
    issued_at: datetime | None
    dispatched_at: datetime | None


class HistoryRead(BaseModel):
    type: str
    actor: str | None
    recorded_at: datetime
    data: dict[str, Any]


class ShipmentRead(BaseModel):
    id: int
    number: str
    status: str
    consignee: str
    destination: str
    destination_location: str | None
    carrier: str
    vehicle: str
    notes: str
    created_by: str | None
    created_at: datetime
    issued_at: datetime | None
    dispatched_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    version: int
    lines: list[LineRead]
    totals: Totals


class ScanOutcome(BaseModel):
    outcome: Literal["added", "removed", "refused"]
    code: str | None = Field(description="The container's code, when the scan named one")
    error: str | None = Field(default=None, description="Stable code of the refusal")
    message: str
    details: Any = None
    shipment: ShipmentRead
