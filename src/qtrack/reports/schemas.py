"""The daily summary as the API answers it."""

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class Count(BaseModel):
    key: str
    count: int


class ShipmentDay(BaseModel):
    number: str
    step: str
    consignee: str
    containers: int
    items: int
    gross_kg: Decimal
    difference_kg: Decimal | None = Field(description="gross - expected, over the bill")
    containers_off: int = Field(
        description="Containers whose weighed gross is not what was expected: one heavy and "
        "one light bag are two, though their differences add up to nothing"
    )


class DailySummary(BaseModel):
    date: date
    timezone: str
    site: str | None
    start: datetime
    end: datetime
    events: int
    registered: int
    scans: int
    moves: int
    status_changes: list[Count]
    shipments_issued: int
    shipments_dispatched: int
    dispatched_containers: int
    dispatched_items: int
    dispatched_gross_kg: Decimal
    shipments: list[ShipmentDay]
    rejected: int
    expired: int
    refused_scans: int
    weight_differences: list[ShipmentDay] = Field(
        description="The bills dispatched with a container whose weight is not as expected"
    )
    top_people: list[Count]
