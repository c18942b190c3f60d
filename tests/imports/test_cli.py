"""`qtrack import`: the same service from the command line, for every kind and both formats."""

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from qtrack.cli.imports import _Bar
from tests.accounts.test_cli import create_user, qtrack
from tests.factories.xlsx import write_xlsx
from tests.items.test_cli import add_locations, show


def test_an_xlsx_file_of_items_with_a_mapping(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    add_locations(cli, database_url)
    path = write_xlsx(
        tmp_path / "stock.xlsx",
        [["Kind", "Product", "Where"], ["material", "Talc", "WH-A"], ["bag", "Bag", None]],
    )

    result = qtrack(
        cli, database_url, "import", str(path), "--as", "op",
        "--map", "Kind=type", "--map", "Product=name", "--map", "Where=location",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "  material: 1 (MAT-000001 … MAT-000001)",
        "  bag: 1 (BAG-000001 … BAG-000001)",
    ]
    assert show(cli, database_url, "MAT-000001")["location"] == "WH-A"
    # the mapping is remembered for this layout
    again = qtrack(cli, database_url, "import", str(path), "--as", "op", "--dry-run")
    assert again.exit_code == 0, again.output
    assert "2 rows checked, no problems" in again.stdout


def test_locations_and_their_problems(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    create_user(cli, database_url, "boss", "--role", "admin")
    path = tmp_path / "places.csv"
    path.write_text("code,name,kind,parent\nB-1,Hall,building,S-1\nS-1,Site,site,\n")

    result = qtrack(cli, database_url, "import", str(path), "--as", "boss", "--kind", "locations")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ["  S-1", "  B-1"]

    result = qtrack(cli, database_url, "import", str(path), "--as", "boss", "--kind", "locations")
    assert result.exit_code == 1
    assert "line 2, code: location 'B-1' already exists" in result.stderr
    assert "error: import_invalid: 2 problems in 2 rows" in result.stderr


def test_a_file_in_another_encoding_is_explained(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    path = tmp_path / "latin.csv"
    path.write_bytes("type,name\nmaterial,Müller\n".encode("cp1252"))

    result = qtrack(cli, database_url, "import", str(path), "--as", "op")

    assert result.exit_code == 1
    assert "import_bad_encoding" in result.stderr
    assert "line 2" in result.stderr


def test_on_a_terminal_the_progress_bar_shows_rows_checked_then_written() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with _Bar("items", console) as bar:
        assert bar.progress is not None
        bar.start(40_000)
        bar("checked", 10_000)
        bar.progress.refresh()
        assert "checking" in screen.getvalue()
        assert "10,000/40,000 rows" in screen.getvalue()
        bar("checked", 40_000)
        bar("written", 30_000)
        bar.progress.refresh()
        assert "writing" in screen.getvalue()
        assert "30,000/40,000 rows" in screen.getvalue()


def test_elsewhere_it_says_a_line_per_chunk_written(capsys: pytest.CaptureFixture[str]) -> None:
    with _Bar("items") as bar:  # (standard error is no terminal under pytest)
        assert bar.progress is None
        bar.start(20_000)
        bar("checked", 20_000)
        bar("written", 10_000)
    assert capsys.readouterr().err == "  10,000 items registered\n"


def test_item_types_then_items_of_them(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    create_user(cli, database_url, "boss", "--role", "admin")
    types = tmp_path / "types.csv"
    types.write_text(
        "key,name,code_prefix,workflow,tracks_quantity,unit\npowder,Powder,POW,material,yes,kg\n"
    )
    made = qtrack(cli, database_url, "import", str(types), "--as", "boss", "--kind", "item_types")
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines()[1:] == ["  powder"]

    lots = tmp_path / "lots.csv"
    lots.write_text("type,name,quantity\npowder,Talc,2.5\npowder,Lactose,1\n")
    result = qtrack(cli, database_url, "import", str(lots), "--as", "boss")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ["  powder: 2 (POW-000001 … POW-000002)"]
    assert show(cli, database_url, "POW-000002")["name"] == "Lactose"

    again = qtrack(cli, database_url, "import", str(types), "--as", "boss", "--kind", "item_types")
    assert again.exit_code == 1
    assert "error: import_invalid: " in again.stderr
