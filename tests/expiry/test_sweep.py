"""The expiry sweep: items past their expiry date move to their workflow's expired state as
system events with the reason, once, whoever runs it (API, job, CLI, two at a time)."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from qtrack.core.db import Database
from qtrack.core.state import AppState
from qtrack.events.models import Event
from qtrack.expiry import jobs as expiry_jobs
from qtrack.expiry import service
from qtrack.jobs import registry
from qtrack.jobs.models import DONE, Job
from qtrack.jobs.registry import JobContext
from qtrack.jobs.runner import Runner
from tests.accounts.test_cli import create_user, ok, qtrack
from tests.expiry.conftest import day, supply, today
from tests.factories.accounts import AppLogin
from tests.factories.items import codes_of, register
from tests.items.test_cli import fails


async def _sweep(client: httpx.AsyncClient, who: AppLogin) -> dict[str, object]:
    answer = await client.post("/api/v1/expiry/sweep", headers=who.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_the_sweep_expires_what_its_workflow_lets_it_and_reports_the_rest(
    client: httpx.AsyncClient, admin: AppLogin, kit: str
) -> None:
    old_supply = await supply(client, admin, day(-1))
    fresh_supply = await supply(client, admin, day(0))
    old_kit = (await register(client, admin, type=kit, expiry_on=day(-5)))["code"]
    # A received lot: the material workflow expires lots from quarantine on, not before.
    received = (await register(client, admin, type="material", expiry_on=day(-2)))["code"]
    done = await _sweep(client, admin)
    assert done["today"] == today().isoformat()
    expired = {e["code"]: e for e in done["expired"]}  # type: ignore[attr-defined]
    assert set(expired) == {old_supply, old_kit}
    assert expired[old_kit]["before"] == "ready"
    assert expired[old_kit]["after"] == "gone_off"
    assert expired[old_supply]["after"] == "expired"
    assert done["left"] == [
        {
            "code": received,
            "type": "material",
            "expiry_on": day(-2),
            "status": "received",
            "why": "its workflow has no way from 'received' to 'expired'",
        }
    ]
    events = await client.get(f"/api/v1/items/{old_kit}/events", headers=admin.headers)
    last = events.json()["items"][0]  # newest first
    assert last["type"] == "status_changed"
    assert last["actor"] is None  # the system
    assert last["reason"] == f"Past its expiry date ({day(-5)})"
    assert last["after"] == {"status": "gone_off", "transition": "spoil"}
    fresh = (await client.get(f"/api/v1/items/{fresh_supply}", headers=admin.headers)).json()
    assert fresh["status"] == "in_stock"
    # Idempotent: a second sweep expires nothing more and records nothing.
    again = await _sweep(client, admin)
    assert again["expired"] == []
    assert [e["code"] for e in again["left"]] == [received]  # type: ignore[attr-defined]
    events_again = await client.get(f"/api/v1/items/{old_kit}/events", headers=admin.headers)
    assert len(events_again.json()["items"]) == len(events.json()["items"])
    stats = (await client.get("/api/v1/stats", headers=admin.headers)).json()
    counted = {(r["type"], r["status"]): r["count"] for r in stats["by_type_status"]}
    assert counted[("kit", "gone_off")] == 1
    assert ("kit", "ready") not in counted


async def test_only_a_supervisor_may_run_the_sweep_on_demand(
    client: httpx.AsyncClient, operator: AppLogin
) -> None:
    refused = await client.post("/api/v1/expiry/sweep", headers=operator.headers)
    assert refused.status_code == 403


async def test_the_daily_job_is_scheduled_and_sweeps_in_batches(
    client: httpx.AsyncClient, admin: AppLogin, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert any(s.name == "expiry.sweep" for s in registry.schedules())
    codes = await codes_of(client, admin, 5, type="supply", quantity="1", expiry_on=day(-1))
    monkeypatch.setattr(service, "BATCH", 2)
    state: AppState = app.state.qtrack
    await expiry_jobs.sweep(JobContext(state, "expiry.sweep"), {})
    for code in codes:
        item = (await client.get(f"/api/v1/items/{code}", headers=admin.headers)).json()
        assert item["status"] == "expired"


@pytest.mark.postgres_only
async def test_two_sweeps_at_once_expire_each_item_once(
    client: httpx.AsyncClient, admin: AppLogin, db: Database, app: FastAPI
) -> None:
    codes = await codes_of(client, admin, 40, type="supply", quantity="1", expiry_on=day(-1))
    settings = app.state.qtrack.settings

    async def one() -> int:
        async with db.session_scope() as session:
            done = await service.sweep(session, settings, size=7)
            return len(done.expired)

    counts = await asyncio.gather(one(), one(), one())
    assert sum(counts) == len(codes)
    async with db.session_scope("read") as session:
        recorded = await session.scalar(
            select(func.count()).select_from(Event).where(Event.reason.like("Past its expiry%"))
        )
    assert recorded == len(codes)


def test_the_cli_sweeps_and_says_what_it_did(cli: CliRunner, database_url: str) -> None:
    out = ok(qtrack(cli, database_url, "expiry", "sweep"))
    assert out.strip() == f"{today().isoformat()}: 0 expired, 0 left"


def test_the_cli_lists_what_expired_and_what_expires_soon(
    cli: CliRunner, database_url: str
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    made = {}
    for name, when in (("soon", day(3)), ("gone", day(-2)), ("later", day(90))):
        made[name] = ok(
            qtrack(
                cli, database_url, "items", "register", "--type", "supply", "--quantity", "5",
                "--expiry", when, "--batch", f"B-{name}", "--as", "op",
            )
        ).strip()  # fmt: skip
    out = ok(qtrack(cli, database_url, "expiry", "list"))
    expired, expiring = out.split("expiring soon")
    assert made["gone"] in expired
    assert made["soon"] not in expired
    assert made["soon"] in expiring
    assert made["gone"] not in expiring
    assert made["later"] not in out
    assert day(3) in expiring
    assert "B-soon" in expiring
    ok(qtrack(cli, database_url, "categories", "add", "meds", "--name", "Meds"))
    narrowed = ok(qtrack(cli, database_url, "expiry", "list", "--category", "meds"))
    assert narrowed == "expired (0):\n  none\n\nexpiring soon (0):\n  none\n"
    fails(cli, database_url, "expiry", "list", "--category", "nope", code="category_not_found")


async def test_the_sweep_raises_an_alert_per_item_once(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    gone = await supply(client, admin, day(-1))
    # Left as it is (its workflow cannot expire it from here): someone must see to it.
    left = (await register(client, admin, type="material", expiry_on=day(-2)))["code"]
    await supply(client, admin, day(5))
    await _sweep(client, admin)
    await _sweep(client, admin)  # the left item is left again: no second alert
    answer = await client.get(
        "/api/v1/alerts", params={"kind": "item_expired"}, headers=admin.headers
    )
    assert answer.status_code == 200, answer.text
    alerts = {a["subject"]: a for a in answer.json()["items"]}
    assert set(alerts) == {f"item:{gone}", f"item:{left}"}
    assert alerts[f"item:{gone}"]["message"] == (
        f"{gone} (supply) expired on {day(-1)}: moved from in stock to expired"
    )
    assert alerts[f"item:{left}"]["message"] == (
        f"{left} (material) expired on {day(-2)} and is still received: "
        "its workflow has no way from 'received' to 'expired'"
    )
    async with db.session_scope("read") as session:
        raised = await session.scalar(
            select(func.count()).select_from(Job).where(Job.name == "alerts.raised")
        )
    assert raised == 2  # each goes out once as the webhook event alert.raised


async def test_what_the_sweep_expires_leaves_the_stock_on_hand(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    levels = await client.put(
        "/api/v1/stock/levels", json={"type": "supply", "reorder_level": "12"},
        headers=admin.headers,
    )  # fmt: skip
    assert levels.status_code == 200, levels.text
    await supply(client, admin, day(-1))  # 10 pieces, expired yesterday
    await supply(client, admin, day(30))  # 10 pieces, good for a month
    stock = await client.get("/api/v1/stock", headers=admin.headers)
    (row,) = [r for r in stock.json() if r["type"] == "supply" and r["location"] is None]
    assert (row["on_hand"], row["state"]) == ("20", "ok")
    await _sweep(client, admin)
    stock = await client.get("/api/v1/stock", headers=admin.headers)
    (row,) = [r for r in stock.json() if r["type"] == "supply" and r["location"] is None]
    assert (row["on_hand"], row["state"]) == ("10", "low")
    low = await client.get("/api/v1/alerts", params={"kind": "stock_low"}, headers=admin.headers)
    assert [a["subject"] for a in low.json()["items"]] == ["stock:supply"]


def test_the_cli_says_which_lot_to_use_first(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    codes = {}
    for batch, when in (("LATE", day(40)), ("EARLY", day(20))):
        codes[batch] = ok(
            qtrack(
                cli, database_url, "items", "register", "--type", "supply", "--quantity", "5",
                "--expiry", when, "--batch", batch, "--as", "op",
            )
        ).strip()  # fmt: skip
    out = ok(qtrack(cli, database_url, "expiry", "fefo", "--type", "supply"))
    first, then = out.splitlines()[1:]
    assert first.split()[:4] == ["first", codes["EARLY"], day(20), "EARLY"]
    assert then.split()[:4] == ["then", codes["LATE"], day(40), "LATE"]
    assert ok(qtrack(cli, database_url, "expiry", "fefo", "--type", "bag")) == "no live lot\n"
    fails(cli, database_url, "expiry", "fefo", code="validation_error")
    fails(cli, database_url, "expiry", "fefo", "--gtin", "12ab", code="validation_error")
    fails(cli, database_url, "expiry", "fefo", "--type", "nope", code="item_type_not_found")


async def test_the_sweep_is_queued_on_demand_as_the_durable_job(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin, app: FastAPI, db: Database
) -> None:
    gone = await supply(client, admin, day(-1))
    url = "/api/v1/expiry/sweep?background=true"
    assert (await client.post(url, headers=operator.headers)).status_code == 403
    queued = await client.post(url, headers=admin.headers)
    assert queued.status_code == 202, queued.text
    assert queued.json()["job"] == "expiry.sweep"
    job_id = queued.json()["job_id"]
    # Asked again while it waits: the same job, not a second one.
    again = await client.post(url, headers=admin.headers)
    assert again.json()["job_id"] == job_id
    bad = await client.post("/api/v1/expiry/sweep?background=perhaps", headers=admin.headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")
    # Nothing moved yet: the job does it, as the nightly one.
    item = (await client.get(f"/api/v1/items/{gone}", headers=admin.headers)).json()
    assert item["status"] == "in_stock"
    runner = Runner(app.state.qtrack, kind="worker", concurrency=1)
    for claimed in await runner.claim(1, job_id=job_id):
        await runner.execute(claimed)
    async with db.session_scope("read") as session:
        job = await session.get_one(Job, job_id)
        assert (job.name, job.status) == ("expiry.sweep", DONE)
    item = (await client.get(f"/api/v1/items/{gone}", headers=admin.headers)).json()
    assert item["status"] == "expired"
    alerts = await client.get(
        "/api/v1/alerts", params={"kind": "item_expired"}, headers=admin.headers
    )
    assert [a["subject"] for a in alerts.json()["items"]] == [f"item:{gone}"]
    # Once it is done, asking again queues a new one.
    later = await client.post(url, headers=admin.headers)
    assert later.json()["job_id"] != job_id


def test_the_cli_queues_the_sweep(cli: CliRunner, database_url: str) -> None:
    out = ok(qtrack(cli, database_url, "expiry", "sweep", "--background"))
    assert out.startswith("queued job ")
    assert out.endswith(" (expiry.sweep)\n")
    listed = ok(qtrack(cli, database_url, "jobs", "list"))
    assert "expiry.sweep" in listed
