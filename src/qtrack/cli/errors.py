"""How a `qtrack` command ends on an error: one line on stderr and exit status 1, never a
traceback (unless `qtrack --debug`)."""

import os
import sys
from typing import Any

import typer
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from qtrack.core.errors import QtrackError, as_unavailable, bad_value


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else ""


def _settings_problems(exc: ValidationError) -> str:
    """Each problem named by the environment variable that caused it."""
    problems = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        loc = err.get("loc") or ()
        problems.append(f"QTRACK_{str(loc[0]).upper()}: {msg}" if loc else msg)
    return "; ".join(problems)


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, as `code: message`."""
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        cause = exc.__cause__ if exc is unavailable else exc
        reason = f" ({type(cause).__name__}: {_first_line(cause)})" if cause else ""
        return f"{unavailable.code}: {unavailable.message}{reason}"
    if isinstance(exc, QtrackError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, ValidationError):
        if exc.title == "Settings":
            return f"invalid_settings: {_settings_problems(exc)}"
        return f"validation_error: {_first_line(exc)}"
    if bad_value(exc):
        # As the API answers it (422 invalid_value): a number past what the database holds,
        # a date past year 9999, a NUL in a text.
        return f"invalid_value: a value is out of range or not storable ({_first_line(exc)})"
    if isinstance(exc, UnicodeEncodeError) and "surrogates" in exc.reason:
        # An argument holding bytes that are not UTF-8 (Python keeps them as surrogates): no
        # code, name or text qtrack stores can hold it.
        return "invalid_value: an argument is not UTF-8 text"
    if isinstance(exc, CommandError):
        return f"migration_failed: {_first_line(exc)}"
    if isinstance(exc, DBAPIError):
        return f"database_error: {_first_line(exc.orig)}"
    if isinstance(exc, SQLAlchemyError | OSError):
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return (
        f"internal_error: {type(exc).__name__}: {_first_line(exc)} "
        "(run `qtrack --debug ...` for the traceback)"
    )


class OneLineErrors(TyperGroup):
    """The top-level command group: turns any error of a subcommand into one line."""

    def invoke(self, ctx: Any) -> Any:
        """Run the subcommand; print an error as one line and exit 1 unless --debug."""
        try:
            return super().invoke(ctx)
        except (Exit, Abort, TyperException):
            raise  # usage errors and deliberate exits already say what they mean
        except BrokenPipeError:
            # The reader went away (`qtrack export ... | head`): stop quietly, as other Unix
            # tools do; what is still buffered for stdout goes nowhere instead of raising again
            # when the interpreter flushes it on the way out.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise Exit(code=1) from None
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            typer.echo(f"error: {describe(exc)}", err=True)
            raise Exit(code=1) from None
