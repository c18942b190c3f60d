"""The event table's monthly partitions on PostgreSQL: the migration that converts a table
with rows, events landing in their month, the job that makes months ahead, detaching the
oldest month, and every chain still verifying across partitions and archives."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from qtrack import migrations
from qtrack.audit import service as audit_service
from qtrack.audit.verify import verify_checkpoints
from qtrack.core.clock import FakeClock
from qtrack.core.db import Database
from qtrack.core.state import AppState
from qtrack.events import partitions
from qtrack.history.verify import verify_chains, verify_item_chain
from qtrack.jobs import registry
from qtrack.jobs import service as jobs_service
from qtrack.jobs.models import Job
from qtrack.jobs.runner import Runner
from tests.audit.history import edit_in, seed_into
from tests.conftest import make_settings
from tests.test_cli import invoke

SEPT, OCT, NOV = (datetime(2026, month, 15, 9, 0, tzinfo=UTC) for month in (9, 10, 11))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(make_settings(database_url), pooled=False)
    yield database
    await database.dispose()


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def _where(db: Database) -> dict[str, int]:
    """How many events each partition holds."""
    rows = await _rows(db, "SELECT tableoid::regclass::text, count(*) FROM event GROUP BY 1")
    return dict(rows)


async def _months_of_history(db: Database) -> list[str]:
    """Three lots made in September; the first edited in October and November, the second in
    November, the third never again (while `event` may or may not be partitioned)."""
    with FakeClock(SEPT):
        codes = await seed_into(db, lots=3, events=1)
    with FakeClock(OCT):
        await edit_in(db, codes[0], 2)
    with FakeClock(NOV):
        await edit_in(db, codes[1], 1)
        await edit_in(db, codes[0], 1)
    return codes


async def _tamper(db: Database, sql: str) -> None:
    """What only the database's owner could do: switch the guards off and change a row."""
    async with db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE event DISABLE TRIGGER USER"))
        await conn.execute(text(sql))


async def _verified(db: Database) -> tuple[int, list[str]]:
    async with db.session_scope("read") as session:
        report = await verify_chains(session)
    return report.events, report.broken


