"""`qtrack export KIND`: the API's exports from the command line, to a file or stdout."""

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import orjson
from typer.testing import CliRunner

from tests.accounts.test_cli import create_user, qtrack
from tests.exports.xlsx import sheets
from tests.items.test_cli import fails, register


def exported(cli: CliRunner, url: str, *args: str) -> tuple[str, str]:
    """Run `qtrack export ARGS`; its standard output and the one line on stderr."""
    result = qtrack(cli, url, "export", *args)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr.strip()


def test_export_items_in_each_format(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    lots = register(cli, database_url, "--type", "material", "--count", "3", "--as", "op")
    register(cli, database_url, "--type", "supply", "--as", "op")
    target = tmp_path / "lots.csv"
    _, said = exported(cli, database_url, "items", "--type", "material", "-o", str(target))
    assert said == f"3 items exported to {target}"
    rows = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))
    assert [r["code"] for r in rows] == lots
    assert {r["status"] for r in rows} == {"received"}
    book = tmp_path / "all.xlsx"
    exported(cli, database_url, "items", "--format", "xlsx", "--sort", "-code", "-o", str(book))
    (sheet,) = sheets(book.read_bytes()).values()
    assert [row[1] for row in sheet] == ["code", "SUP-000001", *reversed(lots)]
    out, said = exported(cli, database_url, "items", "-f", "jsonl", "--q", lots[1])
    assert [orjson.loads(line)["code"] for line in out.splitlines()] == [lots[1]]
    assert said == "1 items exported"
    assert not list(tmp_path.glob(".*partial"))


def test_export_events_and_locations(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    (lot,) = register(cli, database_url, "--type", "material", "--as", "op")
    out, _ = exported(cli, database_url, "events", "-f", "jsonl", "--since", "2000-01-01")
    (event,) = [orjson.loads(line) for line in out.splitlines()]
    assert (event["item"], event["type"], event["actor"]) == (lot, "created", "op")
    out, said = exported(cli, database_url, "events", "--until", "2000-01-01")
    assert out.splitlines() == [out.splitlines()[0]]  # the header only
    assert said == "0 events exported"
    out, _ = exported(cli, database_url, "locations", "-f", "jsonl")
    assert out == ""
    out, _ = exported(cli, database_url, "shipments")
    assert out.startswith("\ufeffid,number,status")
    out, said = exported(cli, database_url, "orders", "--status", "draft")
    assert out.startswith("\ufeffid,code,status,supplier")
    assert said == "0 orders exported"


def test_export_refuses_what_names_nothing_and_leaves_no_file(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "x.csv"
    fails(
        cli,
        database_url,
        *("export", "items", "--location", "NOWHERE", "-o", str(target)),
        code="location_not_found",
    )
    fails(cli, database_url, "export", "events", "--since", "yesterday", code="invalid_time")
    fails(cli, database_url, "export", "items", "--sort", "weight", code="invalid_sort")
    fails(
        cli,
        database_url,
        *("export", "events", "--since", "2026-12-05", "--until", "2026-12-01"),
        *("-o", str(target)),
        code="export_bad_range",
    )
    assert list(out.iterdir()) == []


def test_export_items_by_expiry_and_category(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    today = date.today()
    (gone,) = register(
        cli, database_url, "--type", "supply", "--expiry", str(today - timedelta(days=3)),
        "--as", "op",
    )  # fmt: skip
    (soon,) = register(
        cli, database_url, "--type", "supply", "--expiry", str(today + timedelta(days=5)),
        "--as", "op",
    )  # fmt: skip
    register(cli, database_url, "--type", "material", "--as", "op")
    out, _ = exported(cli, database_url, "items", "-f", "jsonl", "--expired")
    assert [orjson.loads(line)["code"] for line in out.splitlines()] == [gone]
    out, _ = exported(cli, database_url, "items", "-f", "jsonl", "--expiring-soon")
    assert [orjson.loads(line)["code"] for line in out.splitlines()] == [soon]
    assert qtrack(cli, database_url, "categories", "add", "meds", "--name", "Meds").exit_code == 0
    out, said = exported(cli, database_url, "items", "--category", "meds")
    assert said == "0 items exported"
    fails(cli, database_url, "export", "items", "--category", "nope", code="category_not_found")
