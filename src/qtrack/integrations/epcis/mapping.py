"""One qtrack event as one EPCIS 2.0 event (JSON-LD binding), with CBV 2.0 vocabulary.

| qtrack event      | EPCIS                          | bizStep                               |
| ----------------- | ------------------------------ | ------------------------------------- |
| created           | ObjectEvent ADD (+ ILMD)       | commissioning                         |
| status_changed    | ObjectEvent OBSERVE            | the transition's (its workflow)       |
| moved             | ObjectEvent OBSERVE            | storing                               |
| quantity_changed  | ObjectEvent OBSERVE + quantity | dispensing, receiving, cycle_counting |
| packed / unpacked | AggregationEvent ADD / DELETE  | packing / unpacking; container parent |
| archived          | ObjectEvent DELETE             | decommissioning; disposition inactive |
| observed          | ObjectEvent OBSERVE            | what the observer said                |
| anything else     | ObjectEvent OBSERVE            | (none)                                |

The disposition is the one the item's state has in its workflow (`workflow.cbv`) at the time
of the event. Where and when: `readPoint` and `bizLocation` are the item's location after the
event; `eventTime` is the device's time when it gave one, else the server's; `recordTime`
is the server's. Each event's `eventID` is a UUID URN made of its chain hash (RFC 9562's
version 8, for UUIDs of one's own making): the same event always has the same id, on every
export, whatever the server's address.

`repository.disposition_filter` and `biz_step_filter` invert the tables here for queries;
a test checks every mapped event is found by its own bizStep and disposition.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from qtrack.integrations.epcis import identifiers
from qtrack.workflow import cbv
from qtrack.workflow.schemas import WorkflowDefinition

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# Our extension fields (`qtrack:type`, `qtrack:item`) live in this namespace: a URN, so it
# does not change with the server's address.
QTRACK_NAMESPACE = "urn:qtrack:epcis:"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"qtrack": QTRACK_NAMESPACE}]
_VARIANT = "89ab"  # the RFC 4122/9562 variant bits over the hash's own two low bits

KIND_BIZ_STEP: dict[str, str] = {
    "created": "commissioning",
    "moved": "storing",
    "packed": "packing",
    "unpacked": "unpacking",
    "archived": "decommissioning",
    "labelled": "encoding",
}
QUANTITY_BIZ_STEP: dict[str, str] = {
    "dispense": "dispensing",
    "consume": "dispensing",
    "receive": "receiving",
    "adjust": "cycle_counting",
}
AGGREGATIONS = ("packed", "unpacked")
# A container's own record of what went in or out: the packed item's AggregationEvent already
# says it (with the container as parentID), so EPCIS gets it once.
NOT_EPCIS = ("content_added", "content_removed")
ADDS = ("created", "packed")
DELETES = ("unpacked", "archived")
ARCHIVED_DISPOSITION = "inactive"
# Events whose own `after` carries the item's new state (the others need it looked up).
STATE_SETTERS = ("created", "status_changed")

# UN/CEFACT Recommendation 20 codes for the units qtrack items are counted in; a count of
# pieces has no unit in EPCIS (a quantity without `uom` is a number of instances).
_UOM: dict[str, str | None] = {
    "kg": "KGM", "g": "GRM", "mg": "MGM", "t": "TNE", "l": "LTR", "ml": "MLT", "cl": "CLT",
    "m": "MTR", "cm": "CMT", "mm": "MMT", "m2": "MTK", "m3": "MTQ", "lb": "LBR", "oz": "ONZ",
    "pcs": None, "pc": None, "ea": None, "each": None, "unit": None, "units": None,
}  # fmt: skip


def uom_of(unit: str | None) -> str | None:
    """The Rec 20 code of a qtrack unit (None: a count, or a unit EPCIS has no code for)."""
    if not unit:
        return None
    if unit in _UOM:
        return _UOM[unit]
    lowered = unit.strip().lower()
    if lowered in _UOM:
        return _UOM[lowered]
    upper = unit.strip()
    return upper if 2 <= len(upper) <= 3 and upper.isalnum() and upper.isupper() else None


@dataclass(frozen=True)
class Vocabulary:
    """Each item type's CBV words: its states' dispositions and its transitions' steps."""

    base_url: str
    dispositions: Mapping[tuple[int, str], str]
    biz_steps: Mapping[tuple[int, str], str]

    def disposition(self, type_id: int, state: str | None) -> str | None:
        """The disposition of an item of this type in this state (None: none is known)."""
        return self.dispositions.get((type_id, state)) if state else None

    def biz_step(self, type_id: int, transition: str | None) -> str:
        """The business step a transition of this type's workflow is."""
        if not transition:
            return cbv.OTHER_BIZ_STEP
        found = self.biz_steps.get((type_id, transition))
        return found or cbv.biz_step_of(transition, None)


def vocabulary(base_url: str, types: Mapping[int, WorkflowDefinition]) -> Vocabulary:
    """The vocabulary of every item type, from their workflows (item type id -> definition)."""
    dispositions: dict[tuple[int, str], str] = {}
    steps: dict[tuple[int, str], str] = {}
    for type_id, definition in types.items():
        for state in definition.states:
            found = cbv.disposition_of(state.key, state.epcis_disposition)
            if found:
                dispositions[(type_id, state.key)] = found
        for t in definition.transitions:
            if (type_id, t.name) not in steps or t.epcis_biz_step:
                steps[(type_id, t.name)] = cbv.biz_step_of(t.name, t.epcis_biz_step)
    return Vocabulary(base_url.rstrip("/"), dispositions, steps)


