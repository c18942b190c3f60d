"""The rules a change must pass: the workflow's transitions and the item type's fields."""

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import PermissionDenied
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.errors import ValidationFailed
from qtrack.core.ratelimit import RateLimiter
from qtrack.events import service as events_service
from qtrack.events.service import Signature
from qtrack.item_types.attributes import validate_attributes
from qtrack.item_types.models import ItemType
from qtrack.items.errors import (
    ItemExpired,
    ItemNotFound,
    ReasonRequired,
    SamePerson,
    SignatureRequired,
    TransitionNotAllowed,
)
from qtrack.items.models import Item
from qtrack.workflow import cbv
from qtrack.workflow import service as workflow_service
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import State, Transition, WorkflowDefinition

# Parsed workflow definitions by (id, updated_at): the lookup reads only the workflow's id and
# version with the item, and the definition's JSON is loaded and parsed once per version.
_definitions: dict[tuple[int, Any], WorkflowDefinition] = {}


async def definition_for(session: AsyncSession, row: Any) -> WorkflowDefinition:
    """The workflow definition of a lookup or locked row's item type."""
    key = (row.workflow_id, row.workflow_updated_at)
    definition = _definitions.get(key)
    if definition is None:
        workflow = await session.get(Workflow, row.workflow_id)
        if workflow is None:  # deleted between the two statements: read it as it is now
            raise ItemNotFound(f"No item '{row.code}'")
        definition = workflow_service.definition_of(workflow)
        if len(_definitions) > 256:
            _definitions.clear()
        _definitions[key] = definition
    return definition


async def is_closed(session: AsyncSession, row: Any) -> bool:
    """Whether the item's state closes it as a container (its contents stay as they are)."""
    state = (await definition_for(session, row)).state(row.status)
    return bool(state and state.closed)


# What a caller may do with an item in a state, as an answer shows it, by (what it is for,
# workflow id and version, state, archived, the caller's permissions): the same for every
# lookup of such an item by such a caller, so it is worked out once (about 2 µs a lookup).
_for_callers: dict[tuple[Any, ...], Any] = {}
T = TypeVar("T")


def for_caller(purpose: str, row: Any, principal: Principal, make: Callable[[], T]) -> T:
    """`make()`'s value for a lookup row's workflow version, state and archived flag and the
    caller's permissions, made once and kept: `make` must depend on nothing else, and what it
    gives is shared between answers, never changed."""
    key = (
        purpose,
        row.workflow_id,
        row.workflow_updated_at,
        row.status,
        row.archived,
        principal.permissions,
    )
    found = _for_callers.get(key)
    if found is None:
        found = make()
        if len(_for_callers) > 1024:
            _for_callers.clear()
        _for_callers[key] = found
    return cast(T, found)


def transitions_open(
    definition: WorkflowDefinition, status: str, archived: bool, principal: Principal
) -> list[Transition]:
    """The transitions this caller may take from a state (none from an archived item)."""
    if archived:
        return []
    return [t for t in definition.transitions_from(status) if principal.can(t.permission)]


def action_json(t: Transition) -> dict[str, Any]:
    """A transition as `ActionRead` shows it in JSON."""
    return {
        "name": t.name,
        "label": t.display,
        "to": t.to,
        "reason_required": t.reason_required,
        "signature_required": t.signature_required,
        "signature_meaning": t.signature_meaning,
    }


async def check_transition(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    definition: WorkflowDefinition,
    item_id: int,
    status: str,
    transition: str | None,
    to: str | None,
    actor: Principal,
    reason: str | None,
    password: str | None,
    origin: Origin,
) -> tuple[Transition, Signature | None]:
    """The transition asked for from this state, checked against every rule (permission,
    reason, four eyes, e-signature), and the signature given for it."""
    possible = definition.transitions_from(status)
    chosen = next(
        (t for t in possible if (transition and t.name == transition) or (to and t.to == to)), None
    )
    if chosen is None:
        raise TransitionNotAllowed(
            f"'{transition or to}' is not possible from '{status}'",
            details={
                "status": status,
                "allowed": [
                    {"name": t.name, "to": t.to} for t in possible if actor.can(t.permission)
                ],
            },
        )
    if not actor.can(chosen.permission):
        raise PermissionDenied(
            f"'{chosen.name}' needs the permission {chosen.permission}",
            details={"missing": [chosen.permission]},
        )
    if chosen.reason_required and not reason:
        raise ReasonRequired(
            f"'{chosen.name}' needs a reason",
            details=[{"loc": ["body", "reason"], "msg": "required", "type": "reason_required"}],
        )
    if chosen.distinct_actor:
        previous = await events_service.last_status_actor(session, item_id)
        if previous == actor.user_id:
            raise SamePerson(f"You made the previous step; '{chosen.name}' needs someone else")
    signature = None
    if chosen.signature_required:
        if not password:
            raise SignatureRequired(
                details=[
                    {
                        "loc": ["body", "password"],
                        "msg": "required to sign",
                        "type": "signature_required",
                    }
                ]
            )
        meaning = chosen.signature_meaning or chosen.display
        signed_at = await accounts_service.verify_signature(
            session,
            user=actor.user,
            password=password,
            meaning=meaning,
            limiter=limiter,
            settings=settings,
            origin=origin,
        )
        signature = Signature(user_id=actor.user_id, meaning=meaning, signed_at=signed_at)
    return chosen, signature


