"""`events.service.record`, the one recording point: each entry becomes its item's next event,
chained to the head the caller read, hashed as `event_values` says, in the order given."""

from datetime import UTC, datetime

from sqlalchemy import select

from qtrack.accounts.principal import Principal
from qtrack.core.db import Database
from qtrack.events import service as events_service
from qtrack.events.chain import canonical_fields, event_hash
from qtrack.events.models import Event
from qtrack.events.service import Entry, EventContext
from qtrack.items import create
from qtrack.items.schemas import ItemCreate
from tests.factories.accounts import create_user


async def test_record_chains_each_entry_after_the_head_it_is_given(db: Database) -> None:
    user = await create_user(db, "chainer", "admin")
    async with db.session_scope() as session:
        actor = Principal(user=user, permissions=frozenset(), via="cli")
        first, second = await create.register_items(
            session, specs=[ItemCreate(type="material", count=2)], actor=actor, settings=db.settings
        )
        occurred = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
        entries = [
            Entry(
                item_id=item.id,
                head=(1, item.event.hash),
                location_id=None,
                kind="edited",
                before={"name": ""},
                after={"name": f"Lot {n}"},
                reason="named",
                context=EventContext(client_event_id=f"c-{n}", occurred_at=occurred),
            )
            for n, item in enumerate((second, first))
        ]
        recorded = await events_service.record(session, actor, entries)

        assert [(r.item_id, r.seq, r.prev_hash) for r in recorded] == [
            (second.id, 2, second.event.hash),
            (first.id, 2, first.event.hash),
        ]
        stored = {
            e.id: e for e in await session.scalars(select(Event).where(Event.type == "edited"))
        }
        assert sorted(stored) == sorted(r.id for r in recorded)
        for r in recorded:
            event = stored[r.id]
            assert (event.hash, event.client_event_id, event.reason) == (
                r.hash,
                r.client_event_id,
                "named",
            )
            # The stored row hashes to its hash: what `qtrack audit verify` recomputes.
            fields = canonical_fields(
                item_id=event.item_id, seq=event.seq, kind=event.type, actor_id=event.actor_id,
                token_id=event.token_id, client_event_id=event.client_event_id,
                occurred_at=event.occurred_at, recorded_at=event.recorded_at,
                location_id=event.location_id, before=event.before, after=event.after,
                reason=event.reason, signed_by_id=event.signed_by_id,
                signature_meaning=event.signature_meaning, signed_at=event.signed_at,
                latitude=event.latitude, longitude=event.longitude, prev_hash=event.prev_hash,
            )  # fmt: skip
            assert event_hash(fields) == event.hash
        assert await events_service.record(session, actor, []) == []
