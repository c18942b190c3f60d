"""The bulk loader writes exactly what `register_items` writes, all or nothing, gap-free."""

import asyncio
import json
import pickle
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from qtrack.accounts.principal import Principal
from qtrack.accounts.service import get_user
from qtrack.core import tabular
from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.history import verify
from qtrack.inventory import service as inventory_service
from qtrack.item_types import service as item_types
from qtrack.item_types.models import ItemType
from qtrack.items import bulk_load, bulk_rows, create, importer
from qtrack.items.models import Item
from qtrack.items.schemas import ItemCreate
from qtrack.signing import keys, tokens
from qtrack.signing.models import ItemLabel
from tests.accounts.test_cli import create_user, in_db
from tests.conftest import make_settings
from tests.items.test_cli import add_locations

# Every column the file may have, values COPY must escape (tab, backslash, newline, quotes),
# numbers written in several ways, GTINs that get zero-filled, attributes under a schema.
MIXED = (
    "type,name,location,batch,serial,gtin,expiry_on,quantity,weight_kg,attributes\n"
    "material,Lactose monohydrate,WH-A,B-17,,,2027-03-31,25,,\n"
    'material,"Talc\tgrade ""A"" \\ fine",wh-b,T-9,S-1,4012345000009,,2.50,,\n'
    'bag,"Outbound\nbag",WH-A,,,,,,1.2,"{""note"": ""a\\\\b\\tc"", ""n"": 1.5}"\n'
    'supply,Gloves M,,,,,2028-01-31,100,,"{""size"": ""M""}"\n'
    "material,Crème brûlée base,,LOT-Ä,,,2029-12-01,0.000001,,\n"
    "bag,,,,,,,,,\n"
)


def principal(user: Any) -> Principal:
    return Principal(user=user, permissions=frozenset(), via="cli")


async def _prepare(session: AsyncSession) -> None:
    # The signing key exists before any import (one rolled back must not take key id 1).
    await keys.create_first_key(session, make_settings("sqlite+aiosqlite://"))
    schema = {
        "type": "object",
        "properties": {"size": {"enum": ["S", "M", "L"]}},
        "additionalProperties": False,
    }
    await item_types.update_item_type(session, key="supply", changes={"attribute_schema": schema})


@pytest.fixture
def floor(cli: CliRunner, database_url: str) -> str:
    """An operator, two warehouses, and supplies whose attributes follow a schema."""
    create_user(cli, database_url, "op", "--role", "operator")
    add_locations(cli, database_url)
    in_db(database_url, _prepare)
    return database_url


def _columns(row: Any, skip: set[str]) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


async def _written(session: AsyncSession) -> dict[str, Any]:
    """Everything an import wrote, by item code, without ids and times (and what covers
    them: the event hash and the label token, which are checked on their own)."""
    items = (await session.scalars(select(Item).order_by(Item.code))).all()
    code_of = {item.id: item.code for item in items}
    events = (await session.scalars(select(Event).order_by(Event.id))).all()
    labels = (await session.scalars(select(ItemLabel).order_by(ItemLabel.id))).all()
    per_type = await session.execute(select(ItemType.key, ItemType.last_seq))
    return {
        "items": [
            _columns(i, {"id", "created_at", "updated_at", "last_event_hash"}) for i in items
        ],
        "events": [
            (code_of[e.item_id], _columns(e, {"id", "item_id", "recorded_at", "hash", "txid"}))
            for e in events
        ],
        "labels": [
            (code_of[lb.item_id], _columns(lb, {"id", "item_id", "token", "issued_at"}))
            for lb in labels
        ],
        "counts": await inventory_service.maintained(session),
        "last_seq": {row.key: row.last_seq for row in per_type},
    }


async def _import(url: str, path: Path, *, commit: bool, workers: int = 0) -> dict[str, Any]:
    """Import a file in one session (committed or rolled back); what it wrote."""
    db = Database(make_settings(url), pooled=False)
    try:
        async with db.sessionmaker("write")() as session:
            actor = principal(await get_user(session, "op"))
            table = tabular.open_table(path, max_unpacked=1 << 30)
            await bulk_load.import_items(
                session, db.settings, table=table, fields=table.header, actor=actor, workers=workers
            )
            written = await _written(session)
            await (session.commit() if commit else session.rollback())
            return written
    finally:
        await db.dispose()


