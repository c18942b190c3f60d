"""Expiry response bodies."""

from datetime import date

from pydantic import BaseModel, Field

from qtrack.items.schemas import ItemRead


class ExpiredRead(BaseModel):
    """An item the sweep moved to its workflow's expired state."""

    code: str
    type: str
    expiry_on: date
    before: str = Field(description="The state it was in")
    after: str = Field(description="Its workflow's expired state")
    event_id: int


class LeftRead(BaseModel):
    """An item past its expiry date that the sweep left as it is, and why."""

    code: str
    type: str
    expiry_on: date
    status: str
    why: str


class SweepRead(BaseModel):
    """What a sweep did: the items it expired, and those it could not."""

    today: date = Field(description="The site's date the sweep counted from")
    expired: list[ExpiredRead]
    left: list[LeftRead]


class SweepQueued(BaseModel):
    """The sweep, queued as the durable background job the daily schedule runs."""

    job_id: int = Field(
        description="The job (see /admin/jobs); a sweep already waiting or running is that one"
    )
    job: str = Field(description="The job's name: expiry.sweep")


class FefoRead(BaseModel):
    """First expired, first out: the live lot to use first, and the next ones in line."""

    today: date
    suggestion: ItemRead | None = Field(description="The live lot that expires first (if any)")
    next: list[ItemRead] = Field(description="The lots after it, in the order to use them")
