"""Bulk changes from the items list: one transition or one move applied to many items.

Each item is changed on its own, inside a SAVEPOINT of the request's transaction: an item
that is refused (wrong state because someone changed it meanwhile, a missing permission, an
unknown code) rolls back alone and the others still happen. The caller commits once.

Transitions that need an e-signature are refused in bulk: a signature is a person's
deliberate statement about one record (21 CFR Part 11 style), made on the item's page.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.errors import QtrackError, ValidationFailed
from qtrack.core.ratelimit import RateLimiter
from qtrack.events.service import EventContext
from qtrack.item_types import service as item_types
from qtrack.items import changes, moves
from qtrack.items.errors import ItemNotFound, SignatureRequired, TransitionNotAllowed
from qtrack.items.schemas import ChangeResult
from qtrack.locations import service as locations_service
from qtrack.workflow import service as workflow_service
from qtrack.workflow.schemas import Transition

# One request changes at most this many items: a page of the list is 50, and a request that
# holds row locks on thousands of items would stall everyone else on the floor.
MAX_CODES = 200
# Longer than any code qtrack makes; anything longer is not looked up at all.
MAX_CODE_LENGTH = 64
Action = Literal["transition", "move"]
ACTIONS: tuple[Action, ...] = ("transition", "move")
SIGNED_IN_BULK = "needs an e-signature for each item: make it on the item's page"
# (item type, state) -> its label and colour, as `item_types.service.state_styles` gives them.
Styles = dict[tuple[str, str], dict[str, str]]


class TooManyItems(ValidationFailed):
    code, message = "too_many_items", f"At most {MAX_CODES} items at a time"


class NothingSelected(ValidationFailed):
    code, message = "nothing_selected", "Select at least one item"


@dataclass(frozen=True)
class BulkChange:
    """What to do to every selected item."""

    action: Action
    transition: str | None = None
    location: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened to one selected code."""

    code: str
    result: Literal["ok", "refused", "not_found"]
    message: str

    @property
    def ok(self) -> bool:
        return self.result == "ok"


@dataclass(frozen=True)
class BulkResult:
    """What was asked for, and what happened to each code."""

    what: str
    outcomes: list[Outcome]

    @property
    def done(self) -> list[str]:
        return [o.code for o in self.outcomes if o.ok]


@dataclass(frozen=True)
class TransitionChoice:
    """A transition offered in bulk, merged over the workflows that define it."""

    name: str
    label: str
    reason_required: bool
    signature_required: bool


def _field_error(field: str, message: str, kind: str) -> list[dict[str, object]]:
    return [{"loc": ["body", field], "msg": message, "type": kind}]


def unique_codes(raw: Iterable[str]) -> list[str]:
    """Codes trimmed and upper-cased, without blanks or repeats, in the order given."""
    seen: dict[str, None] = {}
    for value in raw:
        code = value.strip().upper()
        if code:
            seen.setdefault(code, None)
    return list(seen)


def clean_codes(raw: Iterable[str]) -> list[str]:
    """The selected codes (see unique_codes); 422 when there are none or too many."""
    codes = unique_codes(raw)
    if not codes:
        raise NothingSelected(details=_field_error("code", "select at least one", "missing"))
    if len(codes) > MAX_CODES:
        raise TooManyItems(
            f"{len(codes)} items selected; at most {MAX_CODES} at a time",
            details=_field_error("code", f"at most {MAX_CODES}", "too_many"),
        )
    return codes


async def transition_choices(session: AsyncSession, principal: Principal) -> list[TransitionChoice]:
    """The transitions this person may make, by name across all workflows, by label."""
    merged: dict[str, TransitionChoice] = {}
    for transition in await _transitions(session):
        if not principal.can(transition.permission):
            continue
        known = merged.get(transition.name)
        merged[transition.name] = TransitionChoice(
            name=transition.name,
            label=known.label if known else transition.display,
            reason_required=transition.reason_required or bool(known and known.reason_required),
            # Refused in bulk only where every workflow asks for a signature (as in check()).
            signature_required=transition.signature_required
            and (known is None or known.signature_required),
        )
    return sorted(merged.values(), key=lambda c: c.label)


async def _transitions(session: AsyncSession) -> list[Transition]:
    return [
        t
        for workflow in await workflow_service.list_workflows(session)
        for t in workflow_service.definition_of(workflow).transitions
    ]


