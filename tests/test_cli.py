"""The `qtrack` command, run as a user would."""

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from typer.testing import CliRunner, Result

from qtrack import __version__, migrations
from qtrack.accounts.models import SecurityEvent, User
from qtrack.cli import app
from qtrack.cli.db import ensure_migrated
from qtrack.config import Settings, get_settings
from qtrack.core.db import Database
from qtrack.core.security import verify_password
from tests.conftest import make_settings
from tests.databases import SqliteTemplates


def invoke(cli: CliRunner, args: list[str], **env: str) -> Result:
    """Run the CLI with these QTRACK_* variables, as a fresh process would read them."""
    get_settings.cache_clear()
    try:
        return cli.invoke(app, args, env=env)
    finally:
        get_settings.cache_clear()


def _users(url: str) -> list[User]:
    async def _read() -> list[User]:
        db = Database(make_settings(url), pooled=False)
        try:
            async with db.session_scope("read") as session:
                stmt = select(User).options(joinedload(User.role))
                return list((await session.scalars(stmt)).all())
        finally:
            await db.dispose()

    return asyncio.run(_read())


def test_help_lists_the_commands(cli: CliRunner) -> None:
    result = invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "db", "version"):
        assert command in result.output


def test_version(cli: CliRunner) -> None:
    result = invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"qtrack {__version__}"


def test_db_upgrade_migrates_and_prints_the_admin_password_once(
    cli: CliRunner, empty_database_url: str
) -> None:
    first = invoke(cli, ["db", "upgrade"], QTRACK_DATABASE_URL=empty_database_url)
    assert first.exit_code == 0, first.output
    match = re.search(r"created admin user 'admin' with password: (\S+)", first.output)
    assert match, first.output
    password = match.group(1)

    second = invoke(cli, ["db", "upgrade"], QTRACK_DATABASE_URL=empty_database_url)
    assert second.exit_code == 0
    assert "password" not in second.output

    users = _users(empty_database_url)
    assert [(u.username, u.role.key) for u in users] == [("admin", "admin")]
    assert verify_password(users[0].password_hash, password)
    assert password not in users[0].password_hash


def test_db_upgrade_uses_the_configured_admin_password(
    cli: CliRunner, empty_database_url: str
) -> None:
    result = invoke(
        cli,
        ["db", "upgrade"],
        QTRACK_DATABASE_URL=empty_database_url,
        QTRACK_ADMIN_PASSWORD="correct horse battery",
        QTRACK_ADMIN_USERNAME="Root",
    )
    assert result.exit_code == 0, result.output
    assert "correct horse battery" not in result.output
    users = _users(empty_database_url)
    assert users[0].username == "root"
    assert verify_password(users[0].password_hash, "correct horse battery")


