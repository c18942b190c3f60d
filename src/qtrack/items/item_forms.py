"""The forms of the item page: which changes it offers this person, what a refused form shows
again, and what the page says after a change.

Each form is offered with the permission its API route asks for; the use case behind it checks
again (the exact quantity permission, the transition's own), so a form shown by mistake is
still refused.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.errors import QtrackError
from qtrack.core.quantities import format_amount, format_quantity
from qtrack.item_types.models import ItemType
from qtrack.items.schemas import ItemRead

# (kind, what the page calls it, the permission it needs), as `changes.change_quantity` checks.
QUANTITY_KINDS: tuple[tuple[str, str, str], ...] = (
    ("dispense", "Dispense", Permission.ITEM_DISPENSE),
    ("consume", "Consume", Permission.ITEM_DISPENSE),
    ("receive", "Receive", Permission.ITEM_QUANTITY),
    ("adjust", "Adjust to a count", Permission.ITEM_QUANTITY),
)
# The fields the edit form shows, in order (attributes are edited through the API).
EDIT_FIELDS = ("name", "batch", "serial", "gtin", "expiry_on", "weight_kg")
FIELD_NAMES = {
    "name": "name",
    "batch": "batch",
    "serial": "serial",
    "gtin": "GTIN",
    "expiry_on": "expiry date",
    "weight_kg": "weight",
}


@dataclass
class Refused:
    """A form the server refused: shown again open, with what was typed and each problem
    next to its field."""

    form: str
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    message: str = "Check the fields marked below."


def offers(principal: Principal, item_type: ItemType, read: ItemRead) -> dict[str, Any]:
    """Which forms the item page shows this person for this item (none for an archived one)."""
    live = not read.archived
    can = principal.can
    return {
        "can_move": live and can(Permission.ITEM_MOVE),
        "can_pack": live and can(Permission.ITEM_PACK),
        "can_unpack": live and can(Permission.ITEM_PACK) and read.container is not None,
        "quantity_kinds": [
            (kind, label)
            for kind, label, permission in QUANTITY_KINDS
            if live and item_type.tracks_quantity and can(permission)
        ],
        "can_edit": live and can(Permission.ITEM_EDIT),
        "can_archive": live and can(Permission.ITEM_ARCHIVE),
        "tracks_expiry": item_type.tracks_expiry,
    }


def edit_values(read: ItemRead) -> dict[str, str]:
    """The edit form filled with the item as it is."""
    values = {
        "name": read.name,
        "batch": read.batch or "",
        "serial": read.serial or "",
        "gtin": read.gtin or "",
        "expiry_on": read.expiry_on.isoformat() if read.expiry_on else "",
        "weight_kg": format_amount(read.weight_kg),
    }
    return {**values, "reason": "", "version": str(read.version)}


def schema_errors(exc: ValidationError) -> dict[str, str]:
    """Field name -> message, from a form checked against the API's request body."""
    errors: dict[str, str] = {}
    for problem in exc.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        short = (
            problem["type"] == "string_too_short" and problem.get("ctx", {}).get("min_length") == 1
        )
        if problem["type"] == "missing" or short:
            message = "Required"
        errors.setdefault(name, message)
    return errors


def service_errors(exc: QtrackError) -> dict[str, str]:
    """Field name -> message, for the problems a use case located (`loc` ends with the field)."""
    errors: dict[str, str] = {}
    for problem in exc.details if isinstance(exc.details, list) else []:
        loc = problem.get("loc") if isinstance(problem, dict) else None
        if loc:
            message = str(problem.get("msg") or exc.message)
            # "required" alone says less than the use case's own message ("needs a reason").
            errors.setdefault(
                str(loc[-1]), exc.message if message.startswith("required") else message
            )
    return errors


def done_message(query: dict[str, str], read: ItemRead, state_label: str) -> str | None:
    """What the page says after a change (`?done=`), from the item as it is now: the query
    names only which change it was, so a link cannot make the page say anything else."""
    done = query.get("done", "")
    amount = _amount(query.get("amount", ""))
    quantity = format_quantity(read.quantity, read.unit) or "none"
    moved_along = " with what it holds" if query.get("with") == "1" else ""
    at = f" at {read.location}" if read.location else ""
    messages = {
        "transition": f"Done: {read.code} is now {state_label}.",
        "move": f"Moved to {read.location}{moved_along}.",
        "pack": f"Packed into {read.container}{at}.",
        "unpack": f"Taken out of its container; it stays{at or ' where it was'}.",
        "dispense": f"Dispensed {format_quantity(amount, read.unit)}: {quantity} left.",
        "consume": f"Consumed {format_quantity(amount, read.unit)}: {quantity} left.",
        "receive": f"Received {format_quantity(amount, read.unit)}: now {quantity}.",
        "adjust": f"Counted: the quantity is now {quantity}.",
        "edit": "Saved: " + ", ".join(_changed(query.get("fields", ""))) + " changed.",
        "archive": "Archived: it has left the lists and counts; its history stays.",
        "same": "Nothing to change: it was already so.",
    }
    if done in {"dispense", "consume", "receive"} and amount is None:
        return None
    if done == "edit" and not _changed(query.get("fields", "")):
        return None
    return messages.get(done)


def _amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None


def _changed(fields: str) -> list[str]:
    return [FIELD_NAMES[f] for f in fields.split(",") if f in FIELD_NAMES]
