"""Workflow use cases."""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.permissions import ALL_PERMISSIONS
from qtrack.core.deferred import dialect_name
from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.workflow.defaults import SHIPPED_WORKFLOWS
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import WorkflowDefinition


class WorkflowNotFound(NotFound):
    code, message = "workflow_not_found", "No such workflow"


class StatesInUse(Conflict):
    code, message = "states_in_use", "Items are in states this change removes"


# The states that items of the types following a workflow are in right now. Items build on
# workflows, so whoever calls `update_workflow` passes this in (routes get it from
# `workflow.deps.UsageDep`, which the app provides from the item types).
ItemStates = Callable[[AsyncSession, Workflow], Awaitable[set[str]]]

# Parsed definitions, keyed by (workflow id, updated_at): a workflow is read on every
# transition, and parsing it each time would cost more than the database round trip.
_parsed: dict[tuple[int, Any], WorkflowDefinition] = {}


def definition_of(workflow: Workflow) -> WorkflowDefinition:
    """The workflow's definition, parsed once per version."""
    key = (workflow.id, workflow.updated_at)
    parsed = _parsed.get(key)
    if parsed is None:
        parsed = WorkflowDefinition.model_validate(workflow.definition)
        if len(_parsed) > 256:
            _parsed.clear()
        _parsed[key] = parsed
    return parsed