def test_db_current(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    behind = invoke(cli, ["db", "current"], QTRACK_DATABASE_URL=url)
    assert behind.exit_code == 1
    assert behind.output.startswith("empty (behind head")
    migrations.upgrade(url)
    current = invoke(cli, ["db", "current"], QTRACK_DATABASE_URL=url)
    assert current.exit_code == 0
    assert current.output.strip() == f"{migrations.head_revision()} (up to date)"


def test_db_downgrade_to_base(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    migrations.upgrade(url)
    result = invoke(cli, ["db", "downgrade", "base"], QTRACK_DATABASE_URL=url)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "database at base"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`qtrack db upgrade` then `qtrack serve` in a real process, as the README runs them."""
    env = {**os.environ, "QTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}"}
    qtrack = [sys.executable, "-m", "qtrack"]
    subprocess.run([*qtrack, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen(
        [*qtrack, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine starts slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_answers_health_and_readiness(served: str) -> None:
    assert httpx.get(f"{served}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{served}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_settings_object_is_what_the_cli_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTRACK_PORT", "9999")
    get_settings.cache_clear()
    try:
        assert get_settings().port == 9999
        assert isinstance(get_settings(), Settings)
    finally:
        get_settings.cache_clear()


# --- errors are one line --------------------------------------------------------------------


def _one_line_error(result: Result, starts: str) -> str:
    """The single line a failed command printed on stderr."""
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {starts}"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr  # a message, not a traceback
    assert "Traceback" not in result.output
    return result.stderr.strip()


def test_serve_refuses_a_database_never_migrated(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = invoke(cli, ["serve", "--port", str(_free_port())], QTRACK_DATABASE_URL=url)
    line = _one_line_error(result, "database_not_migrated: ")
    assert line.endswith("database is not migrated: run `qtrack db upgrade`")


def test_serve_refuses_a_database_behind_head(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0005")
    result = invoke(cli, ["serve", "--port", str(_free_port())], QTRACK_DATABASE_URL=url)
    line = _one_line_error(result, "database_not_migrated: ")
    head = migrations.head_revision()
    assert f"(at 0005, this qtrack needs {head}): run `qtrack db upgrade`" in line


def test_serve_goes_on_with_a_warning_on_a_database_a_newer_release_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    migrations.upgrade(url, "head")
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_next'")
    settings = Settings(_env_file=None, database_url=url)
    ensure_migrated(settings)  # no SystemExit: a rolling upgrade restarts old servers too
    head = migrations.head_revision()
    assert capsys.readouterr().err == (
        f"warning: the database is at 9999_next, newer than this qtrack ({head}): "
        "upgrade this installation\n"
    )


def test_a_refused_admin_password_says_which_rule(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    short = invoke(cli, ["db", "upgrade"], QTRACK_DATABASE_URL=url, QTRACK_ADMIN_PASSWORD="short")
    line = _one_line_error(short, "weak_password: QTRACK_ADMIN_PASSWORD")
    assert "at least 10 characters" in line
    with_name = invoke(
        cli,
        ["db", "upgrade"],
        QTRACK_DATABASE_URL=url,
        QTRACK_ADMIN_PASSWORD="admin-is-my-password",
    )
    line = _one_line_error(with_name, "weak_password: QTRACK_ADMIN_PASSWORD")
    assert "must not contain the username" in line
    assert _users(url) == []
    # A password that follows the rules then creates the admin on the migrated database.
    fixed = invoke(
        cli, ["db", "upgrade"], QTRACK_DATABASE_URL=url, QTRACK_ADMIN_PASSWORD="long enough now"
    )
    assert fixed.exit_code == 0, fixed.output
    assert [u.username for u in _users(url)] == ["admin"]


def test_make_run_with_a_refused_admin_password_is_one_line(tmp_path: Path) -> None:
    """The real console script, as `make run` calls it: no traceback from Typer either."""
    env = {
        **os.environ,
        "QTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
        "QTRACK_ADMIN_PASSWORD": "short",
    }
    done = subprocess.run(
        [sys.executable, "-m", "qtrack", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: weak_password: QTRACK_ADMIN_PASSWORD is refused by the password rules: at "
        "least 10 characters (the database is migrated; set a password that follows the rules "
        "and run `qtrack db upgrade` again to create 'admin')"
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"QTRACK_PORT": "99999"}, "invalid_settings: QTRACK_PORT: "),
        ({"QTRACK_ENV": "prod"}, "invalid_settings: QTRACK_SECRET_KEY is the placeholder"),
        ({"QTRACK_TRUSTED_PROXIES": "proxy.internal"}, "invalid_settings: QTRACK_TRUSTED_PROXIES"),
        # Found by a pass of bad arguments over every command: a traceback from `serve` when
        # the server started, and a driver that is not installed.
        ({"QTRACK_REDIS_URL": "garbage"}, "invalid_settings: QTRACK_REDIS_URL: use redis://"),
        ({"QTRACK_DATABASE_URL": "mysql://u@h/d"}, "invalid_settings: QTRACK_DATABASE_URL: "),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(
    cli: CliRunner, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    env = {"QTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}", **env}
    for args in (["users", "list"], ["db", "upgrade"], ["serve"]):
        _one_line_error(invoke(cli, args, **env), expected)


@pytest.mark.parametrize(
    "args",
    [["db", "upgrade"], ["db", "current"], ["users", "list"], ["serve"], ["roles", "list"]],
)
@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("postgresql+asyncpg://nobody@127.0.0.1:1/none", "ConnectionRefusedError"),
        ("sqlite+aiosqlite:////nonexistent-dir/q.db", "OperationalError"),
    ],
)
def test_an_unreachable_database_is_one_line(
    cli: CliRunner, args: list[str], url: str, cause: str
) -> None:
    line = _one_line_error(invoke(cli, args, QTRACK_DATABASE_URL=url), "database_unavailable: ")
    assert f"({cause}: " in line


def test_a_migration_error_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    result = invoke(cli, ["db", "downgrade", "no-such-revision"], QTRACK_DATABASE_URL=url)
    _one_line_error(result, "migration_failed: ")
    # Revisions Alembic answers with a bare AssertionError are said the same way.
    for command, revision in (("upgrade", ""), ("upgrade", "head+5"), ("downgrade", "")):
        result = invoke(cli, ["db", command, revision], QTRACK_DATABASE_URL=url)
        line = _one_line_error(result, "migration_failed: ")
        assert line.endswith(f"Can't resolve the revision {revision!r}"), line


@pytest.mark.parametrize(
    "option", [["--workers", "0"], ["--workers", "99999999999999999999999"], ["--port", "65536"]]
)
def test_serve_refuses_a_worker_count_or_port_out_of_range(
    cli: CliRunner, migrated: str, option: list[str]
) -> None:
    """As QTRACK_WORKERS and QTRACK_PORT are: before anything starts (a huge --workers forked
    until the machine stalled)."""
    result = invoke(cli, ["serve", *option], QTRACK_DATABASE_URL=migrated)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option[0]}'" in result.output


def test_a_number_or_date_past_what_the_database_holds_is_invalid_value(
    cli: CliRunner, migrated: str
) -> None:
    for args in (
        ["orders", "show", "99999999999999999999999"],
        ["shipments", "show", "99999999999999999999999"],
        ["reports", "daily", "--date", "9999-12-31"],
    ):
        result = invoke(cli, args, QTRACK_DATABASE_URL=migrated)
        _one_line_error(result, "invalid_value: a value is out of range or not storable")


def test_an_argument_that_is_not_utf8_is_invalid_value(migrated: str) -> None:
    """Bytes that are not UTF-8 reach Python as surrogates, which no driver encodes."""
    done = subprocess.run(
        [sys.executable, "-m", "qtrack", "items", "show", b"MAT-\xff"],
        env={**os.environ, "QTRACK_DATABASE_URL": migrated}, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == b"error: invalid_value: an argument is not UTF-8 text\n"


def test_an_empty_code_is_named_as_given(cli: CliRunner, migrated: str) -> None:
    result = invoke(cli, ["items", "show", ""], QTRACK_DATABASE_URL=migrated)
    assert _one_line_error(result, "item_not_found: ") == "error: item_not_found: No item ''"


def test_a_reader_that_goes_away_ends_an_export_quietly(migrated: str) -> None:
    """`qtrack export items | head`: exit 1 and nothing on stderr, where the snapshot's
    generator was left to the event loop's end, which logged its failure as a traceback."""
    env = {**os.environ, "QTRACK_DATABASE_URL": migrated}
    cli = CliRunner()
    boss = invoke(cli, ["users", "create", "boss", "--role", "admin"], QTRACK_DATABASE_URL=migrated)
    assert boss.exit_code == 0, boss.output
    for _ in range(3):  # rows enough to fill a pipe's buffer many times
        made = invoke(
            cli,
            ["items", "register", "--type", "material", "--as", "boss", "--count", "1000"],
            QTRACK_DATABASE_URL=migrated,
        )
        assert made.exit_code == 0, made.output
    for fmt in ("csv", "jsonl"):
        with subprocess.Popen(
            [sys.executable, "-m", "qtrack", "export", "items", "-f", fmt],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as export:  # fmt: skip
            assert export.stdout is not None
            assert export.stderr is not None
            export.stdout.read(1)
            export.stdout.close()
            assert export.wait(timeout=120) == 1
            assert export.stderr.read() == b""


def test_debug_shows_the_error_itself(cli: CliRunner) -> None:
    result = invoke(cli, ["--debug", "users", "list"], QTRACK_PORT="99999")
    assert result.exit_code == 1
    assert isinstance(result.exception, ValidationError)
    assert "error: invalid_settings" not in result.output


# --- which proxies are believed about the client's address --------------------------------


@contextmanager
def _serving(url: str, **env: str) -> Iterator[str]:
    """`qtrack serve` in a real process (uvicorn reads X-Forwarded-For, or not) on a migrated
    database; yields its address."""
    full = {**os.environ, "QTRACK_DATABASE_URL": url, **env}
    qtrack = [sys.executable, "-m", "qtrack"]
    port = _free_port()
    proc = subprocess.Popen(
        [*qtrack, "serve", "--port", str(port)],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine starts slowly
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _failed_login_addresses(url: str) -> list[str | None]:
    async def _read() -> list[str | None]:
        db = Database(make_settings(url), pooled=False)
        try:
            async with db.session_scope("read") as session:
                stmt = select(SecurityEvent.ip).where(SecurityEvent.kind == "login_failed")
                return list((await session.scalars(stmt)).all())
        finally:
            await db.dispose()

    return asyncio.run(_read())


def _guess(base: str, forwarded_for: str) -> int:
    return httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "admin", "password": "a wrong guess"},
        headers={"X-Forwarded-For": forwarded_for},
    ).status_code


@pytest.fixture
def migrated(tmp_path: Path, sqlite_templates: SqliteTemplates) -> str:
    return sqlite_templates.clone(tmp_path)


def test_a_client_not_among_the_trusted_proxies_cannot_spoof_its_address(migrated: str) -> None:
    url = migrated
    with _serving(url, QTRACK_TRUSTED_PROXIES="10.0.0.1") as base:
        statuses = [_guess(base, f"198.51.100.{n}") for n in range(6)]
    # Counted as the connection's own address: the sixth guess is refused.
    assert statuses == [401] * 5 + [429]
    assert set(_failed_login_addresses(url)) == {"127.0.0.1"}


def test_a_trusted_proxy_passes_on_the_client_address(migrated: str) -> None:
    url = migrated
    with _serving(url, QTRACK_TRUSTED_PROXIES="127.0.0.1") as base:
        statuses = [_guess(base, f"198.51.100.{n}, 127.0.0.1") for n in range(6)]
    # Each client behind the proxy is its own: nobody's guesses block anybody else.
    assert statuses == [401] * 6
    assert _failed_login_addresses(url) == [f"198.51.100.{n}" for n in range(6)]


def test_no_trusted_proxies_means_forwarded_headers_are_ignored(migrated: str) -> None:
    url = migrated
    with _serving(url, QTRACK_TRUSTED_PROXIES="") as base:
        assert _guess(base, "198.51.100.9") == 401
    assert _failed_login_addresses(url) == ["127.0.0.1"]
