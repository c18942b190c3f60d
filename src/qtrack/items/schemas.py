"""Item request and response bodies."""

import calendar
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from qtrack.core.jsonvalues import JsonObject
from qtrack.events.schemas import EventRead

Code = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=64)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
MAX_BATCH = 1000


def gtin_check_digit_ok(gtin: str) -> bool:
    """GS1 mod-10 check over a GTIN-8/12/13/14."""
    digits = [int(c) for c in gtin]
    body, check = digits[:-1], digits[-1]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def checked_gtin(gtin: str | None) -> str | None:
    """A GTIN with a right check digit, as GTIN-14 (as scans give it and it is stored)."""
    if gtin is not None and not gtin_check_digit_ok(gtin):
        raise ValueError(f"GTIN {gtin} has a wrong check digit")
    return None if gtin is None else gtin.zfill(14)


def expiry_from_yymmdd(raw: str) -> date:
    """A GS1 YYMMDD date; day 00 means the last day of the month (GS1 General Specifications)."""
    year, month, day = 2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:])
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    return date(year, month, day)


class ChangeContext(BaseModel):
    """What a device may say about any change it sends. Unknown fields are refused (422):
    a misspelt field must not make a change that silently lacks it."""

    model_config = ConfigDict(extra="forbid")

    client_event_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Unique per change; a retry with the same id changes nothing"
    )
    occurred_at: AwareDatetime | None = Field(default=None, description="The device's clock")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ItemFields(BaseModel):
    """Fields a person sets on an item."""

    model_config = ConfigDict(extra="forbid")

    name: Text = ""
    quantity: Amount | None = None
    batch: Short | None = None
    serial: Short | None = None
    gtin: Annotated[str, StringConstraints(pattern=r"^([0-9]{8}|[0-9]{12,14})$")] | None = None
    expiry_on: date | None = None
    expiry_raw: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = Field(
        default=None, description="YYMMDD exactly as a GS1 AI (17) gave it"
    )
    weight_kg: Amount | None = None
    attributes: JsonObject = Field(
        default_factory=dict,
        description="Any JSON object; its integers fit in 64 bits and its numbers are finite",
    )

    # A field validator, so that a 422 (and a form) names the field.
    _gtin = field_validator("gtin")(checked_gtin)

    @model_validator(mode="after")
    def _gs1(self) -> Self:
        if self.expiry_raw is not None:
            try:
                derived = expiry_from_yymmdd(self.expiry_raw)
            except ValueError as exc:
                raise ValueError(f"expiry_raw {self.expiry_raw} is not a date") from exc
            if self.expiry_on is None:
                self.expiry_on = derived
            elif self.expiry_on != derived:
                raise ValueError("expiry_on and expiry_raw disagree")
        return self


class ItemCreate(ItemFields, ChangeContext):
    """Register one item (or `count` identical ones)."""

    type: Short
    location: Code | None = None
    count: int = Field(default=1, ge=1, le=MAX_BATCH)


class ItemBatchCreate(BaseModel):
    """Register up to 1,000 items of any types in one request."""

    items: list[ItemCreate] = Field(min_length=1, max_length=MAX_BATCH)


class ItemUpdate(BaseModel):
    """Edit fields; only those sent change (send If-Match with the item's version)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    batch: Short | None = None
    serial: Short | None = None
    gtin: Annotated[str, StringConstraints(pattern=r"^([0-9]{8}|[0-9]{12,14})$")] | None = None
    expiry_on: date | None = None
    weight_kg: Amount | None = None
    attributes: JsonObject | None = None
    reason: Reason | None = None

    _gtin = field_validator("gtin")(checked_gtin)

    @field_validator("name", "attributes")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Defaults are not validated, so this refuses only an explicit null.
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class TransitionRequest(ChangeContext):
    """Move an item to another state: name the transition, or the state to go to."""

    transition: Short | None = None
    to: Short | None = None
    reason: Reason | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None, description="Re-entered to sign, where the transition needs an e-signature"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.transition is None) == (self.to is None):
            raise ValueError("give exactly one of 'transition' or 'to'")
        return self


class MoveRequest(ChangeContext):
    location: Code
    reason: Reason | None = None


class QuantityRequest(ChangeContext):
    kind: Literal["dispense", "consume", "receive", "adjust"]
    amount: Amount = Field(
        description="How much, more than 0 (for 'adjust': the counted quantity, 0 or more)"
    )
    reason: Reason | None = None


class ArchiveRequest(ChangeContext):
    reason: Reason


class ItemRead(BaseModel):
    id: int
    code: str
    type: str
    name: str
    status: str
    location: str | None
    container: str | None
    quantity: Decimal | None
    unit: str | None
    batch: str | None
    serial: str | None
    gtin: str | None
    expiry_on: date | None
    expiry_raw: str | None
    weight_kg: Decimal | None
    attributes: dict[str, Any]
    version: int
    archived: bool
    created_at: datetime
    updated_at: datetime


class ActionRead(BaseModel):
    """A transition the caller may take now. Frozen: a scan's answers share them
    (`items.rules.for_caller`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    to: str
    reason_required: bool
    signature_required: bool
    signature_meaning: str | None


class ItemDetail(ItemRead):
    status_label: str
    status_colour: str
    actions: list[ActionRead]


class ChangeResult(BaseModel):
    """The item after a change, and the events the change recorded."""

    item: ItemRead
    events: list[EventRead]