def event_id(chain_hash: str) -> str:
    """The EPCIS eventID of the event with this chain hash (SHA-256, hex): its first 128 bits
    as a version 8 UUID."""
    h = chain_hash
    variant = _VARIANT[int(h[16], 16) & 3]
    return f"urn:uuid:{h[:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _number(value: Any) -> int | float | None:
    """A quantity as a JSON number (qtrack keeps them as decimal strings)."""
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


@dataclass(frozen=True)
class Parent:
    """What the export needs to know of a container to name it as a parent."""

    code: str
    gtin: str | None
    serial: str | None
    batch: str | None


def container_of(kind: str, after: Mapping[str, Any], before_container: str | None) -> str | None:
    """The code of the container a pack or unpack is about."""
    if kind == "packed":
        found = after.get("container")
        return found if isinstance(found, str) else None
    return before_container if kind == "unpacked" else None


def to_epcis(
    row: Any, after: dict[str, Any], vocab: Vocabulary, parents: Mapping[str, Parent]
) -> dict[str, Any]:
    """The EPCIS event for one event row (`repository.EVENT_COLUMNS`) and its decoded `after`."""
    base = vocab.base_url
    kind: str = row.type
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": event_id(row.hash),
        "eventTime": (row.occurred_at or row.recorded_at).isoformat(),
        "recordTime": row.recorded_at.isoformat(),
        "eventTimeZoneOffset": "+00:00",
    }
    ident, is_class = identifiers.identify(base, row.code, row.gtin, row.serial, row.batch)
    quantity = None
    if kind == "quantity_changed" or (kind == "created" and "quantity" in after):
        quantity = _number(after.get("quantity"))
    container = container_of(kind, after, row.before_container)
    if container:
        known = parents.get(container)
        event["type"] = "AggregationEvent"
        event["parentID"] = (
            identifiers.instance_uri(base, known.code, known.gtin, known.serial, known.batch)
            if known
            else identifiers.item_uri(base, container)
        )
        if is_class:
            event["childQuantityList"] = [{"epcClass": ident}]
        else:
            event["childEPCs"] = [ident]
    else:
        if is_class:
            event["quantityList"] = [_quantity(ident, quantity, row.unit)]
        else:
            event["epcList"] = [ident]
            if quantity is not None:
                klass = identifiers.quantity_class(base, row.code, row.gtin, row.serial, row.batch)
                event["quantityList"] = [_quantity(klass, quantity, row.unit)]
    event["action"] = "ADD" if kind in ADDS else "DELETE" if kind in DELETES else "OBSERVE"
    if kind == "observed":
        _observed(event, after)
    else:
        _why_and_where(event, row, vocab, kind, after)
    if kind == "created":
        # Instance/lot master data, which only an ADD may carry: the lot and its expiry.
        ilmd = {
            "cbvmda:lotNumber": after.get("batch"),
            "cbvmda:itemExpirationDate": after.get("expiry_on"),
        }
        ilmd = {k: v for k, v in ilmd.items() if v}
        if ilmd:
            event["ilmd"] = ilmd
    event["qtrack:type"] = kind
    event["qtrack:item"] = row.code
    return event


def _quantity(epc_class: str, quantity: int | float | None, unit: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {"epcClass": epc_class}
    if quantity is not None:
        element["quantity"] = quantity
        uom = uom_of(unit)
        if uom:
            element["uom"] = uom
    return element


def _why_and_where(
    event: dict[str, Any], row: Any, vocab: Vocabulary, kind: str, after: dict[str, Any]
) -> None:
    if kind == "status_changed":
        step: str | None = vocab.biz_step(row.type_id, after.get("transition"))
    elif kind == "quantity_changed":
        step = QUANTITY_BIZ_STEP.get(after.get("kind") or "", cbv.OTHER_BIZ_STEP)
    else:
        step = KIND_BIZ_STEP.get(kind)
    if step:
        event["bizStep"] = step
    if kind == "archived":
        disposition: str | None = ARCHIVED_DISPOSITION
    elif kind in AGGREGATIONS:
        disposition = None  # the child's state says nothing of the parent's
    else:
        disposition = vocab.disposition(row.type_id, row.status_at)
    if disposition:
        event["disposition"] = disposition
    if row.location_code:
        place = {"id": identifiers.location_uri(vocab.base_url, row.location_code)}
        event["readPoint"] = place
        event["bizLocation"] = place


def _observed(event: dict[str, Any], after: dict[str, Any]) -> None:
    """An observation says itself why and where: a partner's terms and places, as given."""
    if after.get("biz_step"):
        event["bizStep"] = after["biz_step"]
    if after.get("disposition"):
        event["disposition"] = after["disposition"]
    if after.get("read_point"):
        event["readPoint"] = {"id": after["read_point"]}
    if after.get("biz_location"):
        event["bizLocation"] = {"id": after["biz_location"]}
    if after.get("time_zone_offset"):
        event["eventTimeZoneOffset"] = after["time_zone_offset"]


def query_document(events: list[dict[str, Any]], created: str) -> dict[str, Any]:
    """An EPCISQueryDocument holding these events (the answer to a simple event query)."""
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": events},
            }
        },
    }


def document_head(created: str) -> dict[str, Any]:
    """An EPCISDocument without its events: the export writes them in between."""
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": []},
    }
