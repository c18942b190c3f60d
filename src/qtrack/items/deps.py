"""Request dependencies of the items: the items list's filters, read from the query string
(the list and the items export take the same ones)."""

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from qtrack.core.deps import StateDep
from qtrack.items import rules
from qtrack.items.service import ItemFilter


def item_filter(
    state: StateDep,
    item_type: Annotated[str | None, Query(alias="type")] = None,
    category: Annotated[
        str | None,
        Query(max_length=64, description="A category key: types in it or in those under it"),
    ] = None,
    status: str | None = None,
    location: Annotated[
        str | None, Query(description="A location code: items there or below")
    ] = None,
    container: Annotated[
        str | None, Query(description="An item code: what it directly holds")
    ] = None,
    batch: str | None = None,
    gtin: str | None = None,
    expiring_before: date | None = None,
    expiring_within_days: Annotated[
        int | None,
        Query(ge=0, le=3650, description="Live items expiring from today to N days from now"),
    ] = None,
    expiring_soon: Annotated[
        bool, Query(description="Live items expiring within their item type's window")
    ] = False,
    expired: Annotated[
        bool | None,
        Query(description="true: past their expiry date or in the expired state, not used up"),
    ] = None,
    archived: bool = False,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Code, name or batch contains")
    ] = None,
) -> ItemFilter:
    """The items list's filters from the query string."""
    return ItemFilter(
        type=item_type,
        category=category,
        status=status,
        location=location,
        container=container,
        batch=batch,
        gtin=gtin,
        expiring_before=expiring_before,
        expiring_within_days=expiring_within_days,
        expiring_soon=expiring_soon,
        expired=expired,
        today=rules.site_today(state.settings),
        archived=archived,
        q=q,
    )


ItemFilterQuery = Annotated[ItemFilter, Depends(item_filter)]