@pytest.mark.postgres_only
async def test_the_migration_converts_a_table_with_rows_in_several_months(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(migrations.downgrade_on, "0014")
        # Today's code writes labels without the token column that 0020 removed, and the
        # history below is written by today's code: let that column be empty until 0020.
        await conn.execute(text("ALTER TABLE item_label ALTER COLUMN token DROP NOT NULL"))
    async with db.session_scope("read") as session:
        assert not await partitions.is_partitioned(session)
    await _months_of_history(db)
    before = await _rows(db, "SELECT id, item_id, seq, txid, recorded_at, hash FROM event")

    async with db.engine.begin() as conn:
        await conn.run_sync(migrations.upgrade_on, "head")

    async with db.session_scope("read") as session:
        assert await partitions.is_partitioned(session)
        names = [p.name for p in await partitions.list_partitions(session)]
    # From the oldest event's month to three months past this one, and the default last.
    assert names[:3] == ["event_y2026m09", "event_y2026m10", "event_y2026m11"]
    assert names[-1] == "event_default"
    assert await _where(db) == {"event_y2026m09": 6, "event_y2026m10": 2, "event_y2026m11": 2}
    # Every row as it was, its id, transaction id and hash included: the change feed's
    # positions (txid, id) and so its order and every consumer's cursor stay as they were.
    after = await _rows(db, "SELECT id, item_id, seq, txid, recorded_at, hash FROM event")
    assert sorted(after) == sorted(before)
    assert await _verified(db) == (10, [])
    # New events take ids after the copied ones, and the guards hold on every partition.
    with FakeClock(NOV):
        await edit_in(db, (await _rows(db, "SELECT code FROM item ORDER BY id"))[0][0], 1)
    assert max(r[0] for r in await _rows(db, "SELECT id FROM event")) == 11
    for table in ("event", "event_y2026m09"):
        with pytest.raises(DBAPIError, match="append-only"):
            await _rows(db, f"DELETE FROM {table}")  # noqa: S608 (a constant)
        with pytest.raises(DBAPIError, match="append-only"):
            await _rows(db, f"TRUNCATE {table}")


@pytest.mark.postgres_only
async def test_each_event_lands_in_its_months_partition(db: Database) -> None:
    async with db.session_scope() as session:
        created = (await partitions.create_ahead(session, months=2, now=SEPT)).created
    # December 2026 and on came with the migration (this month and three ahead).
    assert created == ["event_y2026m09", "event_y2026m10", "event_y2026m11"]
    await _months_of_history(db)
    with FakeClock(datetime(2031, 1, 2, tzinfo=UTC)):  # a clock far off: no month for it
        await edit_in(db, (await _rows(db, "SELECT code FROM item ORDER BY id"))[1][0], 1)
    assert await _where(db) == {
        "event_y2026m09": 6,
        "event_y2026m10": 2,
        "event_y2026m11": 2,
        "event_default": 1,
    }
    # The (item_id, seq) key holds within a partition.
    with pytest.raises(DBAPIError, match="event_y2026m10_item_id_seq_key"):
        await _rows(
            db,
            "INSERT INTO event (item_id, seq, type, recorded_at, before, after, hash) "
            "SELECT item_id, seq, type, recorded_at, before, after, hash FROM event "
            "WHERE recorded_at >= '2026-10-01' AND recorded_at < '2026-11-01' LIMIT 1",
        )
    assert await _verified(db) == (11, [])


@pytest.mark.postgres_only
async def test_the_daily_job_creates_partitions_ahead(app: FastAPI) -> None:
    state: AppState = app.state.qtrack
    assert "events.partitions" in {s.name for s in registry.schedules()}
    runner = Runner(state, kind="worker", concurrency=1)
    with FakeClock(datetime(2027, 6, 3, tzinfo=UTC)):
        async with state.db.session_scope() as session:
            await jobs_service.enqueue(session, "events.partitions")
        assert await runner.run_until_idle() >= 1
    async with state.db.session_scope("read") as session:
        names = {p.name for p in await partitions.list_partitions(session)}
    # June and QTRACK_EVENT_PARTITIONS_AHEAD (3) months after it.
    assert {"event_y2027m06", "event_y2027m07", "event_y2027m08", "event_y2027m09"} <= names
    assert "event_y2027m10" not in names
    async with state.db.session_scope() as session:  # nothing missing: nothing made
        made = await partitions.create_ahead(session, months=3, now=datetime.now(UTC))
    assert made == partitions.Made([], [])


@pytest.mark.postgres_only
async def test_a_month_whose_events_went_to_the_default_is_reported_and_the_rest_made(
    app: FastAPI,
) -> None:
    state: AppState = app.state.qtrack
    far = datetime(2031, 1, 2, tzinfo=UTC)
    with FakeClock(far):  # no partition for January 2031: the event lands in the default
        await seed_into(state.db, lots=1, events=0)
        async with state.db.session_scope() as session:
            made = await partitions.create_ahead(session, months=1)
        assert made == partitions.Made(["event_y2031m02"], ["event_y2031m01"])
        # The job says so (and keeps what it made): it fails, to be seen in /admin/jobs.
        async with state.db.session_scope() as session:
            job_id = await jobs_service.enqueue(session, "events.partitions")
        await Runner(state, kind="worker", concurrency=1).run_until_idle()
    async with state.db.session_scope("read") as session:
        job = await session.get(Job, job_id)
        names = {p.name for p in await partitions.list_partitions(session)}
    assert job is not None
    assert (job.last_error or "").startswith("PartitionsBlocked: ")
    assert "event_y2031m01: their events went to event_default" in (job.last_error or "")
    assert {"event_y2031m02", "event_y2031m03", "event_y2031m04"} <= names
    assert "event_y2031m01" not in names
    assert await _where(state.db) == {"event_default": 1}


@pytest.mark.postgres_only
async def test_detaching_the_oldest_month_keeps_every_chain_verifiable(db: Database) -> None:
    async with db.session_scope() as session:
        await partitions.create_ahead(session, months=2, now=SEPT)
    with FakeClock(SEPT):
        codes = await seed_into(db, lots=3, events=1)
        async with db.session_scope() as session:  # every head it signs is in September
            assert (await audit_service.create_checkpoint(session, db.settings)).events == 6
    with FakeClock(OCT):
        await edit_in(db, codes[0], 2)
    with FakeClock(NOV):
        await edit_in(db, codes[1], 1)
        await edit_in(db, codes[0], 1)

    async with db.session_scope() as session:
        with pytest.raises(partitions.PartitionInUse, match="oldest month first"):
            await partitions.detach(session, "event_y2026m10")
    async with db.session_scope() as session:
        with pytest.raises(partitions.PartitionInUse, match="default partition"):
            await partitions.detach(session, "event_default")
    # The checkpoint covers up to event #6: an older cutoff refuses, and undoes the detach.
    with pytest.raises(partitions.PartitionInUse, match="after the latest checkpoint"):
        async with db.session_scope() as session:
            await partitions.detach(session, "event_y2026m09", checkpointed_upto=5, now=NOV)
    async with db.session_scope() as session:
        archive = await partitions.detach(session, "event_y2026m09", checkpointed_upto=6, now=NOV)
    assert (archive.events, archive.first_id, archive.last_id) == (6, 1, 6)
    assert "event_y2026m09" not in await _where(db)
    # Still in the database as a plain table, still append-only, for the operator to dump.
    assert (await _rows(db, "SELECT count(*) FROM event_y2026m09"))[0][0] == 6
    with pytest.raises(DBAPIError, match="append-only"):
        await _rows(db, "DELETE FROM event_y2026m09")

    # The chains go on from the archive: the third lot lives there alone now, and the
    # checkpoint's heads are all archived.
    assert await _verified(db) == (4, [])
    async with db.session_scope("read") as session:
        for code in codes:
            item_id = (await _rows(db, "SELECT id FROM item WHERE code = :c", c=code))[0][0]
            assert (await verify_item_chain(session, item_id)).intact, code
        assert (await verify_checkpoints(session)).problems == []
    with FakeClock(NOV):
        async with db.session_scope() as session:
            await audit_service.create_checkpoint(session, db.settings)
    async with db.session_scope("read") as session:
        assert (await verify_checkpoints(session)).problems == []

    # A break right after the archive is still caught: the first lot's first October event
    # no longer links to its last September one.
    await _tamper(
        db,
        "UPDATE event SET prev_hash = repeat('0', 64) WHERE seq = 3 AND item_id = "
        "(SELECT min(id) FROM item)",
    )
    _, broken = await _verified(db)
    assert broken
    assert "(seq 3) does not link to the event before it" in broken[0]


@pytest.mark.postgres_only
def test_the_cli_lists_creates_and_detaches(database_url: str) -> None:
    cli = CliRunner()
    env = {"QTRACK_DATABASE_URL": database_url}
    this_month = partitions.month_start(datetime.now(UTC))
    current = partitions.partition_name(this_month)
    result = invoke(cli, ["db", "partitions", "list"], **env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith(f"{current}  {this_month:%Y-%m-%d} 00:00  ")
    assert lines[-1].startswith("event_default   *")

    result = invoke(cli, ["db", "partitions", "create-ahead", "--months", "5"], **env)
    assert result.exit_code == 0, result.output
    made = [partitions.partition_name(partitions.add_months(this_month, n)) for n in (4, 5)]
    assert result.output.strip() == f"created {', '.join(made)}"
    result = invoke(cli, ["db", "partitions", "create-ahead"], **env)
    assert result.output.strip() == "every partition is there"

    result = invoke(cli, ["db", "partitions", "detach", current], **env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: partition_in_use: "), result.stderr
    assert "this month's or a later one" in result.stderr


def test_sqlite_has_no_partitions_and_the_job_leaves_it_alone(
    backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's answer")
    result = invoke(CliRunner(), ["db", "partitions", "list"], QTRACK_DATABASE_URL=database_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: not_partitioned: "), result.stderr


async def test_the_job_does_nothing_on_sqlite(backend: str, app: FastAPI) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's answer")
    state: AppState = app.state.qtrack
    async with state.db.session_scope() as session:
        job_id = await jobs_service.enqueue(session, "events.partitions")
    assert await Runner(state, kind="worker", concurrency=1).run_until_idle() == 1
    async with state.db.session_scope("read") as session:
        job = await session.get(Job, job_id)
    assert job is not None
    assert (job.status, job.last_error) == ("done", None)
