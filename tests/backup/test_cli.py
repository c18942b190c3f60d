"""`qtrack backup` and `qtrack restore`, as an administrator runs them."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.accounts.test_cli import create_user, ok, qtrack
from tests.history.test_audit_verify import _tamper
from tests.items.test_cli import audit, fails, register


def test_backup_then_restore_into_a_new_database(
    cli: CliRunner, database_url: str, other_empty_url: str, tmp_path: Path, backend: str
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    codes = register(cli, database_url, "--type", "material", "--count", "3", "--as", "op")
    ok(qtrack(cli, database_url, "items", "transition", codes[0], "quarantine", "--as", "op"))
    backup = tmp_path / "nightly.qtrack"
    said = ok(qtrack(cli, database_url, "backup", str(backup)))
    assert said.startswith(f"backup {backup}: 3 items, 4 events, schema ")
    assert f", {backend}, " in said
    lines = ok(qtrack(cli, other_empty_url, "restore", str(backup))).splitlines()
    assert lines[0].startswith("restored 3 items and 4 events from nightly.qtrack (qtrack ")
    assert lines[1] == "4 events, 3 items, all chains intact"
    assert audit(cli, other_empty_url) == "4 events, 3 items, all chains intact"
    shown = ok(qtrack(cli, other_empty_url, "items", "show", codes[0]))
    assert "quarantine" in shown
    fails(cli, other_empty_url, "restore", str(backup), code="database_not_empty")
    register(cli, other_empty_url, "--type", "material", "--as", "op")
    ok(qtrack(cli, other_empty_url, "restore", "--force", str(backup)))
    assert audit(cli, other_empty_url) == "4 events, 3 items, all chains intact"


def test_restore_refuses_what_is_not_a_backup(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.qtrack"
    junk.write_bytes(b"not a tar")
    fails(cli, database_url, "restore", str(junk), code="backup_invalid")


@pytest.mark.postgres_only
def test_postgres_backup_says_what_it_needs_without_pg_dump(
    cli: CliRunner, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    target = tmp_path / "b.qtrack"
    result = qtrack(cli, database_url, "backup", str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: pg_tools_missing: ")
    assert "pg_dump" in result.stderr
    assert "postgresql-client" in result.stderr
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_backup_says_when_its_folder_is_missing_or_not_writable(
    cli: CliRunner, database_url: str, tmp_path: Path
) -> None:
    fails(
        cli, database_url, "backup", str(tmp_path / "nope" / "b.qtrack"),
        code="backup_target_unusable",
    )  # fmt: skip
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # (root writes anywhere)
        fails(cli, database_url, "backup", str(locked / "b.qtrack"), code="backup_target_unusable")
    assert list(locked.iterdir()) == []


def test_a_restore_of_an_altered_history_says_broken_and_exits_1(
    cli: CliRunner, database_url: str, other_empty_url: str, tmp_path: Path, backend: str
) -> None:
    create_user(cli, database_url, "op", "--role", "operator")
    codes = register(cli, database_url, "--type", "material", "--count", "2", "--as", "op")
    ok(qtrack(cli, database_url, "items", "transition", codes[1], "quarantine", "--as", "op"))
    # Someone who owns the database rewrites what happened, then the nightly backup runs.
    _tamper(database_url, backend, "UPDATE event SET reason = 'nothing happened' WHERE seq = 2")
    backup = tmp_path / "nightly.qtrack"
    ok(qtrack(cli, database_url, "backup", str(backup)))

    restored = qtrack(cli, other_empty_url, "restore", str(backup))

    assert restored.exit_code == 1
    assert "BROKEN after" in restored.stderr
    assert "was altered" in restored.stderr
    assert restored.stdout.startswith("restored 2 items and 3 events from nightly.qtrack")