def check_fields(item_type: ItemType, fields: Mapping[str, Any], loc: list[str]) -> None:
    """Type rules the schema cannot know: quantity, expiry, attributes."""
    problems = []
    if fields.get("quantity") is not None and not item_type.tracks_quantity:
        problems.append(
            {
                "loc": [*loc, "quantity"],
                "msg": f"'{item_type.key}' does not track quantity",
                "type": "not_tracked",
            }
        )
    if fields.get("expiry_on") is not None and not item_type.tracks_expiry:
        problems.append(
            {
                "loc": [*loc, "expiry_on"],
                "msg": f"'{item_type.key}' does not track expiry",
                "type": "not_tracked",
            }
        )
    if problems:
        raise ValidationFailed("Fields do not fit the item type", details=problems)
    attributes = fields.get("attributes")
    if attributes is not None:
        validate_attributes(item_type, attributes, [*loc, "attributes"])


# Transitions that use an item up, whatever the workflow calls its states: those that need
# the dispensing permission, and any named dispense or consume.
_USING_UP = frozenset({"dispense", "consume"})


def uses_up(transition: Transition) -> bool:
    """Whether taking this transition dispenses or consumes the item."""
    return transition.permission == Permission.ITEM_DISPENSE or transition.name in _USING_UP


def ships(transition: Transition) -> bool:
    """Whether taking this transition ships the item (and what it holds) away: its business
    step is CBV's shipping, as the workflow configures it or as the name implies (dispatch)."""
    return cbv.biz_step_of(transition.name, transition.epcis_biz_step) == "shipping"


def site_today(settings: Settings | None) -> date:
    """Today's date where the site is (QTRACK_TIMEZONE): an expiry date is a local day."""
    now = utcnow()
    return (now.astimezone(settings.zone) if settings is not None else now).date()


def is_past(expiry_on: date | None, today: date) -> bool:
    """Whether an expiry date has passed: an item may be used on its expiry day itself."""
    return expiry_on is not None and expiry_on < today


def refuse_if_expired(row: Any, definition: WorkflowDefinition, today: date, verb: str) -> None:
    """409 item_expired, naming the date, when the item is past its expiry date or in its
    workflow's expired state."""
    expired: State | None = definition.expired_state
    past = is_past(row.expiry_on, today)
    if not past and not (expired is not None and row.status == expired.key):
        return
    when = f"on {row.expiry_on.isoformat()}" if row.expiry_on is not None else "(no date)"
    raise ItemExpired(
        f"{row.code} expired {when}; it cannot be {verb}",
        details={
            "code": row.code,
            "expiry_on": row.expiry_on.isoformat() if row.expiry_on is not None else None,
            "status": row.status,
        },
    )


async def refuse_if_expired_inside(
    session: AsyncSession, container: Any, today: date, verb: str
) -> None:
    """409 item_expired when the item, or anything packed inside it at any depth, has
    expired (a bag of supplies goes on a bill whole)."""
    refuse_if_expired(container, await definition_for(session, container), today, verb)
    frontier = [container.id]
    while frontier:
        level = (
            await session.execute(
                select(
                    Item.id,
                    Item.code,
                    Item.status,
                    Item.expiry_on,
                    ItemType.workflow_id,
                    Workflow.updated_at.label("workflow_updated_at"),
                )
                .join(ItemType, Item.type_id == ItemType.id)
                .join(Workflow, ItemType.workflow_id == Workflow.id)
                .where(Item.parent_id.in_(frontier), Item.archived.is_(False))
                .order_by(Item.code)
            )
        ).all()
        for row in level:
            refuse_if_expired(row, await definition_for(session, row), today, verb)
        frontier = [row.id for row in level]
