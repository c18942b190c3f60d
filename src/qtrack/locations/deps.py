"""What location routes need from the packages above them, as dependencies.

Items refer to locations, so the locations package cannot import them; yet a location may be
archived only when no item is left there, and a location's page lists what it holds. The app
provides both (`holdings.provide(app, ...)`, see `qtrack.wiring`).
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.hooks import Hook
from qtrack.locations.service import ItemsAt


@dataclass(frozen=True)
class Stock:
    """One page of the items at a location, and what the page's item rows need."""

    items: Sequence[Any]
    # The cursor key of the next page; None on the last.
    next_key: Any
    # More for the template's item rows (state styles, contents of containers, ...).
    rows: Mapping[str, Any]


# (session, location code, below: the whole subtree rather than the location itself,
# cursor key after which to start, page size, category key or None) -> the page; its rows
# include "categories", the choices of the category filter.
StockAt = Callable[[AsyncSession, str, bool, Any, int, str | None], Awaitable[Stock]]


@dataclass(frozen=True)
class Holdings:
    """How location pages and use cases learn what is at each location."""

    # Live items directly at one location (what `archive_location` refuses over).
    items_at: ItemsAt
    # Live items directly at each location, by code, from the maintained counts.
    counts: Callable[[AsyncSession], Awaitable[Mapping[str, int]]]
    stock_at: StockAt


holdings: Hook[Holdings] = Hook("locations.holdings")
HoldingsDep = Annotated[Holdings, Depends(holdings)]
