"""Backups taken while the server writes, restored into a new database: every acknowledged
event is there, every chain intact; and what restore refuses."""

import asyncio
import io
import tarfile
import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from qtrack import migrations
from qtrack.backup import envelope, service
from qtrack.backup.engines import DatabaseNotEmpty
from qtrack.backup.envelope import BackupInvalid
from qtrack.backup.service import BackupTooNew, WrongDatabaseKind
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.events.models import Event
from tests.conftest import make_settings
from tests.factories.accounts import AppLogin
from tests.factories.items import codes_of
from tests.factories.locations import create_location


async def hashes(url: str) -> set[str]:
    """Every event's hash in a database."""
    db = Database(make_settings(url), pooled=False)
    try:
        async with db.session_scope("read") as session:
            return set((await session.scalars(select(Event.hash))).all())
    finally:
        await db.dispose()


async def test_backup_under_write_load_restores_every_acknowledged_event(
    client: httpx.AsyncClient,
    admin: AppLogin,
    settings: Settings,
    database_url: str,
    other_empty_url: str,
    tmp_path: Path,
) -> None:
    await create_location(client, admin, "A")
    await create_location(client, admin, "B")
    codes = await codes_of(client, admin, 4, location="A")
    acked: list[tuple[float, str]] = []  # when the answer came, the event it acknowledged
    stop, warm, went_on = asyncio.Event(), asyncio.Event(), asyncio.Event()
    finished = float("inf")

    async def writer(code: str) -> None:
        place = "A"
        while not stop.is_set():
            place = "B" if place == "A" else "A"
            moved = await client.post(
                f"/api/v1/items/{code}/move", json={"location": place}, headers=admin.headers
            )
            assert moved.status_code == 200, moved.text
            at = time.monotonic()
            acked.extend((at, event["hash"]) for event in moved.json()["events"])
            if len(acked) >= 40:
                warm.set()
            if len([a for a in acked if a[0] > finished]) >= 20:  # writes went on after it
                went_on.set()

    writers = [asyncio.create_task(writer(code)) for code in codes]
    await warm.wait()
    started = time.monotonic()
    backup = tmp_path / "site.qtrack"
    made = await service.backup(settings, backup)
    finished = time.monotonic()
    await went_on.wait()
    stop.set()
    await asyncio.gather(*writers)

    restored = await service.restore(make_settings(other_empty_url), backup)
    assert restored.intact, (restored.chains.broken, restored.checkpoints.problems)
    assert restored.migrated_from is None
    found = await hashes(other_empty_url)
    before = {h for at, h in acked if at < started}
    assert before <= found  # every event acknowledged before the backup began
    assert found <= await hashes(database_url)  # and nothing the server never wrote
    assert {h for at, h in acked if at > finished}.isdisjoint(found)
    assert len(found) == made.manifest.events == restored.chains.events
    assert made.manifest.items == restored.contents.items == 4


async def test_restore_refuses_a_database_that_holds_data_unless_forced(
    client: httpx.AsyncClient, admin: AppLogin, settings: Settings, tmp_path: Path
) -> None:
    await codes_of(client, admin, 2)
    backup = tmp_path / "a.qtrack"
    await service.backup(settings, backup)
    await codes_of(client, admin, 3)  # the live database moves on
    with pytest.raises(DatabaseNotEmpty) as refused:
        await service.restore(settings, backup)
    assert "5 items" in refused.value.message
    restored = await service.restore(settings, backup, force=True)
    assert restored.intact
    assert restored.contents.items == 2


async def test_a_backup_of_an_older_schema_is_migrated_forward(
    empty_database_url: str, other_empty_url: str, tmp_path: Path
) -> None:
    older = migrations.revisions()[-2]
    await asyncio.to_thread(migrations.upgrade, empty_database_url, older)
    backup = tmp_path / "old.qtrack"
    made = await service.backup(make_settings(empty_database_url), backup)
    assert made.manifest.schema_revision == older
    restored = await service.restore(make_settings(other_empty_url), backup)
    assert (restored.migrated_from, restored.migrated_to) == (older, migrations.head_revision())
    assert restored.contents.revision == migrations.head_revision()
    assert restored.intact


def rewrite(source: Path, target: Path, *, manifest: dict[str, object] | None = None,
            payload: bytes | None = None) -> None:  # fmt: skip
    """A copy of a backup with its manifest fields or its payload bytes replaced."""
    with tarfile.open(source) as tar:
        old = orjson.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        name = old["payload"]
        data = payload if payload is not None else tar.extractfile(name).read()  # type: ignore[union-attr]
    with tarfile.open(target, "w") as tar:
        for member, content in (("manifest.json", orjson.dumps({**old, **(manifest or {})})),
                                (name, data)):  # fmt: skip
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        ({"manifest": {"schema_revision": "9999"}}, BackupTooNew, "qtrack 0.1.0 or newer"),
        ({"manifest": {"format_version": 2}}, BackupInvalid, "format version 2"),
        ({"manifest": {"format": "zip"}}, BackupInvalid, "not a qtrack backup"),
        ({"payload": b"not the database"}, BackupInvalid, "damaged or altered"),
    ],
)
async def test_restore_refuses_a_damaged_or_foreign_backup(
    settings: Settings,
    other_empty_url: str,
    tmp_path: Path,
    change: dict[str, object],
    error: type[QtrackError],
    says: str,
) -> None:
    good = tmp_path / "good.qtrack"
    await service.backup(settings, good)
    bad = tmp_path / "bad.qtrack"
    rewrite(good, bad, **change)  # type: ignore[arg-type]
    with pytest.raises(error) as refused:
        await service.restore(make_settings(other_empty_url), bad)
    assert says in refused.value.message
    assert (await service.restore(make_settings(other_empty_url), good)).intact


async def test_restore_refuses_a_backup_of_the_other_kind_of_database(
    settings: Settings, tmp_path: Path, backend: str
) -> None:
    backup = tmp_path / "b.qtrack"
    await service.backup(settings, backup)
    other = "postgresql" if backend == "sqlite" else "sqlite"
    moved = tmp_path / "other.qtrack"
    rewrite(backup, moved, manifest={"database": other, "payload": envelope.PAYLOADS[other]})
    with pytest.raises(WrongDatabaseKind):
        await service.restore(settings, moved, force=True)
    (tmp_path / "junk.qtrack").write_bytes(b"junk")
    with pytest.raises(BackupInvalid):
        await service.restore(settings, tmp_path / "junk.qtrack", force=True)
    # Cut short inside its payload (a copy that stopped): tarfile's ReadError was not said so.
    whole = backup.read_bytes()
    (tmp_path / "cut.qtrack").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BackupInvalid, match="not a whole qtrack backup"):
        await service.restore(settings, tmp_path / "cut.qtrack", force=True)


async def test_two_backups_into_one_file_at_once_leave_one_whole_backup(
    client: httpx.AsyncClient,
    admin: AppLogin,
    settings: Settings,
    other_empty_url: str,
    tmp_path: Path,
) -> None:
    await codes_of(client, admin, 3)
    folder = tmp_path / "backups"
    folder.mkdir()
    target = folder / "nightly.qtrack"

    made = await asyncio.gather(service.backup(settings, target), service.backup(settings, target))

    assert [m.manifest.items for m in made] == [3, 3]
    assert [p.name for p in folder.iterdir()] == ["nightly.qtrack"]
    restored = await service.restore(make_settings(other_empty_url), target)
    assert restored.intact
    assert restored.contents.items == 3
