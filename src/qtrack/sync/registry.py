"""The kinds of record a device can sync: each is one registration (`kinds.py` holds them).

A kind says which permission lets a caller see it, how its rows are read, and how a row
becomes the record a device stores. Two ways of finding what changed exist:

- a *table* kind (locations, item types, workflows, bills...) is read by `(updated_at, id)`
  from its own table: these are small and change rarely, so the pull re-reads a short
  overlap to catch transactions that committed late (see `pull.py`);
- the *feed* kind (items) is read from the change feed: every change of an item is an
  event, in an order that never changes once read.

Both are snapshotted by id on a first sync. Order matters: a kind comes after the kinds its
records refer to (a workflow before the item types that follow it, a location before the
items at it), so a client applying pages in order finds what a record names.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# A JSON record as a device stores it, always with "id".
Record = dict[str, Any]
# From rows of the kind's model (ORM objects) to their records, in the same order.
Serialize = Callable[[AsyncSession, Sequence[Any]], Awaitable[list[Record]]]


@dataclass(frozen=True)
class Kind:
    """A kind of record devices sync.

    `model` is the ORM class (with `id` and `updated_at` for table kinds); `key` names the
    human key of a row (code, key, number); `archived` names the boolean column that makes
    a row a tombstone; `feed` marks the kind read from the change feed instead of its table;
    `options` are loader options its serializer needs.
    """

    name: str
    model: type[Any]
    permission: str
    key: str
    serialize: Serialize
    archived: str | None = None
    feed: bool = False
    options: tuple[Any, ...] = field(default=())


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a kind; its place in the sync order is the order of registration."""
    if kind.name in _kinds and _kinds[kind.name] != kind:
        raise ValueError(f"sync kind {kind.name!r} is registered twice")
    if kind.feed and any(k.feed for k in _kinds.values() if k.name != kind.name):
        raise ValueError("only one kind can be read from the change feed")
    _kinds[kind.name] = kind
    return kind


def kinds() -> list[Kind]:
    """Every kind, in sync order."""
    return list(_kinds.values())


def visible(permissions: frozenset[str]) -> list[Kind]:
    """The kinds a caller with these permissions may see, in sync order."""
    return [kind for kind in _kinds.values() if kind.permission in permissions]
