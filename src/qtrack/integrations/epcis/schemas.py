"""What a capture answers: what was recorded on which item, and what was not, and why."""

from typing import Literal

from pydantic import BaseModel

UnknownReason = Literal["not_understood", "no_item", "ambiguous", "archived"]


class CapturedMention(BaseModel):
    """An identifier of the document that named an item qtrack knows."""

    event_index: int  # the event's place in the document's eventList
    epcis_event_id: str | None
    pointer: str  # JSON pointer to the identifier in the document
    identifier: str
    item: str  # the item's code
    seq: int | None = None  # the observation's place in the item's history (new ones)


class UnknownMention(BaseModel):
    """An identifier of the document that qtrack could not put on one item's history.

    not_understood: not a form qtrack reads (a GS1 Digital Link, an SGTIN or LGTIN URN, or
    one of qtrack's own URIs); no_item: no item has it; ambiguous: several items have it
    (a GTIN without lot or serial, a lot of several items); archived: the item is archived.
    """

    event_index: int
    epcis_event_id: str | None
    pointer: str
    identifier: str
    reason: UnknownReason


class CaptureReport(BaseModel):
    """The outcome of one capture: nothing is left out unsaid."""

    events: int  # events in the document
    recorded: list[CapturedMention]
    already_recorded: list[CapturedMention]  # by an earlier capture of the same events
    unknown: list[UnknownMention]
