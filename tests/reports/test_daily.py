"""The end-of-day summary: its counts, files and permissions, and its e-mail through a real
SMTP server."""

import csv
import io
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlalchemy import func, select

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.jobs.models import Job
from qtrack.jobs.registry import JobContext
from qtrack.reports import jobs as reports_jobs
from tests.conftest import make_settings
from tests.factories.accounts import web_login
from tests.pdftext import BEYOND_LATIN_1, pdf_text
from tests.shipments.conftest import Team, post, register, sealed_bag
from tests.timing import clear_of_midnight

API = "/api/v1/reports/daily"


class Inbox:
    """An SMTP handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        self.messages.append((list(envelope.rcpt_tos), raw))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[int, Inbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@pytest.fixture
def settings(database_url: str, inbox: tuple[int, Inbox]) -> Settings:
    return make_settings(
        database_url,
        timezone="Europe/Paris",
        smtp_host="127.0.0.1",
        smtp_port=inbox[0],
        smtp_tls="none",
        smtp_sender="qtrack@example.com",
        daily_report_recipients=["boss@example.com", "ops@example.com"],
        daily_report_at="18:00",
    )


async def _a_busy_day(client: httpx.AsyncClient, team: Team, consignee: str = "ACME") -> str:
    bag = await sealed_bag(client, team.operator, contents=("2", "3"))
    await register(client, team.operator, type="material")
    ship = (await post(client, "/api/v1/shipments", team.biller, {"consignee": consignee})).json()
    url = f"/api/v1/shipments/{ship['id']}"
    await post(client, f"{url}/lines", team.biller, {"code": bag, "expected_weight_kg": "5"})
    refused = await post(client, f"{url}/scan", team.biller, {"data": "BAG-999999"})
    assert refused.json()["outcome"] == "refused"
    await post(client, f"{url}/issue", team.biller)
    sent = await post(client, f"{url}/dispatch", team.dispatcher)
    assert sent.status_code == 200, sent.text
    return str(ship["number"])


async def test_summary_counts_the_day(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    clear_of_midnight(settings.zone)  # the day is busy on the date the test asks for
    number = await _a_busy_day(client, team)
    today = datetime.now(settings.zone).date()
    assert (await client.get(API, headers=team.viewer.headers)).status_code == 403
    assert (await client.get(API, headers=team.biller.headers)).status_code == 403
    body = (await client.get(f"{API}?date={today}", headers=team.admin.headers)).json()
    assert body["timezone"] == "Europe/Paris"
    assert body["registered"] == 4  # a bag, two lots in it, one more lot
    states = {c["key"]: c["count"] for c in body["status_changes"]}
    assert states == {"sealed": 1, "dispatched": 1}
    assert (body["shipments_issued"], body["shipments_dispatched"]) == (1, 1)
    assert body["shipments"][0]["number"] == number
    assert (body["dispatched_containers"], body["dispatched_items"]) == (1, 2)
    assert float(body["dispatched_gross_kg"]) == 5.5
    assert [float(s["difference_kg"]) for s in body["weight_differences"]] == [0.5]
    assert body["weight_differences"][0]["containers_off"] == 1
    assert body["refused_scans"] == 1
    assert body["scans"] == 2  # one container added on the bill's screen, one refused
    assert body["top_people"][0] == {"key": "op", "count": 7}
    other = (
        await client.get(f"{API}?date={today - timedelta(days=1)}", headers=team.admin.headers)
    ).json()
    assert (other["events"], other["shipments_dispatched"], other["top_people"]) == (0, 0, [])
    csv_text = (await client.get(f"{API}.csv?date={today}", headers=team.admin.headers)).text
    assert f"dispatched,{number},ACME; 1 containers; 5.500 kg" in csv_text
    pdf = await client.get(f"{API}.pdf?date={today}", headers=team.admin.headers)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    bad = await client.get(f"{API}?date=2026-13-01", headers=team.admin.headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_error")
    unknown = await client.get(f"{API}?site=NOWHERE", headers=team.admin.headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "location_not_found")


async def test_a_heavy_bag_and_a_light_one_are_both_weight_differences(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    """Two bags half a kilo off either way add up to nothing over the bill: the summary still
    lists the bill, with the two containers that differ."""
    clear_of_midnight(settings.zone)
    heavy = await sealed_bag(client, team.operator, contents=("2",))  # 2.5 kg
    light = await sealed_bag(client, team.operator, contents=("3",))  # 3.5 kg
    right = await sealed_bag(client, team.operator, contents=("1",))  # 1.5 kg
    ship = (await post(client, "/api/v1/shipments", team.biller, {"consignee": "ACME"})).json()
    url = f"/api/v1/shipments/{ship['id']}"
    for bag, expected in ((heavy, "2"), (light, "4"), (right, "1.5")):
        line = {"code": bag, "expected_weight_kg": expected}
        assert (await post(client, f"{url}/lines", team.biller, line)).status_code == 201
    await post(client, f"{url}/issue", team.biller)
    assert (await post(client, f"{url}/dispatch", team.dispatcher)).status_code == 200
    today = datetime.now(settings.zone).date()
    body = (await client.get(f"{API}?date={today}", headers=team.admin.headers)).json()
    (off,) = body["weight_differences"]
    assert (off["number"], float(off["difference_kg"]), off["containers_off"]) == (
        ship["number"], 0.0, 2,
    )  # fmt: skip
    got = await client.get(f"{API}.csv?date={today}", headers=team.admin.headers)
    rows = {(section, what): value for section, what, value in csv.reader(io.StringIO(got.text))}
    assert rows["weight differences", ship["number"]] == "'+0.000 kg; 2 containers differ"
    await web_login(client, "boss")
    page = await client.get(f"/reports/daily?date={today}")
    assert f"{ship['number']}</a>: +0.000 kg; 2 containers differ" in page.text


async def test_summary_csv_runs_no_formula(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    """A consignee typed as a formula, and a signed weight difference, reach a spreadsheet
    as text: each cell that a spreadsheet would run starts with an apostrophe."""
    clear_of_midnight(settings.zone)
    consignee = '=HYPERLINK("http://evil.example/","open")'
    number = await _a_busy_day(client, team, consignee=consignee)
    today = datetime.now(settings.zone).date()
    got = await client.get(f"{API}.csv?date={today}", headers=team.admin.headers)
    rows = {(section, what): value for section, what, value in csv.reader(io.StringIO(got.text))}
    assert rows["dispatched", number] == f"'{consignee}; 1 containers; 5.500 kg"
    assert rows["weight differences", number] == "'+0.500 kg; 1 container differs"
    assert rows["activity", "events"].isdigit()  # figures stay numbers


async def test_summary_pdf_prints_other_alphabets(
    client: httpx.AsyncClient, team: Team, settings: Settings
) -> None:
    clear_of_midnight(settings.zone)
    number = await _a_busy_day(client, team, consignee=BEYOND_LATIN_1)
    today = datetime.now(settings.zone).date()
    pdf = await client.get(f"{API}.pdf?date={today}", headers=team.admin.headers)
    assert pdf.status_code == 200
    assert f"{number} {BEYOND_LATIN_1}; 1 containers" in pdf_text(pdf.content)


async def test_mail_is_sent_once_a_day_after_the_configured_time(
    client: httpx.AsyncClient,
    team: Team,
    app: FastAPI,
    db: Database,
    settings: Settings,
    inbox: tuple[int, Inbox],
) -> None:
    clear_of_midnight(settings.zone)
    number = await _a_busy_day(client, team)
    ctx = JobContext(state=app.state.qtrack, name="reports.daily")
    today = datetime.now(settings.zone).date()
    local = datetime.combine(today, datetime.min.time(), tzinfo=settings.zone)
    # Before 18:00 the last day due is yesterday's: no worker mailed it (this database had
    # none), so it goes now, late, once however many ticks look.
    for minutes in (50, 55):
        before = local.replace(hour=17, minute=minutes).astimezone(UTC).isoformat()
        await reports_jobs.daily_tick(ctx, {"due_at": before})
    async with db.session_scope("read") as session:
        late = await session.scalars(select(Job.payload).where(Job.name == reports_jobs.SEND))
        assert list(late) == [{"date": (today - timedelta(days=1)).isoformat()}]
    for minutes in (0, 5, 10):  # three ticks after 18:00, from any number of workers
        at = local.replace(hour=18) + timedelta(minutes=minutes)
        await reports_jobs.daily_tick(ctx, {"due_at": at.astimezone(UTC).isoformat()})
    async with db.session_scope("read") as session:
        jobs: list[Any] = list(
            (
                await session.execute(
                    select(Job.payload, Job.dedupe_key).where(
                        Job.name == reports_jobs.SEND, Job.dedupe_key == today.isoformat()
                    )
                )
            ).all()
        )
        assert (
            await session.scalar(
                select(func.count()).select_from(Job).where(Job.name == reports_jobs.SEND)
            )
            == 2  # yesterday's, late, and today's
        )
    assert jobs[0][0] == {"date": today.isoformat()}
    assert inbox[1].messages == []
    await reports_jobs.send_daily(ctx, jobs[0][0])
    ((recipients, raw),) = inbox[1].messages
    assert recipients == ["boss@example.com", "ops@example.com"]
    mail = message_from_bytes(raw)
    assert mail["Subject"] == f"qtrack daily summary {today.isoformat()}"
    assert mail["From"] == "qtrack@example.com"
    parts = {p.get_content_type(): p for p in mail.walk()}
    body = parts["text/plain"].get_payload(decode=True)
    assert isinstance(body, bytes)
    assert number in body.decode()
    assert "application/pdf" in parts
    assert "text/csv" in parts
