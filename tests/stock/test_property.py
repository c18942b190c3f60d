"""Random receive / dispense / expire / archive sequences against a model: on-hand equals the
sum of the live lots after every step, and an alert is raised once per crossing (each time
the level's state gets worse), never on the scans in between. "expire" is the expiry sweep's
own move of a lot past its date to the expired state (`items.expiring.expire_items`)."""

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from qtrack.alerts.models import Alert
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.events.service import EventContext
from qtrack.item_types import service as item_types_service
from qtrack.items import changes, create, expiring
from qtrack.items.schemas import ItemCreate
from qtrack.stock import service as stock_service
from qtrack.stock.models import EVERYWHERE, StockOnHand
from tests.items.test_invariants import _admin

_types = itertools.count(1)
amount = st.integers(min_value=1, max_value=12).map(Decimal)
lot = st.integers(min_value=0, max_value=5)
operation = st.one_of(
    st.tuples(st.just("new"), st.none(), amount),
    st.tuples(st.just("receive"), lot, amount),
    st.tuples(st.just("dispense"), lot, amount),
    st.tuples(st.just("expire"), lot, st.none()),
    st.tuples(st.just("archive"), lot, st.none()),
)
EXPIRES = date(2031, 3, 31)  # every lot's expiry date; "expire" sweeps as on the day after
levels = st.tuples(
    st.integers(min_value=0, max_value=10), st.integers(min_value=0, max_value=20)
).map(lambda pair: (Decimal(min(pair)), Decimal(max(pair))))


class Model:
    """What the stock of one type should be, and the alerts it should have raised."""

    def __init__(self) -> None:
        self.lots: list[tuple[str, Decimal, int]] = []  # (code, quantity, id) of live lots
        self.state: str | None = None
        self.raised: list[str] = []
        self.open: set[str] = set()

    @property
    def on_hand(self) -> Decimal:
        return sum((q for _, q, _ in self.lots), Decimal(0))

    def settle(self, minimum: Decimal, reorder: Decimal) -> None:
        new = stock_service.state_of(self.on_hand, minimum, reorder)
        if new == self.state:
            return
        rank = stock_service.RANK
        self.open -= {k for s, k in stock_service.ALERT_KINDS.items() if rank[s] > rank[new]}
        for state, kind in stock_service.ALERT_KINDS.items():  # every level fallen through
            if rank[self.state] < rank[state] <= rank[new] and kind not in self.open:
                self.raised.append(kind)
                self.open.add(kind)
        self.state = new


@hypothesis_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limits=levels, ops=st.lists(operation, min_size=1, max_size=16))
async def test_on_hand_is_the_sum_of_the_lots_and_each_crossing_alerts_once(
    db: Database, settings: Settings, limits: tuple[Decimal, Decimal], ops: list[tuple[object, ...]]
) -> None:
    actor = await _admin(db)
    n = next(_types)
    minimum, reorder = limits
    async with db.session_scope() as session:
        item_type = await item_types_service.create_item_type(
            session, key=f"prop_{n}", workflow="supply", name=f"Prop {n}",
            code_prefix=f"P{n}", unit="pcs", tracks_quantity=True, tracks_expiry=True,
        )  # fmt: skip
        type_id, key = item_type.id, item_type.key
        await stock_service.set_levels(
            session, type_key=key, location=None, minimum_level=minimum, reorder_level=reorder
        )
    model = Model()
    model.settle(minimum, reorder)
    ctx = EventContext()
    for kind, which, value in ops:
        try:
            async with db.session_scope() as session:
                if kind == "new":
                    assert isinstance(value, Decimal)
                    (made,) = await create.register_items(
                        session, specs=[ItemCreate(type=key, quantity=value, expiry_on=EXPIRES)],
                        actor=actor, settings=settings,
                    )  # fmt: skip
                    model.lots.append((made.code, value, made.id))
                elif model.lots:
                    i = int(str(which)) % len(model.lots)
                    code, held, item_id = model.lots[i]
                    if kind == "expire":
                        done = await expiring.expire_items(
                            session, ids=[item_id], today=EXPIRES + timedelta(days=1)
                        )
                        assert [e.code for e in done.expired] == [code], done
                        model.lots.pop(i)
                    elif kind == "archive":
                        await changes.archive_item(
                            session, code=code, actor=actor, reason="gone", context=ctx
                        )
                        model.lots.pop(i)
                    else:
                        assert isinstance(value, Decimal)
                        await changes.change_quantity(
                            session, code=code, kind=str(kind), amount=value, actor=actor,
                            reason=None, context=ctx,
                        )  # fmt: skip
                        after = held + value if kind == "receive" else held - value
                        model.lots[i] = (code, after, item_id)
        except QtrackError as exc:
            # Only dispensing more than the lot holds is refused (and changes nothing).
            if kind != "dispense":
                raise AssertionError(f"{kind} refused: {exc}") from exc
        model.settle(minimum, reorder)
        async with db.session_scope("read") as session:
            row = await session.get_one(StockOnHand, (type_id, EVERYWHERE))
            assert row.on_hand == model.on_hand
            assert row.state == model.state
            subject = f"stock:{key}"
            raised = await session.scalars(
                select(Alert.kind).where(Alert.subject == subject).order_by(Alert.id)
            )
            assert list(raised) == model.raised
            still_open = await session.scalars(
                select(Alert.kind).where(Alert.subject == subject, Alert.cleared_at.is_(None))
            )
            assert set(still_open) == model.open
            assert await session.scalar(
                select(func.count())
                .select_from(Alert)
                .where(Alert.subject == subject, Alert.cleared_at.is_(None))
            ) == len(model.open)
