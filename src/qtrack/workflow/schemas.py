"""Workflow definitions and their validation: a bad workflow is refused with a clear 422."""

from collections import deque
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from qtrack.accounts.permissions import ALL_PERMISSIONS
from qtrack.workflow import cbv

Key = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
_Term = StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
Disposition = Annotated[str, _Term, AfterValidator(cbv.check_disposition)]
BizStep = Annotated[str, _Term, AfterValidator(cbv.check_biz_step)]


def _unset(value: object) -> bool:
    return value is None


class State(BaseModel):
    """One state an item can be in."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    label: Label
    colour: Colour = "#6e7781"
    terminal: bool = False
    # For containers in this state: whether their contents are fixed (a sealed or dispatched
    # bag): nothing may be packed into them or taken out.
    closed: bool = False
    # The state expired items are in: the expiry sweep moves an item past its expiry date
    # here, by a transition of the workflow that leads to it. At most one state a workflow;
    # none: the sweep leaves such items as they are and reports them. Left out of the stored
    # definition when not set, so workflows that never set it read as before.
    expired: bool = Field(default=False, exclude_if=lambda value: not value)
    # The CBV disposition of an item in this state, for EPCIS (None: qtrack's default; left
    # out of the stored definition then, so workflows that never set it read as before).
    epcis_disposition: Disposition | None = Field(default=None, exclude_if=_unset)


class Transition(BaseModel):
    """A move from one state to another, and what it takes."""

    model_config = ConfigDict(extra="forbid")

    name: Key
    label: Label | None = None
    from_: list[Key] = Field(alias="from", min_length=1)
    to: Key
    permission: str = "item.transition"
    reason_required: bool = False
    signature_required: bool = False
    signature_meaning: Label | None = None
    # "Not the same person as the previous step": whoever made the item's last status change
    # may not make this one (four-eyes release).
    distinct_actor: bool = False
    # The CBV business step this transition is, for EPCIS (None: qtrack's default).
    epcis_biz_step: BizStep | None = Field(default=None, exclude_if=_unset)

    @property
    def display(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


class WorkflowDefinition(BaseModel):
    """States, the initial state, and transitions: checked as a whole."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    initial: Key
    states: list[State] = Field(min_length=1, max_length=100)
    transitions: list[Transition] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        keys = [s.key for s in self.states]
        problems: list[str] = []
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            problems.append(f"duplicate states: {', '.join(duplicates)}")
        known = set(keys)
        if self.initial not in known:
            problems.append(f"initial state '{self.initial}' is not one of the states")
        names: dict[tuple[str, str], str] = {}
        for t in self.transitions:
            for state in [*t.from_, t.to]:
                if state not in known:
                    problems.append(f"transition '{t.name}' names unknown state '{state}'")
            if t.permission not in ALL_PERMISSIONS:
                problems.append(f"transition '{t.name}' needs unknown permission '{t.permission}'")
            for source in t.from_:
                if (source, t.name) in names:
                    problems.append(f"transition '{t.name}' is defined twice from '{source}'")
                names[(source, t.name)] = t.to
            if t.signature_required and not t.signature_meaning:
                problems.append(f"transition '{t.name}' requires a signature but gives no meaning")
        expired = [s.key for s in self.states if s.expired]
        if len(expired) > 1:
            problems.append(f"more than one expired state: {', '.join(expired)}")
        terminal = {s.key for s in self.states if s.terminal}
        for t in self.transitions:
            leaving = sorted(set(t.from_) & terminal)
            if leaving:
                problems.append(f"transition '{t.name}' leaves terminal state '{leaving[0]}'")
        if not problems:
            unreachable = sorted(known - self._reachable())
            if unreachable:
                problems.append(f"unreachable states: {', '.join(unreachable)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _reachable(self) -> set[str]:
        seen = {self.initial}
        queue = deque([self.initial])
        while queue:
            state = queue.popleft()
            for t in self.transitions:
                if state in t.from_ and t.to not in seen:
                    seen.add(t.to)
                    queue.append(t.to)
        return seen

    def state(self, key: str) -> State | None:
        """The state with this key."""
        return next((s for s in self.states if s.key == key), None)

    @property
    def expired_state(self) -> State | None:
        """The state expired items are in (None: the workflow has none)."""
        return next((s for s in self.states if s.expired), None)

    def transitions_from(self, state: str) -> list[Transition]:
        """What can be done from a state."""
        return [t for t in self.transitions if state in t.from_]


class WorkflowRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    builtin: bool
    definition: WorkflowDefinition


class WorkflowCreate(BaseModel):
    key: Key
    name: Label
    definition: WorkflowDefinition


class WorkflowUpdate(BaseModel):
    name: Label | None = None
    definition: WorkflowDefinition | None = None
