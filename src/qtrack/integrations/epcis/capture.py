"""Reading a partner's (valid) EPCIS document: which identifiers each event names, and what
qtrack records about an item it knows when an event names it.

Every identifier of an event is a mention: instances (`epcList`, `parentID`, `childEPCs`,
input and output lists) and classes (the quantity lists' `epcClass`). Each mention of an
item qtrack knows becomes one `observed` event on that item, with the event's why and where
(bizStep, disposition, readPoint, bizLocation, business transactions) as the partner gave
them, its eventTime as the device time, and a client event id derived from its eventID (or,
without one, from its content), so that capturing the same document again records nothing new.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from qtrack.events.chain import jsonable
from qtrack.integrations.epcis.query import parse_time
from qtrack.integrations.epcis.validation import pointer
from qtrack.workflow import cbv

# Where identifiers are, and the role an item named there plays in the event.
_INSTANCES = (
    ("epcList", "epc"),
    ("childEPCs", "child"),
    ("inputEPCList", "input"),
    ("outputEPCList", "output"),
)
_CLASSES = (
    ("quantityList", "epc"),
    ("childQuantityList", "child"),
    ("inputQuantityList", "input"),
    ("outputQuantityList", "output"),
)
CLIENT_ID_PREFIX = "epcis:"


@dataclass(frozen=True)
class Mention:
    """One identifier in one event, where it is, and what the event says of it."""

    pointer: str
    identifier: str
    role: str
    quantity: float | None = None
    uom: str | None = None


@dataclass
class PartnerEvent:
    """One event of the document, as qtrack will record it on each item it names."""

    index: int
    epcis_event_id: str | None
    client_event_id: str
    occurred_at: datetime
    observation: dict[str, Any]
    mentions: list[Mention] = field(default_factory=list)


def client_event_id(event: dict[str, Any]) -> str:
    """A stable id for a partner's event: from its eventID, else from its whole content."""
    key = event.get("eventID") or orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
    digest = hashlib.sha256(str(key).encode()).hexdigest()
    return CLIENT_ID_PREFIX + digest[: 64 - len(CLIENT_ID_PREFIX)]


def _place(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else None


def _observation(event: dict[str, Any]) -> dict[str, Any]:
    """What every item the event names is told: the event's own why and where."""
    step, disposition = event.get("bizStep"), event.get("disposition")
    found = {
        "source": "epcis",
        "epcis_event_id": event.get("eventID"),
        "epcis_event_type": event.get("type"),
        "action": event.get("action"),
        "biz_step": cbv.bare_term(step, cbv.BIZ_STEPS) if step else None,
        "disposition": cbv.bare_term(disposition, cbv.DISPOSITIONS) if disposition else None,
        "read_point": _place(event.get("readPoint")),
        "biz_location": _place(event.get("bizLocation")),
        "time_zone_offset": event.get("eventTimeZoneOffset"),
        "biz_transactions": event.get("bizTransactionList") or None,
        "error_declaration": event.get("errorDeclaration"),
    }
    return {k: v for k, v in found.items() if v is not None}


def _mentions(event: dict[str, Any], at: list[Any]) -> list[Mention]:
    found: list[Mention] = []
    if isinstance(event.get("parentID"), str):
        found.append(Mention(pointer([*at, "parentID"]), event["parentID"], "parent"))
    for name, role in _INSTANCES:
        for j, uri in enumerate(event.get(name) or []):
            found.append(Mention(pointer([*at, name, j]), uri, role))
    for name, role in _CLASSES:
        for j, element in enumerate(event.get(name) or []):
            found.append(
                Mention(
                    pointer([*at, name, j, "epcClass"]),
                    element["epcClass"],
                    role,
                    quantity=element.get("quantity"),
                    uom=element.get("uom"),
                )
            )
    return found


def read(document: dict[str, Any]) -> list[PartnerEvent]:
    """The events of a document that passed the schema, each with its mentions."""
    events: list[PartnerEvent] = []
    for index, event in enumerate(document["epcisBody"]["eventList"]):
        at: list[Any] = ["epcisBody", "eventList", index]
        events.append(
            PartnerEvent(
                index=index,
                epcis_event_id=event.get("eventID"),
                client_event_id=client_event_id(event),
                occurred_at=parse_time(event["eventTime"]),
                observation=_observation(event),
                mentions=_mentions(event, at),
            )
        )
    return events


def told(event: PartnerEvent, mention: Mention, parent: str | None) -> dict[str, Any]:
    """What one item is told: the event's why and where, and its own part in it."""
    observation = dict(event.observation)
    observation["identifier"] = mention.identifier
    observation["role"] = mention.role
    if mention.role == "child" and parent:
        observation["parent"] = parent
    if mention.quantity is not None:
        # Kept as qtrack keeps quantities: a decimal string, exact on both databases.
        observation["quantity"] = jsonable(Decimal(str(mention.quantity)))
    if mention.uom:
        observation["uom"] = mention.uom
    return observation
