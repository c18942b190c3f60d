"""What every `qtrack` command module shares: running work in a session, failing with one
line, checking options with the API's schemas, acting as a user, and printing tables."""

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.principal import Principal
from qtrack.cli.errors import describe
from qtrack.config import Settings
from qtrack.core.db import Database, Mode
from qtrack.core.errors import Forbidden, QtrackError
from qtrack.core.logging import configure_logging
from qtrack.core.quantities import format_amount

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

PAGE_SIZE = 200  # rows per list call while paging through users or tokens


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment (a container without a passwd entry)
        return "unknown"


# The CLI is the local administrator: services get actor=None. The security log then says
# which OS account ran the command (`cli:alice`) and that it came from the CLI.
CLI_ORIGIN = Origin(ip=None, user_agent="qtrack-cli", by=f"cli:{_os_user()}")

ActingAs = Annotated[
    str, typer.Option("--as", metavar="USERNAME", help="The person making the change.")
]
CodeArg = Annotated[str, typer.Argument(metavar="CODE", help="The item's code, e.g. MAT-000001.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the history).")]


class UserDisabled(Forbidden):
    code, message = "user_disabled", "The user is disabled"


def run_with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async work against the database and close it afterwards."""

    async def _main() -> T:
        db = Database(settings, pooled=False)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_main())


def fail(code: str, message: str) -> NoReturn:
    """Print `error: code: message` to stderr and exit 1."""
    typer.echo(f"error: {code}: {message}", err=True)
    raise typer.Exit(code=1)


def run_in_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, mode: Mode = "write"
) -> T:
    """Run async work in one committed session; a service error is printed, not raised."""
    configure_logging("WARNING", settings.log_format)

    async def _scoped(db: Database) -> T:
        async with db.session_scope(mode) as session:
            return await work(session)

    try:
        return run_with_db(settings, _scoped)
    except QtrackError as exc:
        typer.echo(f"error: {describe(exc)}", err=True)
        raise typer.Exit(code=1) from None


def validated(schema: type[M], **values: Any) -> M:
    """Check options with the API's own schema, so both edges accept the same input."""
    try:
        return schema(**values)
    except ValidationError as exc:
        problems = (
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
            for err in exc.errors()
        )
        fail("validation_error", "; ".join(problems))


def password_from(password: str | None, from_stdin: bool) -> str | None:
    """The password given on the command line or on standard input, or None to generate one."""
    if password is not None and from_stdin:
        raise typer.BadParameter("give --password or --password-stdin, not both")
    if from_stdin:
        return sys.stdin.read().rstrip("\r\n")
    return password


def when(moment: datetime | None, *, empty: str = "-") -> str:
    """A UTC time to the minute, for tables."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else empty


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows as plain columns aligned on the widest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


PasswordOption = Annotated[
    str | None,
    typer.Option(help="The password (visible in the process list; prefer --password-stdin)."),
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


async def acting_as(session: AsyncSession, username: str) -> Principal:
    """The user named by `--as`, with their role's permissions; a disabled user may not act."""
    user = await accounts_service.get_user(session, username)
    if not user.is_active:
        raise UserDisabled(f"User '{user.username}' is disabled")
    return Principal(user=user, permissions=frozenset(user.role.permissions), via="cli")


def text(value: Any) -> str:
    """A value from an item or an event, for a terminal."""
    if value is None or value == "":
        return "-"
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)
