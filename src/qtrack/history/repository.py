"""Select builders for events with what their read model names: item, actor, signer, place."""

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from qtrack.accounts.models import User
from qtrack.events.models import Event
from qtrack.events.schemas import EventRead, SignatureRead
from qtrack.items.models import Item
from qtrack.locations.models import Location

Signer = aliased(User, name="signer")


def event_rows() -> Select[Event, str, str, str, str]:
    """Events with who did them, who signed, where, and for which item."""
    return (
        select(Event, Item.code, User.username, Signer.username, Location.code)
        .join(Item, Event.item_id == Item.id)
        .outerjoin(User, Event.actor_id == User.id)
        .outerjoin(Signer, Event.signed_by_id == Signer.id)
        .outerjoin(Location, Event.location_id == Location.id)
    )


def to_event_read(row: Any) -> EventRead:
    """An event row from `event_rows()` as the API shows it."""
    event, item_code, actor, signer, location_code = row
    signature = None
    if event.signature_meaning and event.signed_at:
        signature = SignatureRead(by=signer, meaning=event.signature_meaning, at=event.signed_at)
    return EventRead(
        id=event.id,
        item=item_code,
        seq=event.seq,
        type=event.type,
        actor=actor,
        recorded_at=event.recorded_at,
        occurred_at=event.occurred_at,
        location=location_code,
        before=event.before,
        after=event.after,
        reason=event.reason,
        signature=signature,
        client_event_id=event.client_event_id,
        hash=event.hash,
        prev_hash=event.prev_hash,
    )