async def _through_register_items(url: str, path: Path) -> dict[str, Any]:
    """The reference: the file's rows through `items.service.register_items`, rolled back
    (so the codes are free again); what it wrote."""
    db = Database(make_settings(url), pooled=False)
    try:
        async with db.sessionmaker("write")() as session:
            actor = principal(await get_user(session, "op"))
            types, locations, _archived = await importer.known_types_and_locations(session)
            table = tabular.open_table(path, max_unpacked=1 << 30)
            header, rows = table.header, importer.read_rows(table, table.header)
            specs = []
            for line, cells in rows:
                spec, problems = importer.check_row(
                    line, importer.row_of(header, cells), types, locations
                )
                assert spec is not None, problems
                assert not problems
                specs.append(spec)
            await create.register_items(session, specs=specs, actor=actor, settings=db.settings)
            written = await _written(session)
            await session.rollback()
            return written
    finally:
        await db.dispose()


async def _check_chains_labels_counts(session: AsyncSession) -> tuple[int, int]:
    """Every chain verifies, every label verifies, the counts match a GROUP BY."""
    report = await verify.verify_chains(session)
    assert report.intact, report.broken
    keys.forget_cached_keys()  # another test's database may have had a key 1 as well
    labels = (await session.scalars(select(ItemLabel))).all()
    sealed_with = make_settings("sqlite+aiosqlite://")  # the secret `_prepare` sealed the key with
    for label in labels:
        verdict = await tokens.verify(
            session, await tokens.label_token(session, sealed_with, label)
        )
        assert (verdict.status, verdict.item_id, verdict.serial) == ("valid", label.item_id, 1)
    assert await inventory_service.maintained(session) == await inventory_service.recount(session)
    return report.events, len(labels)


@pytest.mark.parametrize("workers", [0, 2])
def test_the_bulk_loader_writes_what_register_items_writes(
    floor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 4)  # two chunks, so two workers share the file
    path = tmp_path / "items.csv"
    path.write_text(MIXED, encoding="utf-8")

    # The reference: the same file through register_items, rolled back (so the codes match).
    reference = asyncio.run(_through_register_items(floor, path))
    loaded = asyncio.run(_import(floor, path, commit=True, workers=workers))

    assert loaded == reference
    assert [i["code"] for i in loaded["items"]] == [
        "BAG-000001", "BAG-000002", "MAT-000001", "MAT-000002", "MAT-000003", "SUP-000001",
    ]  # fmt: skip
    talc = loaded["items"][3]
    assert talc["name"] == 'Talc\tgrade "A" \\ fine'
    assert (talc["gtin"], str(talc["quantity"]).rstrip("0")) == ("04012345000009", "2.5")
    assert loaded["items"][0]["name"] == "Outbound\nbag"
    assert loaded["items"][0]["attributes"] == {"note": "a\\b\tc", "n": 1.5}
    assert in_db(floor, _check_chains_labels_counts) == (6, 6)


def test_problems_are_listed_by_line_across_chunks_and_nothing_is_written(
    floor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 2)
    path = tmp_path / "items.csv"
    path.write_text(
        "type,name,location,attributes\n"
        "material,Fine,WH-A,\n"
        "material,Lost,NOWHERE,\n"  # line 3
        "bag,Fine too,,\n"
        'supply,Wrong size,,"{""size"": ""XL""}"\n'  # line 5
        "widget,Unknown,,\n",  # line 6
        encoding="utf-8",
    )

    with pytest.raises(importer.ImportRefused) as refused:
        asyncio.run(_import(floor, path, commit=True, workers=2))

    assert [str(p) for p in refused.value.report.problems] == [
        "line 3, location: no location 'NOWHERE'",
        "line 5, attributes: 'XL' is not one of ['S', 'M', 'L']",
        "line 6, type: no item type 'widget'",
    ]
    assert in_db(floor, _written)["items"] == []