async def check(
    session: AsyncSession, change: BulkChange, actor: Principal
) -> tuple[BulkChange, str]:
    """Refuse a request that cannot succeed for any item, before anything is touched; the
    change made exact (the location's code) and what it is called."""
    if change.action == "move":
        if not actor.can(Permission.ITEM_MOVE):
            raise PermissionDenied(details={"missing": [Permission.ITEM_MOVE.value]})
        if not change.location:
            raise ValidationFailed(
                "Enter the location to move them to",
                details=_field_error("location", "required", "missing"),
            )
        try:
            target = await locations_service.get_by_code(session, change.location)
        except QtrackError as exc:
            raise ValidationFailed(
                exc.message, details=_field_error("location", exc.message, "not_found")
            ) from exc
        moving = BulkChange(action="move", location=target.code, reason=change.reason)
        return moving, f"Move to {target.code}"
    if not change.transition:
        raise ValidationFailed(
            "Choose the change of status", details=_field_error("transition", "required", "missing")
        )
    defined = [t for t in await _transitions(session) if t.name == change.transition]
    if not defined:
        raise ValidationFailed(
            f"No workflow has a transition '{change.transition}'",
            details=_field_error("transition", "unknown", "unknown"),
        )
    label = defined[0].display
    if all(t.signature_required for t in defined):
        raise ValidationFailed(
            f"{label} {SIGNED_IN_BULK}",
            details=_field_error("transition", SIGNED_IN_BULK, "signature_required"),
        )
    if all(t.reason_required for t in defined) and not change.reason:
        raise ValidationFailed(
            f"{label} needs a reason", details=_field_error("reason", "required", "missing")
        )
    return change, f"Change of status: {label}"


async def apply(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    codes: Sequence[str],
    change: BulkChange,
    actor: Principal,
    origin: Origin,
) -> BulkResult:
    """Apply one change to each code on its own; say what happened to each, in order."""
    change, what = await check(session, change, actor)
    # The states' labels, for what each change did: one query for all the items.
    styles = await item_types.state_styles(session) if change.action == "transition" else {}
    outcomes = []
    for code in codes:
        if len(code) > MAX_CODE_LENGTH:
            outcomes.append(Outcome(code[:MAX_CODE_LENGTH] + "…", "not_found", "No such item"))
            continue
        try:
            # The savepoint rolls back this item alone. No error raised here is one whose
            # changes must be kept (no password is checked in bulk), so nothing is lost.
            async with session.begin_nested():
                message = await _apply_one(
                    session, settings, limiter, code, change, actor, origin, styles
                )
        except ItemNotFound:
            outcomes.append(Outcome(code, "not_found", "No such item"))
        except SignatureRequired:
            outcomes.append(Outcome(code, "refused", f"This step {SIGNED_IN_BULK}"))
        except TransitionNotAllowed as exc:
            # Most often someone else changed it since the list was shown.
            now = str((exc.details or {}).get("status", "")).replace("_", " ")
            outcomes.append(Outcome(code, "refused", f"Not possible from its status now: {now}"))
        except QtrackError as exc:
            outcomes.append(Outcome(code, "refused", exc.message))
        else:
            outcomes.append(Outcome(code, "ok", message))
    return BulkResult(what, outcomes)


async def _apply_one(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    code: str,
    change: BulkChange,
    actor: Principal,
    origin: Origin,
    styles: Styles,
) -> str:
    if change.action == "move":
        assert change.location is not None  # check() made sure
        result = await moves.move(
            session,
            code=code,
            location=change.location,
            actor=actor,
            reason=change.reason,
            context=EventContext(),
        )
        if not result.events:
            return f"already at {change.location}"
        inside = sum(1 for e in result.events if e.type == "moved") - 1
        return f"moved to {change.location}" + (f", with {inside} inside" if inside else "")
    result = await changes.change_status(
        session,
        settings,
        limiter,
        code=code,
        transition=change.transition,
        to=None,
        actor=actor,
        reason=change.reason,
        password=None,
        origin=origin,
        context=EventContext(),
    )
    return _status_change(result, styles)


def _status_change(result: ChangeResult, styles: Styles) -> str:
    event = result.events[0]

    def label(key: object) -> str:
        style = styles.get((result.item.type, str(key)))
        return style["label"] if style else str(key)

    return f"{label(event.before.get('status'))} → {label(event.after.get('status'))}"
