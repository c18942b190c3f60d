"""Random sequences of changes keep the invariants: counts, chains, continuous histories,
containers (where a container is, its contents are), quantities."""

from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.core.ratelimit import MemoryRateLimiter
from qtrack.events.service import EventContext
from qtrack.history import verify
from qtrack.inventory import service as inventory_service
from qtrack.items import changes, create, moves
from qtrack.items.models import Item
from qtrack.items.schemas import ItemCreate
from qtrack.locations import service as locations_service
from tests.history.continuity import discontinuities
from tests.stock import recount as stock_recount

LOCATIONS = ["L-A", "L-B", "L-C"]
TRANSITIONS = [
    "quarantine",
    "start_test",
    "seal",
    "reopen",
    "mark_low",
    "restock",
    "mark_out",
    "dispense",
]

index = st.integers(min_value=0, max_value=7)
operation = st.one_of(
    st.tuples(
        st.just("create"),
        st.sampled_from(["material", "bag", "supply"]),
        st.sampled_from([None, *LOCATIONS]),
    ),
    st.tuples(st.just("move"), index, st.sampled_from(LOCATIONS)),
    st.tuples(st.just("pack"), index, index),
    st.tuples(st.just("unpack"), index, st.none()),
    st.tuples(st.just("transition"), index, st.sampled_from(TRANSITIONS)),
    st.tuples(st.just("quantity"), index, st.sampled_from(["dispense", "receive", "consume"])),
    st.tuples(st.just("archive"), index, st.none()),
)


async def _admin(db: Database) -> Principal:
    async with db.session_scope() as session:
        try:
            user = await accounts_service.get_user(session, "prop")
        except QtrackError:
            user, _ = await accounts_service.create_user(
                session,
                db.settings,
                actor=None,
                username="prop",
                role="admin",
                password="a long password",
            )
        for code in LOCATIONS:
            try:
                await locations_service.get_by_code(session, code)
            except QtrackError:
                await locations_service.create_location(
                    session, code=code, name=code, kind="zone", parent=None
                )
        return Principal(user=user, permissions=frozenset(user.role.permissions), via="cli")


async def _apply(
    db: Database, settings_: Settings, actor: Principal, op: tuple[object, ...]
) -> None:
    kind, a, b = op
    ctx = EventContext()
    async with db.session_scope("read") as session:
        codes = list((await session.scalars(select(Item.code).order_by(Item.id))).all())
    pick = (lambda i: codes[int(i) % len(codes)]) if codes else None
    try:
        async with db.session_scope() as session:
            if kind == "create":
                spec = ItemCreate(
                    type=str(a), location=b, quantity=Decimal(5) if a != "bag" else None
                )
                await create.register_items(session, specs=[spec], actor=actor, settings=settings_)
            elif pick is None:
                return
            elif kind == "move":
                await moves.move(
                    session, code=pick(a), location=str(b), actor=actor, reason=None, context=ctx
                )
            elif kind == "pack":
                await containers_service.pack(
                    session, code=pick(a), container=pick(b), actor=actor, context=ctx
                )
            elif kind == "unpack":
                await containers_service.unpack(
                    session, code=pick(a), actor=actor, reason=None, context=ctx
                )
            elif kind == "transition":
                await changes.change_status(
                    session,
                    settings_,
                    MemoryRateLimiter(),
                    code=pick(a),
                    transition=str(b),
                    to=None,
                    actor=actor,
                    reason="r",
                    password=None,
                    origin=Origin(),
                    context=ctx,
                )
            elif kind == "quantity":
                await changes.change_quantity(
                    session,
                    code=pick(a),
                    kind=str(b),
                    amount=Decimal(2),
                    actor=actor,
                    reason=None,
                    context=ctx,
                )
            elif kind == "archive":
                await changes.archive_item(
                    session, code=pick(a), actor=actor, reason="r", context=ctx
                )
    except QtrackError:
        pass  # refused by the rules: nothing may have changed, which the checks below prove


async def _check(db: Database) -> None:
    async with db.session_scope("read") as session:
        assert await inventory_service.recount(session) == await inventory_service.maintained(
            session
        )
        # On-hand per type and location, kept by every change, equals the items' own sum.
        assert await stock_recount.recount(session) == await stock_recount.maintained(session)
        report = await verify.verify_chains(session)
        assert report.intact, report.broken
        assert await discontinuities(session) == []
        rows = (
            await session.execute(select(Item.id, Item.parent_id, Item.quantity, Item.location_id))
        ).all()
    parents = {i: p for i, p, _, _ in rows}
    places = {i: loc for i, _, _, loc in rows}
    for item_id, parent, quantity, location in rows:
        assert quantity is None or quantity >= 0
        assert parent is None or places[parent] == location, "contents away from their container"
        seen, node = set(), parents[item_id]
        while node is not None:
            assert node != item_id, "a container contains itself"
            assert node not in seen, "a cycle of containers"
            seen.add(node)
            node = parents[node]


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(operation, min_size=1, max_size=14))
async def test_random_changes_keep_the_invariants(
    db: Database, settings: Settings, ops: list[tuple[object, ...]]
) -> None:
    actor = await _admin(db)
    for op in ops:
        await _apply(db, settings, actor, op)
        await _check(db)


async def test_an_archived_item_left_in_a_container_moves_out_of_every_count(
    db: Database, settings: Settings
) -> None:
    # Found by the property test above: the container's move counted its archived content.
    actor = await _admin(db)
    ctx = EventContext()
    async with db.session_scope() as session:
        bag, lot = await create.register_items(
            session,
            specs=[
                ItemCreate(type="bag", location="L-A"),
                ItemCreate(type="material", location="L-A", quantity=Decimal(5)),
            ],
            actor=actor,
            settings=settings,
        )
    async with db.session_scope() as session:
        await containers_service.pack(
            session, code=lot.code, container=bag.code, actor=actor, context=ctx
        )
    async with db.session_scope() as session:
        await changes.archive_item(session, code=lot.code, actor=actor, reason="r", context=ctx)
    async with db.session_scope() as session:
        await moves.move(
            session, code=bag.code, location="L-B", actor=actor, reason=None, context=ctx
        )
    await _check(db)
