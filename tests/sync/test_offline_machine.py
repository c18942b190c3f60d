"""A hypothesis state machine: two devices go offline and online at random, act on the same
lots (move, transition, dispense), resend batches whose answer was lost. Whatever the
sequence: every change is answered once and keeps its answer, no change is recorded twice,
chains verify, counts agree, and devices that pull on hold what the server holds."""

import asyncio
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.history import verify
from qtrack.inventory import service as inventory_service
from qtrack.sync.models import SyncChange
from tests.factories.accounts import AppLogin, logged_in
from tests.factories.items import codes_of
from tests.factories.locations import create_location
from tests.sync.conftest import PUSH, Device

T = TypeVar("T")
PLACES = ["A1", "B1", "C1"]
TRANSITIONS = ["start_test", "release", "quarantine", "expire"]


def _machine(
    loop: asyncio.AbstractEventLoop,
    client: httpx.AsyncClient,
    db: Database,
    admin: AppLogin,
    logins: list[AppLogin],
) -> type[RuleBasedStateMachine]:
    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        # The machine runs in a worker thread; the app, its database and the client live on
        # the test's event loop. Generous: the machine is loaded.
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=300)

    class OfflineSync(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.lots = run(codes_of(client, admin, 3, location="A1", quantity="10"))
            for lot in self.lots:
                run(
                    client.post(
                        f"/api/v1/items/{lot}/transitions",
                        json={"transition": "quarantine"},
                        headers=admin.headers,
                    )
                )
            self.devices = [Device(f"d{i}", who) for i, who in enumerate(logins)]
            self.online = [True, True]
            self.made: list[str] = []
            self.last_batch: list[list[dict[str, Any]]] = [[], []]
            for device in self.devices:
                device.replica.records.clear()
                device.replica.cursor = None
                run(device.replica.pull_until(client, self._has_lots))

        def _has_lots(self, replica: Any) -> bool:
            return set(self.lots) <= set(replica.of("item"))

        def _reconnect(self, index: int) -> None:
            device = self.devices[index]
            self.last_batch[index] = list(device.outbox)
            run(device.reconnect(client))

        @rule(index=st.integers(0, 1))
        def toggle(self, index: int) -> None:
            """Lose the network, or get it back (push what waits, then pull)."""
            if self.online[index]:
                self.online[index] = False
            else:
                self.online[index] = True
                self._reconnect(index)

        @rule(
            index=st.integers(0, 1),
            lot=st.integers(0, 2),
            minute=st.integers(0, 600),
            what=st.one_of(
                st.tuples(st.just("move"), st.sampled_from(PLACES)),
                st.tuples(st.just("transition"), st.sampled_from(TRANSITIONS)),
                st.tuples(st.just("dispense"), st.sampled_from(["1", "4"])),
            ),
        )
        def act(self, index: int, lot: int, minute: int, what: tuple[str, str]) -> None:
            """Do something to a lot as this device sees it; sent at once when online."""
            device, code = self.devices[index], self.lots[lot]
            kind, value = what
            if kind == "move":
                device.act(minute, code, type="move", location=value)
            elif kind == "transition":
                device.act(minute, code, type="transition", transition=value, reason="r")
            else:
                device.act(minute, code, type="quantity", kind="dispense", amount=value)
            self.made.append(device.outbox[-1]["id"])
            if self.online[index]:
                self._reconnect(index)

        @precondition(lambda self: any(self.last_batch))
        @rule(index=st.integers(0, 1))
        def resend(self, index: int) -> None:
            """The answer to the last batch was lost: send it again, get the same answers."""
            batch = self.last_batch[index]
            if not batch:
                return
            device = self.devices[index]
            response = run(
                client.post(
                    PUSH,
                    json={"device_id": device.name, "changes": batch},
                    headers=device.replica.who.headers,
                )
            )
            assert response.status_code == 200, response.text
            for change, result in zip(batch, response.json()["results"], strict=True):
                assert result == device.answers[change["id"]]

        def teardown(self) -> None:
            for index in (0, 1):
                if not self.online[index] or self.devices[index].outbox:
                    self.online[index] = True
                    self._reconnect(index)
            answers = {**self.devices[0].answers, **self.devices[1].answers}
            assert set(answers) == set(self.made)  # every change answered
            for answer in answers.values():
                assert answer["outcome"] in ("applied", "rejected", "conflict")
                if answer["outcome"] == "conflict":
                    assert answer["item"] is not None
            run(_check_server(db, client, admin, self.lots, self.devices))

    return OfflineSync


async def _check_server(
    db: Database, client: httpx.AsyncClient, admin: AppLogin, lots: list[str], devices: list[Device]
) -> None:
    async with db.session_scope("read") as session:
        report = await verify.verify_chains(session)
        assert report.intact, report.broken
        assert await inventory_service.recount(session) == await inventory_service.maintained(
            session
        )
        applied = (
            await session.scalars(
                select(SyncChange.change_id).where(SyncChange.outcome == "applied")
            )
        ).all()
        counted = select(Event.client_event_id, func.count()).where(
            Event.client_event_id.in_(applied), Event.type != "content_removed"
        )
        per_change = dict((await session.execute(counted.group_by(Event.client_event_id))).all())
        # An applied change that changed nothing (a move to where it is) records nothing.
        assert all(count == 1 for count in per_change.values()), per_change
    server = {}
    for lot in lots:
        item = (await client.get(f"/api/v1/items/{lot}", headers=admin.headers)).json()
        assert Decimal(item["quantity"]) >= 0
        server[lot] = (item["status"], item["location"], item["quantity"], item["version"])
    for device in devices:

        def holds(replica: Any) -> bool:
            mine = replica.of("item")
            return all(
                lot in mine
                and (mine[lot]["status"], mine[lot]["location"], mine[lot]["quantity"],
                     mine[lot]["version"]) == server[lot]
                for lot in lots
            )  # fmt: skip

        await device.replica.pull_until(client, holds)


async def test_random_offline_and_online_sequences_keep_every_promise(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    for code in PLACES:
        await create_location(client, admin, code)
    logins = [
        await logged_in(client, db, "dora", "operator"),
        await logged_in(client, db, "quinn", "supervisor"),
    ]
    machine = _machine(asyncio.get_running_loop(), client, db, admin, logins)
    await asyncio.to_thread(
        run_state_machine_as_test,
        machine,
        settings=settings(
            max_examples=8,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
