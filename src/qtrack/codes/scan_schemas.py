"""Bodies of the scan endpoint."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from qtrack.items.schemas import ActionRead, ChangeContext, ChangeResult, ItemRead

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ScanAction(BaseModel):
    """What to do with the scanned item, in the same request."""

    # A misspelt field (`quantity` for `amount`) is a 422, not an action done without it.
    model_config = ConfigDict(extra="forbid")

    kind: Literal["move", "transition", "pack", "dispense", "receive"]
    location: Code | None = Field(default=None, description="move / receive: where to")
    transition: Code | None = Field(default=None, description="transition: its name")
    container: Code | None = Field(default=None, description="pack: into which item")
    amount: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)] | None = Field(
        default=None,
        description="dispense: how much; receive: the quantity received (else the GS1 count)",
    )
    type: Code | None = Field(default=None, description="receive: the item type to register")
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None


class ScanRequest(ChangeContext):
    data: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(
        description="Exactly what the scanner read (GS separators and symbology id included)"
    )
    symbology: Annotated[str, StringConstraints(max_length=8)] | None = None
    action: ScanAction | None = None
    fefo: bool = Field(
        default=False,
        description="Dispensing or picking: warn when another lot of the same type at the "
        "item's location expires earlier (a dispense action always checks)",
    )


class ScanWarning(BaseModel):
    """Something the operator should know before going on (the scan still answers)."""

    code: Literal["expired", "fefo"]
    message: str
    details: dict[str, Any] | None = None


class ScannedLocation(BaseModel):
    code: str
    name: str
    kind: str


class ScanResult(BaseModel):
    """What was scanned, what it matched, and what the caller may do now."""

    kind: str  # qtrack_token, qtrack_code, legacy_json, gs1, gs1_digital_link, ean_upc, text
    matched: Literal["item", "location", "none"]
    value: str
    symbology: str | None
    label_status: str | None = Field(
        default=None, description="For signed labels: valid, revoked..."
    )
    message: str
    item: ItemRead | None = None
    location: ScannedLocation | None = None
    gs1: dict[str, Any] | None = None
    actions: list[ActionRead] = Field(default_factory=list, description="Transitions allowed now")
    can: list[str] = Field(
        default_factory=list, description="Other actions allowed now: move, pack..."
    )
    offers: list[str] = Field(
        default_factory=list, description="e.g. receive: create from the GS1 data"
    )
    result: ChangeResult | None = Field(default=None, description="What the action did")
    warnings: list[ScanWarning] = Field(
        default_factory=list,
        description="expired: the item has expired; fefo: another lot there expires earlier",
    )