class FollowsWorkflow(Protocol):
    """An item type as a workflow sees it: a key, a name and the workflow it follows."""

    @property
    def key(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def workflow(self) -> Workflow: ...


def state_styles(item_types: Iterable[FollowsWorkflow]) -> dict[tuple[str, str], dict[str, str]]:
    """Label and colour of every (item type, state), from the workflows the types follow (the
    workflows loaded with the types: no query)."""
    styles: dict[tuple[str, str], dict[str, str]] = {}
    for item_type in item_types:
        for state in definition_of(item_type.workflow).states:
            styles[(item_type.key, state.key)] = {
                "label": state.label,
                "colour": state.colour,
                "type_name": item_type.name,
            }
    return styles


def _forget(workflow_id: int) -> None:
    """Drop this process's parsed copies of a workflow whose definition just changed."""
    for cached in [k for k in _parsed if k[0] == workflow_id]:
        del _parsed[cached]


def parse_definition(raw: dict[str, Any]) -> WorkflowDefinition:
    """Validate a definition given as plain data; 422 with the problems when it is bad.

    Each problem's `loc` names the input it is about (`["body", "definition", "transitions",
    "0", "to"]`), the whole-workflow rules too, so a form can show it next to that input.
    """
    try:
        return WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        prefix = ["body", "definition"]
        fields = [e for e in exc.errors() if e["loc"]]
        details = [
            {"loc": [*prefix, *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in fields
        ]
        details += [
            {"loc": [*prefix, *loc], "msg": msg, "type": "workflow_incoherent"}
            for loc, msg in locate_problems(raw, reachability=not fields)
        ]
        if not details:  # a rule the locator does not know: name it for the whole workflow
            details = [
                {"loc": prefix, "msg": e["msg"].removeprefix("Value error, "), "type": e["type"]}
                for e in exc.errors()
            ]
        raise ValidationFailed("The workflow is not valid", details=details) from exc


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _sources(transition: dict[str, Any]) -> list[str]:
    sources = transition.get("from")
    return [_text(s) for s in sources] if isinstance(sources, list) else []


def _rows(raw: dict[str, Any], name: str) -> list[dict[str, Any]]:
    rows = raw.get(name)
    return [r if isinstance(r, dict) else {} for r in rows] if isinstance(rows, list) else []


def locate_problems(raw: Any, *, reachability: bool = True) -> list[tuple[list[str], str]]:
    """The whole-workflow rules `WorkflowDefinition` checks, each broken one placed at the
    input it is about (e.g. `["transitions", "0", "to"]`); works on raw, even broken, data."""
    if not isinstance(raw, dict):
        return []
    states, transitions = _rows(raw, "states"), _rows(raw, "transitions")
    problems: list[tuple[list[str], str]] = []
    keys = [_text(s.get("key")) for s in states]
    for i, key in enumerate(keys):
        if key and key in keys[:i]:
            problems.append((["states", str(i), "key"], f"Another state has the key '{key}'"))
    known = set(keys) - {""}
    initial = _text(raw.get("initial"))
    if initial and initial not in known:
        problems.append((["initial"], f"The initial state '{initial}' is not one of the states"))
    terminal = {k for k, s in zip(keys, states, strict=True) if s.get("terminal") is True}
    seen: set[tuple[str, str]] = set()
    for j, t in enumerate(transitions):
        at = ["transitions", str(j)]
        name = _text(t.get("name"))
        sources = _sources(t)
        to = _text(t.get("to"))
        for state in [s for s in sources if s and s not in known][:1]:
            problems.append(([*at, "from"], f"'{state}' is not one of the states"))
        if to and to not in known:
            problems.append(([*at, "to"], f"'{to}' is not one of the states"))
        permission = t.get("permission", "item.transition")
        if permission not in ALL_PERMISSIONS:
            problems.append(([*at, "permission"], f"Unknown permission '{permission}'"))
        for source in sources:
            if name and (source, name) in seen:
                problems.append(([*at, "name"], f"'{name}' is defined twice from '{source}'"))
            seen.add((source, name))
        if t.get("signature_required") is True and not _text(t.get("signature_meaning")):
            problems.append(([*at, "signature_meaning"], "Say what the e-signature means"))
        leaving = sorted(set(sources) & terminal)
        if leaving:
            problems.append(([*at, "from"], f"'{leaving[0]}' is terminal: nothing leaves it"))
    if reachability and not problems and initial in known:
        reached = _reachable(initial, transitions)
        for i, key in enumerate(keys):
            if key and key not in reached:
                problems.append((["states", str(i), "key"], "No transition leads to this state"))
    return problems


def _reachable(initial: str, transitions: list[dict[str, Any]]) -> set[str]:
    seen, queue = {initial}, [initial]
    while queue:
        state = queue.pop()
        for t in transitions:
            to = _text(t.get("to"))
            if state in _sources(t) and to not in seen:
                seen.add(to)
                queue.append(to)
    return seen


async def list_workflows(session: AsyncSession) -> Sequence[Workflow]:
    """Every workflow, by key."""
    return (await session.scalars(select(Workflow).order_by(Workflow.key))).all()


async def get_workflow(session: AsyncSession, key: str) -> Workflow:
    """A workflow by key; 404 workflow_not_found."""
    workflow = await session.scalar(select(Workflow).where(Workflow.key == key))
    if workflow is None:
        raise WorkflowNotFound(f"No workflow '{key}'")
    return workflow


async def create_workflow(
    session: AsyncSession, *, key: str, name: str, definition: WorkflowDefinition
) -> Workflow:
    """Define a new workflow."""
    if await session.scalar(select(Workflow.id).where(Workflow.key == key)) is not None:
        raise Conflict(f"Workflow '{key}' already exists", details={"key": key})
    workflow = Workflow(key=key, name=name, definition=definition.model_dump(by_alias=True))
    session.add(workflow)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another admin created the same key a moment ago; the unique index had the last word.
        raise Conflict(f"Workflow '{key}' already exists", details={"key": key}) from exc
    return workflow


# How long an edit waits for the item changes under way to finish before it gives up
# (503 database_busy): a change takes milliseconds, an import holds items for longer.
HOLD_TIMEOUT_MS = 5000


async def hold_item_changes(session: AsyncSession) -> None:
    """Until this transaction ends, no item is changed or locked for a change; the changes
    under way finish first, and plain reads go on (PostgreSQL: `item` locked EXCLUSIVE; SQLite
    runs one writer at a time already). For the rare edits that check the states items are in
    and must not be outrun by a change of state that read the workflow before them: a workflow
    that loses a state, an item type that moves to another workflow."""
    if dialect_name(session) != "postgresql":
        return
    await session.execute(text(f"SET LOCAL lock_timeout = {HOLD_TIMEOUT_MS}"))
    await session.execute(text("LOCK TABLE item IN EXCLUSIVE MODE"))
    await session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))


# States an item is done with whatever its workflow says (a rejected or expired lot waits
# only to be destroyed): never stock on hand, terminal or not (`items.on_hand`).
DONE_WITH = frozenset({"rejected", "expired"})


def terminal_changed(
    old: WorkflowDefinition, new: WorkflowDefinition, in_use: set[str]
) -> list[str]:
    """The states items are in that are terminal in one definition and not in the other:
    whether an item is stock on hand follows that flag, and the stock kept would not."""
    flipped = []
    for key in sorted(in_use - DONE_WITH):
        before, after = old.state(key), new.state(key)
        if before is not None and after is not None and before.terminal != after.terminal:
            flipped.append(key)
    return flipped


async def update_workflow(
    session: AsyncSession,
    *,
    key: str,
    name: str | None,
    definition: WorkflowDefinition | None,
    item_states: ItemStates,
) -> Workflow:
    """Change a workflow's name or definition; states items are in now cannot be removed."""
    workflow = await get_workflow(session, key)
    if definition is not None:
        await hold_item_changes(session)
        in_use = await item_states(session, workflow)
        removed = in_use - {s.key for s in definition.states}
        if removed:
            raise StatesInUse(
                f"Items are in states this change removes: {', '.join(sorted(removed))}",
                details={"states_in_use": sorted(removed)},
            )
        flipped = terminal_changed(definition_of(workflow), definition, in_use)
        if flipped:
            raise StatesInUse(
                "Items are in states this change makes final or no longer final (their stock "
                f"on hand would be miscounted): {', '.join(flipped)}",
                details={"terminal_changed": flipped},
            )
        workflow.definition = definition.model_dump(by_alias=True)
        _forget(workflow.id)
    if name is not None:
        workflow.name = name
    await session.flush()
    return workflow


async def ensure_shipped_workflows(session: AsyncSession) -> None:
    """Create the shipped workflows where missing (existing ones are left as admins made them)."""
    existing = {w.key for w in await list_workflows(session)}
    for key, (name, raw) in SHIPPED_WORKFLOWS.items():
        if key not in existing:
            definition = WorkflowDefinition.model_validate(raw).model_dump(by_alias=True)
            session.add(Workflow(key=key, name=name, definition=definition, builtin=True))
    await session.flush()