@pytest.mark.parametrize("changed", ["type,name\nmaterial,A\nmaterial,B\nmaterial,C\n", ""])
def test_the_rows_written_are_the_rows_checked_and_the_file_is_read_once(
    floor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: str
) -> None:
    path = tmp_path / "items.csv"
    path.write_text("type,name\nmaterial,A\nmaterial,B\n", encoding="utf-8")
    monkeypatch.setattr(importer, "CHUNK", 1)  # a spill file a row
    real = importer.read_rows
    reads: list[tabular.Table] = []

    def read_rows(table: tabular.Table, fields: importer.Header) -> Any:
        reads.append(table)
        yield from real(table, fields)
        path.write_text(changed, encoding="utf-8")  # after the checking pass has read it

    monkeypatch.setattr(importer, "read_rows", read_rows)

    asyncio.run(_import(floor, path, commit=True))

    assert len(reads) == 1
    written = in_db(floor, _written)
    assert [(i["code"], i["name"]) for i in written["items"]] == [
        ("MAT-000001", "A"),
        ("MAT-000002", "B"),
    ]
    assert written["last_seq"]["material"] == 2
    assert in_db(floor, _check_chains_labels_counts) == (2, 2)


def test_a_checked_row_keeps_every_field_of_a_registration() -> None:
    # The checking pass keeps an ItemCreate's field values in their order, as a Checked.
    assert bulk_rows.Checked._fields == tuple(ItemCreate.model_fields)
    spec = ItemCreate(type="material", name="A", batch="B-1", quantity=Decimal("2.5"))
    assert bulk_rows.Checked._make(spec.__dict__.values())._asdict() == dict(spec)


@settings(max_examples=200, deadline=None)
@given(
    quantity=st.none() | st.decimals(allow_nan=False, allow_infinity=False),
    weight=st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    expiry=st.none() | st.dates(),
)
def test_a_checked_row_comes_back_from_the_spill_exactly(
    quantity: Decimal | None, weight: Decimal | None, expiry: date | None
) -> None:
    # Decimals travel as text and dates as ordinals: the same values, the same exponents.
    row = bulk_rows.Checked(
        None, None, None, None, "A", quantity, "B-1", None, None, expiry, None, weight,
        {"k": [1, "x"]}, "material", "WH-A", 1,
    )  # fmt: skip
    spilled = bulk_rows._spilled(row)
    back = bulk_rows._unspilled(pickle.loads(pickle.dumps(spilled)))  # noqa: S301
    assert back == row
    assert [str(v) for v in back] == [str(v) for v in row]  # 2.50 stays 2.50, not 2.5


def test_concurrent_imports_and_registrations_get_gap_free_codes(
    floor: str, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "type,name\n" + "".join(f"material,Lot {n}\n" for n in range(30)), encoding="utf-8"
    )

    async def register(url: str) -> None:
        db = Database(make_settings(url), pooled=False)
        try:
            async with db.session_scope() as session:
                actor = principal(await get_user(session, "op"))
                spec = ItemCreate(type="material", name="Single", count=3)
                await create.register_items(
                    session, specs=[spec], actor=actor, settings=db.settings
                )
        finally:
            await db.dispose()

    async def together() -> None:
        await asyncio.gather(
            _import(floor, path, commit=True),
            register(floor),
            _import(floor, path, commit=True),
        )

    asyncio.run(together())

    written = in_db(floor, _written)
    codes = [i["code"] for i in written["items"]]
    assert codes == [f"MAT-{n:06d}" for n in range(1, 64)]
    assert written["last_seq"]["material"] == 63
    # Each import's codes are one unbroken range, in the file's order.
    by_name = {i["code"]: i["name"] for i in written["items"]}
    starts = [n for n in range(1, 64) if by_name[f"MAT-{n:06d}"] == "Lot 0"]
    for start in starts:
        assert [by_name[f"MAT-{start + k:06d}"] for k in range(30)] == [
            f"Lot {k}" for k in range(30)
        ]
    assert in_db(floor, _check_chains_labels_counts) == (63, 63)


async def _item_indexes(session: AsyncSession) -> list[str]:
    """The indexes of `item`, `item_label` and `event` (its partitions' included), and every
    foreign key on `item`, `item_type`, `location` and `signing_key`."""
    rows = await session.execute(
        text(
            "SELECT tablename || ' ' || indexdef FROM pg_indexes WHERE tablename IN"
            " ('item', 'item_label') OR tablename LIKE 'event%' ORDER BY tablename, indexname"
        )
    )
    keys = await session.execute(
        text(
            "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f' AND confrelid IN ('item'::regclass,"
            " 'item_type'::regclass, 'location'::regclass, 'signing_key'::regclass)"
            " ORDER BY 1"
        )
    )
    return list(rows.scalars()) + list(keys.scalars())


