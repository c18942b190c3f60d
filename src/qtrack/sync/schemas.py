"""What the sync API answers (documentation models: the pull builds its JSON directly)."""

from typing import Any, Literal

from pydantic import BaseModel, Field


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
