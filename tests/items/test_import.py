"""`qtrack import`: many items from a CSV file, every row checked first, all or nothing."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from qtrack.events.models import Event
from qtrack.items import bulk_load, bulk_rows, importer
from qtrack.items.models import Item
from qtrack.signing.models import ItemLabel
from tests.accounts.test_cli import create_user, in_db, ok, qtrack
from tests.items.test_cli import add_locations, audit, show

GOOD = """type,name,location,batch,gtin,expiry_on,quantity,weight_kg,attributes
material,Lactose monohydrate,WH-A,B-17,,2027-03-31,25,,
material,Talc,wh-b,T-9,04012345000009,,2.5,,
bag,Outbound bag,WH-A,,,,,1.2,
supply,Gloves M,,,,2028-01-31,100,,
"""


def run_import(cli: CliRunner, url: str, path: Path, *options: str) -> Result:
    return qtrack(cli, url, "import", str(path), "--as", "op", *options)


def counts(url: str) -> tuple[int, int, int]:
    """Items, events and labels in the database."""

    async def _read(session: AsyncSession) -> tuple[int, int, int]:
        return (
            await session.scalar(select(func.count()).select_from(Item)) or 0,
            await session.scalar(select(func.count()).select_from(Event)) or 0,
            await session.scalar(select(func.count()).select_from(ItemLabel)) or 0,
        )

    return in_db(url, _read)


@pytest.fixture
def floor(cli: CliRunner, database_url: str) -> str:
    """An operator and two warehouses."""
    create_user(cli, database_url, "op", "--role", "operator")
    add_locations(cli, database_url)
    return database_url


def test_every_row_becomes_an_item_with_its_event_and_label(
    cli: CliRunner, floor: str, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(GOOD, encoding="utf-8")

    result = run_import(cli, floor, path)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Imported 4 items in ")
    assert lines[1:] == [
        "  material: 2 (MAT-000001 … MAT-000002)",
        "  bag: 1 (BAG-000001 … BAG-000001)",
        "  supply: 1 (SUP-000001 … SUP-000001)",
    ]
    talc = show(cli, floor, "MAT-000002")
    assert (talc["name"], talc["location"], talc["batch"]) == ("Talc", "WH-B", "T-9")
    assert talc["quantity"] == "2.5 kg"
    assert show(cli, floor, "MAT-000001")["expiry"] == "2027-03-31"
    assert counts(floor) == (4, 4, 4)
    assert audit(cli, floor) == "4 events, 4 items, all chains intact"
    history = ok(qtrack(cli, floor, "items", "history", "BAG-000001"))
    assert " op " in history
    assert "created" in history


def test_one_bad_row_imports_nothing_and_every_problem_is_named(
    cli: CliRunner, floor: str, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "type,name,location,gtin,quantity,attributes\n"
        "material,Fine,WH-A,,1,\n"  # line 2 is good
        "material,Lost,NOWHERE,,,\n"
        "widget,Unknown type,,,,\n"
        "material,Bad GTIN,,04012345000008,,\n"
        "bag,Counted bag,,,3,\n"
        "material,Bad JSON,,,,{not json\n"
        "material,Negative,,,-1,\n",
        encoding="utf-8",
    )

    result = run_import(cli, floor, path)

    assert result.exit_code == 1
    assert result.stdout == ""
    problems = result.stderr.splitlines()
    assert problems[-1].startswith("error: import_invalid: ")
    assert "nothing was imported" in problems[-1]
    body = "\n".join(problems[:-1])
    assert "line 3, location: no location 'NOWHERE'" in body
    assert "line 4, type: no item type 'widget'" in body
    assert "line 5" in body
    assert "check digit" in body
    assert "line 6, quantity: 'bag' does not track quantity" in body
    assert "line 7, attributes: not valid JSON" in body
    assert "line 8, quantity" in body
    assert "line 2" not in body
    assert counts(floor) == (0, 0, 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,location\nTalc,WH-A\n", "line 1, type: no column holds 'type', which is required"),
        ("type,colour\nmaterial,red\n", "line 1, colour: matches no field"),
        ("type,name\nmaterial,Talc,extra\n", "more cells than the header"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused(
    cli: CliRunner, floor: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(content, encoding="utf-8")

    result = run_import(cli, floor, path)

    assert result.exit_code == 1
    assert "error: import_invalid: " in result.stderr
    assert message in result.stderr
    assert counts(floor) == (0, 0, 0)


def test_a_dry_run_checks_and_writes_nothing(cli: CliRunner, floor: str, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(GOOD, encoding="utf-8")

    result = run_import(cli, floor, path, "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "4 rows checked, no problems; nothing imported (dry run)"
    assert counts(floor) == (0, 0, 0)


def test_a_large_file_goes_in_chunks_with_gap_free_codes(
    cli: CliRunner, floor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 10)
    path = tmp_path / "items.csv"
    path.write_text(
        "type,name,batch\n" + "".join(f"material,Lot {n},B-{n}\n" for n in range(1, 26)),
        encoding="utf-8",
    )

    result = run_import(cli, floor, path)

    assert result.exit_code == 0, result.output
    assert "  material: 25 (MAT-000001 … MAT-000025)" in result.stdout
    assert result.stderr.splitlines() == [
        "  10 items registered",
        "  20 items registered",
        "  25 items registered",
    ]
    assert show(cli, floor, "MAT-000025")["batch"] == "B-25"
    assert counts(floor) == (25, 25, 25)
    assert audit(cli, floor) == "25 events, 25 items, all chains intact"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_failure_half_way_leaves_nothing_behind(
    cli: CliRunner, floor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 2)
    calls = 0

    for writer in (bulk_load._Postgres, bulk_load._Sqlite):
        real = writer.write

        async def failing_second_chunk(self: Any, built: bulk_rows.Built, real: Any = real) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("the disk is full")  # stands for any fault mid-import
            await real(self, built)

        monkeypatch.setattr(writer, "write", failing_second_chunk)
    path = tmp_path / "items.csv"
    path.write_text(GOOD, encoding="utf-8")

    result = run_import(cli, floor, path, "--workers", workers)

    assert result.exit_code == 1
    assert calls == 2
    assert result.stderr.splitlines() == [
        "  2 items registered",  # the first chunk went in
        "error: internal_error: RuntimeError: the disk is full "
        "(run `qtrack --debug ...` for the traceback)",
    ]
    assert counts(floor) == (0, 0, 0)
    # The codes handed out were given back: the next import starts at the first one again.
    monkeypatch.undo()
    again = run_import(cli, floor, path)
    assert again.exit_code == 0, again.output
    assert "  material: 2 (MAT-000001 … MAT-000002)" in again.stdout
    assert counts(floor) == (4, 4, 4)


def test_the_importer_must_be_a_known_active_user(
    cli: CliRunner, floor: str, tmp_path: Path
) -> None:
    path = tmp_path / "items.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = qtrack(cli, floor, "import", str(path), "--as", "nobody")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: user_not_found: ")
    ok(qtrack(cli, floor, "users", "disable", "op"))
    result = run_import(cli, floor, path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: user_disabled: ")
    assert counts(floor) == (0, 0, 0)