async def _validate(table: str, name: str, session: AsyncSession) -> None:
    await bulk_load.validate_key(session, table, name)


async def _validate_jobs(session: AsyncSession) -> list[Any]:
    rows = await session.execute(
        text("SELECT payload FROM job WHERE name = :name"), {"name": bulk_load.VALIDATE_KEYS}
    )
    return [p if isinstance(p, dict) else json.loads(p) for p in rows.scalars()]


def test_an_import_into_an_empty_table_builds_its_indexes_after_the_rows(
    floor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite keeps its indexes: executemany into a fresh file is cheap")
    monkeypatch.setattr(bulk_load, "FRESH_FROM_ROWS", 1)
    rebuilt: list[list[str]] = []
    real = bulk_load._Postgres.rebuild

    async def rebuild(self: Any, statements: list[str]) -> None:
        rebuilt.append(statements)
        await real(self, statements)

    monkeypatch.setattr(bulk_load._Postgres, "rebuild", rebuild)
    path = tmp_path / "items.csv"
    path.write_text(MIXED, encoding="utf-8")
    before = in_db(floor, _item_indexes)
    assert any("gin_trgm_ops" in index for index in before)
    assert any(index.startswith("event_default fk_event_item_id_item") for index in before)
    assert any(index.startswith("event_default CREATE INDEX") for index in before)

    reference = asyncio.run(_through_register_items(floor, path))
    rolled_back = asyncio.run(_import(floor, path, commit=False))  # dropped, then restored
    assert in_db(floor, _item_indexes) == before
    loaded = asyncio.run(_import(floor, path, commit=True, workers=2))
    assert loaded == rolled_back == reference
    # The foreign keys came back NOT VALID; the job the import queued checks them.
    after = in_db(floor, _item_indexes)
    assert after != before
    assert [a.removesuffix(" NOT VALID") for a in after] == before
    assert len(in_db(floor, _validate_jobs)) == 1
    keys = in_db(floor, bulk_load.unvalidated_keys)
    assert [name for _, name in keys] == [  # not the partitioned event's
        "fk_item_location_id_location", "fk_item_type_id_item_type",
        "fk_item_label_item_id_item", "fk_item_label_key_id_signing_key",
    ]  # fmt: skip
    for table, name in keys * 2:  # a second run finds them valid: nothing to do
        in_db(floor, partial(_validate, table, name))
    assert in_db(floor, bulk_load.unvalidated_keys) == []
    assert in_db(floor, _item_indexes) == before
    assert in_db(floor, _check_chains_labels_counts) == (6, 6)
    assert len(rebuilt) == 2
    assert rebuilt[0] == rebuilt[1]
    assert sum("gin_trgm_ops" in statement for statement in rebuilt[0]) == 3
    # event's and item_label's own indexes and unique keys are built after the rows too
    event_index = "CREATE INDEX ix_event_item_id_id ON public.event USING btree (item_id, id)"
    assert event_index in rebuilt[0]  # on the parent, not ON ONLY: built on every partition
    assert any(
        s.endswith('"uq_item_label_item_id_serial" UNIQUE (item_id, serial)') for s in rebuilt[0]
    )
    # the keys on item and on the tables an import only reads are checked once, after the rows
    assert sorted(s.split()[5] for s in rebuilt[0] if "FOREIGN KEY" in s) == [
        '"fk_event_item_id_item"', '"fk_event_location_id_location"',
        '"fk_item_label_item_id_item"', '"fk_item_label_key_id_signing_key"',
        '"fk_item_location_id_location"', '"fk_item_type_id_item_type"',
    ]  # fmt: skip
    # the keys to user and api_token stay: dropping one would lock the table every request reads
    assert not any('REFERENCES "user"' in s or "api_token" in s for s in rebuilt[0])

    asyncio.run(_import(floor, path, commit=True))  # the table holds rows now: left alone
    assert rebuilt[-1] == []
    assert in_db(floor, _item_indexes) == before
