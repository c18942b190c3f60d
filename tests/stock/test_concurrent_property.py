"""Random rounds of concurrent receive / dispense / expire on PostgreSQL, each change in its
own transaction at once with the others of its round: after every round on-hand is the sum
of the live lots, the level's state is that of on-hand, and the alerts are those of the
crossings: a round that only takes stock away raises each level it crossed once (the worst
always, none when the state did not change), a round that only adds raises none and clears
what stock came back above."""

import asyncio
import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from qtrack.accounts.principal import Principal
from qtrack.alerts.models import Alert
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.events.service import EventContext
from qtrack.item_types import service as item_types_service
from qtrack.items import changes, create, expiring
from qtrack.items.models import Item
from qtrack.items.schemas import ItemCreate
from qtrack.stock import service as stock_service
from qtrack.stock.models import EVERYWHERE, StockOnHand
from tests.items.test_invariants import _admin

pytestmark = pytest.mark.postgres_only

_types = itertools.count(1)
EXPIRES = date(2031, 3, 31)
LOTS = 5
amount = st.integers(min_value=1, max_value=15).map(Decimal)
lot = st.integers(min_value=0, max_value=LOTS - 1)
taking = st.one_of(
    st.tuples(st.just("dispense"), lot, amount), st.tuples(st.just("expire"), lot, st.none())
)
adding = st.tuples(st.just("receive"), lot, amount)
# A round: several changes at once, all taking stock away or all adding it.
rounds = st.one_of(
    st.lists(taking, min_size=2, max_size=8).map(lambda ops: ("take", ops)),
    st.lists(adding, min_size=2, max_size=3).map(lambda ops: ("add", ops)),
)
# Refusals a change may meet when its twin got there first.
EXPECTED_REFUSALS = {"insufficient_quantity", "item_expired"}


async def _one(
    db: Database, settings: Settings, actor: Principal, op: tuple[object, ...], lots: list[int]
) -> None:
    kind, which, value = op
    item_id = lots[int(str(which))]
    try:
        async with db.session_scope() as session:
            if kind == "expire":
                await expiring.expire_items(
                    session, ids=[item_id], today=EXPIRES + timedelta(days=1)
                )
                return
            code = await session.scalar(select(Item.code).where(Item.id == item_id))
            assert isinstance(value, Decimal)
            await changes.change_quantity(
                session, code=str(code), kind=str(kind), amount=value, actor=actor,
                reason=None, context=EventContext(), settings=settings,
            )  # fmt: skip
    except QtrackError as exc:
        if exc.code not in EXPECTED_REFUSALS:
            raise


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    minimum=st.integers(min_value=0, max_value=20).map(Decimal),
    gap=st.integers(min_value=1, max_value=20).map(Decimal),
    plan=st.lists(rounds, min_size=2, max_size=5),
)
async def test_concurrent_rounds_keep_on_hand_and_alert_once_per_crossing(
    db: Database,
    settings: Settings,
    minimum: Decimal,
    gap: Decimal,
    plan: list[tuple[str, list[tuple[object, ...]]]],
) -> None:
    actor = await _admin(db)
    n = next(_types)
    reorder = minimum + gap
    async with db.session_scope() as session:
        item_type = await item_types_service.create_item_type(
            session, key=f"conc_{n}", workflow="supply", name=f"Conc {n}",
            code_prefix=f"C{n}", unit="pcs", tracks_quantity=True, tracks_expiry=True,
        )  # fmt: skip
        type_id, key = item_type.id, item_type.key
        made = await create.register_items(
            session,
            specs=[
                ItemCreate(type=key, quantity=Decimal(4 + 2 * i), expiry_on=EXPIRES)
                for i in range(LOTS)
            ],
            actor=actor,
            settings=settings,
        )
        lots = [m.id for m in made]
        await stock_service.set_levels(
            session, type_key=key, location=None, minimum_level=minimum, reorder_level=reorder
        )
    subject = f"stock:{key}"

    async def observe() -> tuple[Decimal, str | None, list[tuple[int, str]], set[str]]:
        async with db.session_scope("read") as session:
            row = await session.get_one(StockOnHand, (type_id, EVERYWHERE))
            live = await session.scalar(
                select(func.coalesce(func.sum(Item.quantity), 0)).where(
                    Item.type_id == type_id, Item.archived.is_(False), Item.status != "expired"
                )
            )
            assert row.on_hand == Decimal(live or 0)  # the sum of the live lots
            raised = [
                (int(i), str(k))
                for i, k in await session.execute(
                    select(Alert.id, Alert.kind).where(Alert.subject == subject).order_by(Alert.id)
                )
            ]
            still_open = set(
                await session.scalars(
                    select(Alert.kind).where(Alert.subject == subject, Alert.cleared_at.is_(None))
                )
            )
        return row.on_hand, row.state, raised, still_open

    on_hand, state, raised, _ = await observe()
    rank = stock_service.RANK
    for direction, ops in plan:
        await asyncio.gather(*(_one(db, settings, actor, op, lots) for op in ops))
        after, new_state, now_raised, still_open = await observe()
        assert new_state == stock_service.state_of(after, minimum, reorder)
        fresh = [k for _, k in now_raised[len(raised) :]]
        assert now_raised[: len(raised)] == raised  # alerts are never taken back
        if direction == "add":
            assert after >= on_hand
            assert fresh == []  # more stock never alerts
        else:
            assert after <= on_hand
            crossed = {
                kind
                for s, kind in stock_service.ALERT_KINDS.items()
                if rank[state] < rank[s] <= rank[new_state]
            }
            assert len(fresh) == len(set(fresh))  # each level crossed alerts once
            assert set(fresh) <= crossed
            if rank[new_state] > rank[state]:
                assert stock_service.ALERT_KINDS[str(new_state)] in fresh
            else:
                assert fresh == []
        # What is open matches where stock is now.
        assert ("stock_out" in still_open) == (new_state == "out")
        if new_state == "low":
            assert still_open == {"stock_low"}
        if new_state in ("ok", None):
            assert still_open == set()
        on_hand, state, raised = after, new_state, now_raised
