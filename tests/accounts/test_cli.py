"""`qtrack users` and `qtrack tokens`, run as an administrator would run them."""

import asyncio
import getpass
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from qtrack.accounts import roles as accounts_roles
from qtrack.accounts import service as accounts_service
from qtrack.accounts import tokens as tokens_service
from qtrack.accounts.models import ApiToken, User
from qtrack.accounts.permissions import BUILTIN_ROLES
from qtrack.accounts.sessions import InvalidToken
from qtrack.cli import app
from qtrack.config import get_settings
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from qtrack.core.security import hash_password, sha256_hex, verify_password
from tests.conftest import make_settings, start_app
from tests.factories.accounts import login, web_login

T = TypeVar("T")

GOOD_PASSWORD = "correct horse battery"


def qtrack(cli: CliRunner, url: str, *args: str, stdin: str | None = None) -> Result:
    """Run `qtrack ARGS` against this database, as a fresh process would."""
    get_settings.cache_clear()
    try:
        return cli.invoke(app, list(args), env={"QTRACK_DATABASE_URL": url}, input=stdin)
    finally:
        get_settings.cache_clear()


def ok(result: Result) -> str:
    """The output of a command that must have succeeded."""
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def in_db(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run async work in one committed session on the test database."""

    async def _main() -> T:
        db = Database(make_settings(url), pooled=False)
        try:
            async with db.session_scope() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(_main())


def password_hash(url: str, username: str) -> str:
    async def _read(session: AsyncSession) -> str:
        return (await accounts_service.get_user(session, username)).password_hash

    return in_db(url, _read)


def usernames(url: str) -> list[str]:
    async def _read(session: AsyncSession) -> list[str]:
        return list((await session.scalars(select(User.username).order_by(User.id))).all())

    return in_db(url, _read)


def authenticate(url: str, raw: str) -> tuple[str, frozenset[str]] | None:
    """Who an API token acts as and with what permissions, or None when it is refused."""

    async def _check(session: AsyncSession) -> tuple[str, frozenset[str]] | None:
        try:
            principal, _ = await tokens_service.principal_from_api_token(session, raw)
        except InvalidToken:
            return None
        return principal.username, principal.permissions

    return in_db(url, _check)


def table(output: str) -> list[dict[str, str]]:
    """Parse an aligned table: each cell is cut at the column where its header starts."""
    header, *lines = output.splitlines()
    columns = list(re.finditer(r"\S+(?: \S+)*", header))  # names hold single spaces at most
    names = [c.group() for c in columns]
    starts = [c.start() for c in columns]
    ends = [*starts[1:], None]
    return [
        {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, ends, strict=True)
        }
        for line in lines
    ]


def create_user(cli: CliRunner, url: str, username: str, *options: str) -> None:
    ok(qtrack(cli, url, "users", "create", username, "--password", GOOD_PASSWORD, *options))


def create_token(cli: CliRunner, url: str, *options: str) -> tuple[int, str]:
    """Create a token; returns its id and the raw token printed once."""
    out = ok(qtrack(cli, url, "tokens", "create", *options))
    token_id = re.search(r"^created token (\d+) ", out, re.MULTILINE)
    raw = re.search(r"^(qtk_\S+)$", out, re.MULTILINE)
    assert token_id, out
    assert raw, out
    return int(token_id.group(1)), raw.group(1)


# --- users -----------------------------------------------------------------------------------


def test_help_lists_the_account_commands(cli: CliRunner) -> None:
    assert "users" in qtrack(cli, "sqlite+aiosqlite://", "--help").output
    users = qtrack(cli, "sqlite+aiosqlite://", "users", "--help").output
    for command in ("create", "list", "disable", "enable", "reset-password"):
        assert command in users
    tokens = qtrack(cli, "sqlite+aiosqlite://", "tokens", "--help").output
    for command in ("create", "list", "revoke"):
        assert command in tokens


def test_create_prints_a_generated_password_once(cli: CliRunner, database_url: str) -> None:
    out = ok(qtrack(cli, database_url, "users", "create", "Ann", "--role", "operator"))
    match = re.search(r"^created user 'ann' \(operator\) with password: (\S+)$", out, re.MULTILINE)
    assert match, out
    password = match.group(1)
    stored = password_hash(database_url, "ann")
    assert verify_password(stored, password)
    assert password not in stored


def test_create_with_a_password_never_echoes_it(cli: CliRunner, database_url: str) -> None:
    result = qtrack(
        cli, database_url, "users", "create", "ann", "--role", "viewer", "--password", GOOD_PASSWORD
    )
    assert ok(result).strip() == "created user 'ann' (viewer)"
    assert verify_password(password_hash(database_url, "ann"), GOOD_PASSWORD)


def test_create_reads_the_password_from_stdin(cli: CliRunner, database_url: str) -> None:
    result = qtrack(
        cli,
        database_url,
        *("users", "create", "ann", "--role", "viewer", "--password-stdin"),
        stdin=GOOD_PASSWORD + "\n",
    )
    assert GOOD_PASSWORD not in ok(result)
    stored = password_hash(database_url, "ann")
    assert verify_password(stored, GOOD_PASSWORD)
    assert not verify_password(stored, GOOD_PASSWORD + "\n")
    # Two lines are no password anyone could type into the login form.
    two_lines = qtrack(
        cli,
        database_url,
        *("users", "create", "bob", "--role", "viewer", "--password-stdin"),
        stdin=f"{GOOD_PASSWORD}\nsecond line\n",
    )
    assert two_lines.exit_code == 1
    assert two_lines.stderr.startswith("error: weak_password: "), two_lines.stderr
    assert "control characters" in two_lines.stderr
    assert "bob" not in usernames(database_url)


def test_password_and_password_stdin_together_is_a_usage_error(
    cli: CliRunner, database_url: str
) -> None:
    result = qtrack(
        cli,
        database_url,
        *("users", "create", "ann", "--role", "viewer"),
        *("--password", GOOD_PASSWORD, "--password-stdin"),
        stdin=GOOD_PASSWORD,
    )
    assert result.exit_code == 2
    assert usernames(database_url) == []


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["users", "create", "ANN", "--role", "viewer"], "conflict"),
        (["users", "create", "bob", "--role", "overlord"], "role_not_found"),
        (["users", "create", "bob", "--role", "viewer", "--password", "short"], "weak_password"),
        (
            ["users", "create", "bob", "--role", "viewer", "--password", "bob-is-my-password"],
            "weak_password",
        ),
        (["users", "create", "b b", "--role", "viewer"], "validation_error"),
        (["users", "create", "bob", "--role", "viewer", "--email", "nope"], "validation_error"),
        (["users", "create", "b" * 65, "--role", "viewer"], "validation_error"),
        (["users", "disable", "nobody"], "user_not_found"),
        (["users", "reset-password", "nobody"], "user_not_found"),
        (["users", "reset-password", "ann", "--password", "short"], "weak_password"),
        (["tokens", "create", "--name", "t", "--user", "nobody"], "user_not_found"),
        (
            ["tokens", "create", "--name", "t", "--user", "ann", "--scope", "fly"],
            "validation_error",
        ),
        (["tokens", "create", "--name", "", "--user", "ann"], "validation_error"),
        (["tokens", "revoke", "999"], "token_not_found"),
    ],
)
def test_errors_exit_1_with_the_code_and_change_nothing(
    cli: CliRunner, database_url: str, args: list[str], code: str
) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    before = password_hash(database_url, "ann")

    result = qtrack(cli, database_url, *args)

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {code}: "), result.stderr
    assert len(result.stderr.splitlines()) == 1  # a message, not a traceback
    assert usernames(database_url) == ["ann"]
    assert password_hash(database_url, "ann") == before
    assert "no API tokens" in ok(qtrack(cli, database_url, "tokens", "list", "--all"))


def test_list_shows_every_user_in_aligned_columns(cli: CliRunner, database_url: str) -> None:
    assert ok(qtrack(cli, database_url, "users", "list")).strip() == "no users"
    create_user(cli, database_url, "ann", "--role", "operator", "--full-name", "Ann Lee")
    create_user(cli, database_url, "bob", "--role", "viewer")

    rows = table(ok(qtrack(cli, database_url, "users", "list")))

    assert rows == [
        {
            "USERNAME": "ann",
            "ROLE": "operator",
            "STATE": "active",
            "FULL NAME": "Ann Lee",
            "LAST LOGIN (UTC)": "never",
        },
        {
            "USERNAME": "bob",
            "ROLE": "viewer",
            "STATE": "active",
            "FULL NAME": "",
            "LAST LOGIN (UTC)": "never",
        },
    ]


def test_list_pages_through_more_users_than_one_call_returns(
    cli: CliRunner, database_url: str
) -> None:
    shared_hash = hash_password(GOOD_PASSWORD)

    async def _many(session: AsyncSession) -> None:
        role = await accounts_roles.get_role(session, "viewer")
        session.add_all(
            User(username=f"user{n:03}", password_hash=shared_hash, role_id=role.id)
            for n in range(205)
        )

    in_db(database_url, _many)

    rows = table(ok(qtrack(cli, database_url, "users", "list")))

    assert [r["USERNAME"] for r in rows] == [f"user{n:03}" for n in range(205)]


def test_disable_shows_in_the_list_and_enable_undoes_it(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    create_user(cli, database_url, "bob", "--role", "viewer")

    out = ok(qtrack(cli, database_url, "users", "disable", "ANN"))

    assert out.strip() == "disabled user 'ann'"
    states = {
        r["USERNAME"]: r["STATE"] for r in table(ok(qtrack(cli, database_url, "users", "list")))
    }
    assert states == {"ann": "disabled", "bob": "active"}

    assert ok(qtrack(cli, database_url, "users", "enable", "ann")).strip() == "enabled user 'ann'"
    states = {
        r["USERNAME"]: r["STATE"] for r in table(ok(qtrack(cli, database_url, "users", "list")))
    }
    assert states == {"ann": "active", "bob": "active"}


def test_the_last_active_admin_cannot_be_disabled(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "root", "--role", "admin")

    result = qtrack(cli, database_url, "users", "disable", "root")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: conflict: ")
    assert table(ok(qtrack(cli, database_url, "users", "list")))[0]["STATE"] == "active"


def test_reset_password_prints_a_new_working_password(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")

    out = ok(qtrack(cli, database_url, "users", "reset-password", "ann"))

    match = re.search(r"^new password for 'ann': (\S+)$", out, re.MULTILINE)
    assert match, out
    stored = password_hash(database_url, "ann")
    assert verify_password(stored, match.group(1))
    assert not verify_password(stored, GOOD_PASSWORD)


def test_reset_password_to_a_given_one_does_not_echo_it(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    new = "another long passphrase"

    out = ok(
        qtrack(cli, database_url, "users", "reset-password", "ann", "--password-stdin", stdin=new)
    )

    assert new not in out
    assert out.strip() == "password of 'ann' changed"
    assert verify_password(password_hash(database_url, "ann"), new)


# --- tokens ----------------------------------------------------------------------------------


def test_token_is_printed_once_and_authenticates_with_its_scopes(
    cli: CliRunner, database_url: str
) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")

    out = ok(
        qtrack(
            cli,
            database_url,
            *("tokens", "create", "--name", "scanner-1", "--user", "ann"),
            *("--scope", "item.read", "--scope", "item.move"),
        )
    )

    assert "will not be shown again" in out
    raw = re.search(r"^(qtk_\S+)$", out, re.MULTILINE)
    assert raw, out
    assert authenticate(database_url, raw.group(1)) == (
        "ann",
        frozenset({"item.read", "item.move"}),
    )


def test_token_without_scopes_has_the_users_permissions(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "viewer")

    _, raw = create_token(cli, database_url, "--name", "kiosk", "--user", "ANN")

    assert authenticate(database_url, raw) == (
        "ann",
        frozenset({"item.read", "event.read", "stock.read"}),
    )


def test_token_list_never_shows_the_token(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    token_id, raw = create_token(
        cli, database_url, "--name", "scanner-1", "--user", "ann", "--scope", "item.read"
    )
    create_token(cli, database_url, "--name", "erp", "--user", "ann")

    out = ok(qtrack(cli, database_url, "tokens", "list"))

    assert raw not in out
    assert raw[12:20] not in out  # nothing past the stored prefix
    assert sha256_hex(raw) not in out
    first, second = table(out)
    assert first["ID"] == str(token_id)
    assert (first["NAME"], first["USER"], first["SCOPES"]) == ("scanner-1", "ann", "item.read")
    assert raw.startswith(first["PREFIX"])
    assert (first["LAST USED"], first["EXPIRES"], first["REVOKED"]) == ("never", "never", "-")
    assert (second["NAME"], second["SCOPES"]) == ("erp", "all")


def test_token_expiry_in_days(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    before = utcnow()

    token_id, _ = create_token(
        cli, database_url, "--name", "temp", "--user", "ann", "--expires-days", "30"
    )

    async def _expires(session: AsyncSession) -> datetime | None:
        token = await session.get(ApiToken, token_id)
        assert token is not None
        return token.expires_at

    expires_at = in_db(database_url, _expires)
    assert expires_at is not None
    assert before + timedelta(days=30) <= expires_at <= utcnow() + timedelta(days=30)


def test_revoked_token_stops_working_and_leaves_the_default_list(
    cli: CliRunner, database_url: str
) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    token_id, raw = create_token(cli, database_url, "--name", "scanner-1", "--user", "ann")

    out = ok(qtrack(cli, database_url, "tokens", "revoke", str(token_id)))

    assert out.strip() == f"revoked token {token_id} 'scanner-1'"
    assert authenticate(database_url, raw) is None
    assert ok(qtrack(cli, database_url, "tokens", "list")).strip() == "no API tokens"
    (row,) = table(ok(qtrack(cli, database_url, "tokens", "list", "--all")))
    assert row["ID"] == str(token_id)
    assert row["REVOKED"] != "-"
    # Revoking twice is harmless.
    ok(qtrack(cli, database_url, "tokens", "revoke", str(token_id)))


def test_disabling_a_user_stops_their_tokens(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "ann", "--role", "operator")
    _, raw = create_token(cli, database_url, "--name", "scanner-1", "--user", "ann")
    assert authenticate(database_url, raw) is not None

    ok(qtrack(cli, database_url, "users", "disable", "ann"))

    assert authenticate(database_url, raw) is None


# --- the CLI as an actor, roles -------------------------------------------------------------


def _log_rows(html: str) -> list[tuple[str, list[str]]]:
    """The security log page's rows: kind, then the text of each cell."""
    rows = []
    for row in re.findall(r'<tr data-event-id="\d+" data-kind="(\w+)">(.*?)</tr>', html, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
        ]
        rows.append((row[0], cells))
    return rows


def test_the_security_log_names_the_cli_and_its_os_user(cli: CliRunner, database_url: str) -> None:
    create_user(cli, database_url, "boss", "--role", "admin")
    create_user(cli, database_url, "ann", "--role", "operator")
    ok(qtrack(cli, database_url, "users", "disable", "ann"))
    ok(qtrack(cli, database_url, "users", "reset-password", "ann"))
    create_token(cli, database_url, "--name", "dock", "--user", "boss")
    by = f"cli:{getpass.getuser()}"

    async def _read_log() -> tuple[httpx.Response, httpx.Response]:
        app, lifespan = await start_app(make_settings(database_url))
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                await web_login(c, "boss", GOOD_PASSWORD)
                page = await c.get("/admin/security-log")
                boss = await login(c, "boss", GOOD_PASSWORD)
                return page, await c.get("/api/v1/security-events", headers=boss.headers)
        finally:
            await lifespan.__aexit__(None, None, None)

    page, api = asyncio.run(_read_log())
    assert page.status_code == 200
    done_by_cli = [(kind, cells) for kind, cells in _log_rows(page.text) if kind != "login"]
    assert [kind for kind, _ in done_by_cli] == [
        "token_created",
        "password_reset",
        "user_disabled",
        "user_created",
        "user_created",
    ]
    for _, (_, _, who, _, origin, details) in done_by_cli:
        assert (who, origin) == (by, "qtrack-cli")
        assert by not in details  # said once, in its column
    events = {e["kind"]: e for e in api.json()["items"]}
    assert events["user_disabled"]["actor"] == by
    assert events["login"]["actor"] == "boss"


def test_an_unknown_role_lists_the_roles_there_are(cli: CliRunner, database_url: str) -> None:
    result = qtrack(cli, database_url, "users", "create", "ann", "--role", "qa")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: role_not_found: No role 'qa'; the roles are: "
        "admin, biller, dispatcher, operator, supervisor, viewer"
    )
    assert usernames(database_url) == []


def test_roles_list_shows_each_role_with_its_permissions(cli: CliRunner, database_url: str) -> None:
    out = ok(qtrack(cli, database_url, "roles", "list"))
    lines = out.splitlines()
    keys = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert keys == ["admin", "biller", "dispatcher", "operator", "supervisor", "viewer"]
    shown = {
        lines[i].split()[0]: set(lines[i + 1].strip().split(", ")) for i in range(0, len(lines), 2)
    }
    assert shown == {key: set(permissions) for key, (_, _, permissions) in BUILTIN_ROLES.items()}
    assert lines[0] == "admin  Administrator"
