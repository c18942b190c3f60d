"""What workflow routes need from the packages above them, as dependencies.

Item types follow workflows and items are counted by state, so the workflow package cannot
import them; the app provides them instead (`usage.provide(app, ...)`, see `qtrack.wiring`).
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.hooks import Hook
from qtrack.workflow.service import ItemStates


@dataclass(frozen=True)
class Follower:
    """An item type that follows a workflow, and how many of its live items are in each state."""

    key: str
    name: str
    workflow_id: int
    in_state: Mapping[str, int]


@dataclass(frozen=True)
class Usage:
    """How the workflow pages and use cases learn what follows a workflow."""

    # The states items are in (what `update_workflow` must not remove).
    item_states: ItemStates
    # Every item type with its workflow and its counts by state, by key.
    followers: Callable[[AsyncSession], Awaitable[Sequence[Follower]]]


usage: Hook[Usage] = Hook("workflow.usage")
UsageDep = Annotated[Usage, Depends(usage)]
