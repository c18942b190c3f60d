"""What the sync API takes and answers (the pull builds its JSON directly; these document it)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from qtrack.codes.scan_schemas import ScanRequest
from qtrack.items.schemas import Amount, Code, ItemCreate, Reason, Short


class SyncChange(BaseModel):
    """One record that changed: its new state, or a tombstone."""

    kind: str = Field(description="workflow, item_type, location, item, shipment...")
    id: int = Field(description="The record's numeric id (stable; codes are too)")
    key: str = Field(description="Its human key: code, key or number")
    op: Literal["upsert", "delete"] = Field(
        description="upsert: store `record`; delete: archived or gone, forget it"
    )
    record: dict[str, Any] | None = Field(
        description="What GET on the kind's own API shows for it, with id and updated_at"
    )


class SyncPageRead(BaseModel):
    """A page of changes in sync order and the cursor to send back as `since`."""

    changes: list[SyncChange]
    next_cursor: str = Field(description="Send it as `since` next time, even on the last page")
    has_more: bool = Field(description="More changes wait now: ask again at once")
    snapshot: bool = Field(description="This page is part of a first sync")


# Push ---------------------------------------------------------------------------------------

ChangeId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_PUSH = 200


class PushBase(BaseModel):
    """What every pushed change carries. Unknown fields are refused: a misspelt field must
    not make a change that silently lacks it."""

    model_config = ConfigDict(extra="forbid")

    id: ChangeId = Field(description="A UUID the device made for this change; unique per user")
    occurred_at: AwareDatetime = Field(
        description="The device's clock when the person acted (ISO 8601 with a zone)"
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ItemChange(PushBase):
    """A change of one item, named by code or by the UUID it was created offline with."""

    item: Code | None = Field(default=None, description="The item's code")
    item_uuid: ChangeId | None = Field(
        default=None, description="Or: the UUID a `create` of this device gave it"
    )
    base_version: int | None = Field(
        default=None, ge=1, description="The item's version the device saw when it acted"
    )

    @model_validator(mode="after")
    def _one_target(self) -> "ItemChange":
        if (self.item is None) == (self.item_uuid is None):
            raise ValueError("name the item by exactly one of item or item_uuid")
        return self


class CreateChange(PushBase):
    type: Literal["create"]
    uuid: ChangeId = Field(description="The UUID the device gave the new item")
    record: ItemCreate = Field(description="As POST /api/v1/items takes it (count 1)")


class MoveChange(ItemChange):
    type: Literal["move"]
    location: Code
    reason: Reason | None = None


class TransitionChange(ItemChange):
    type: Literal["transition"]
    transition: Short | None = None
    to: Short | None = None
    reason: Reason | None = None


class QuantityChange(ItemChange):
    type: Literal["quantity"]
    kind: Literal["dispense", "consume", "receive", "adjust"]
    amount: Amount
    reason: Reason | None = None


class PackChange(ItemChange):
    type: Literal["pack"]
    container: Code | None = None
    container_uuid: ChangeId | None = None


class UnpackChange(ItemChange):
    type: Literal["unpack"]
    reason: Reason | None = None


class ScanChange(PushBase):
    """A scan with an action, as POST /api/v1/scan takes it (the web app's offline queue)."""

    type: Literal["scan"]
    scan: ScanRequest


PushChange = Annotated[
    CreateChange
    | MoveChange
    | TransitionChange
    | QuantityChange
    | PackChange
    | UnpackChange
    | ScanChange,
    Field(discriminator="type"),
]
PUSH_CHANGE: TypeAdapter[PushChange] = TypeAdapter(PushChange)


class PushRequest(BaseModel):
    """A batch of changes a device made, oldest first."""

    model_config = ConfigDict(extra="forbid")

    device_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    changes: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_PUSH,
        description="Each a change object (docs/sync.md): checked one by one, so a bad one "
        "is rejected alone",
    )


class PushResult(BaseModel):
    """What became of one change."""

    id: str | None
    outcome: Literal["applied", "rejected", "conflict"]
    reason: Literal["not_allowed", "invalid", "stale"] | None = None
    code: str | None = Field(default=None, description="The error's stable code")
    message: str | None = None
    details: Any = None
    item: dict[str, Any] | None = Field(
        default=None, description="applied: the item now; conflict: the server's current item"
    )
    version: int | None = Field(default=None, description="applied: the item's new version")
    events: list[dict[str, Any]] | None = Field(
        default=None,
        description="applied: the history events it recorded (none: it changed nothing)",
    )
    uuid: str | None = Field(default=None, description="create: the new item's UUID")


class PushAnswer(BaseModel):
    """One result per change, in the order sent, and the codes of the items created."""

    results: list[PushResult]
    created: dict[str, str] = Field(description="UUID -> code of each item created")


class RefusedRead(BaseModel):
    """A pushed change that was not applied, with why."""

    id: int
    change_id: str
    user: str
    device_id: str | None
    type: str
    item: str | None = Field(description="The item's code, when known")
    occurred_at: datetime | None = Field(description="The device's clock")
    received_at: datetime
    outcome: Literal["rejected", "conflict"]
    reason: str | None
    code: str | None
    message: str | None
    change: dict[str, Any] = Field(description="The change as the device sent it")
    current: dict[str, Any] | None = Field(description="conflict: the server's item then")
