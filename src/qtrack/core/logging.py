"""Structured logging: JSON lines (or readable console output) through structlog.

The standard library's loggers (uvicorn, SQLAlchemy, Alembic) are routed through the same
processors, so every line has the same shape.
"""

import logging
import logging.config
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from qtrack.core.clock import json_time
from qtrack.core.requests import merge_log_context

_HANDLER_NAME = "qtrack"
_INFO = logging.INFO


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def _timestamp(_logger: Any, _method: str, event: Any) -> Any:
    """The line's time in UTC, as structlog's `TimeStamper(fmt="iso", utc=True)` writes it
    (`2026-12-07T17:53:33.018303Z`): 1.4 µs a line, where the stamper took 3.2 (a line on
    every request at INFO)."""
    event["timestamp"] = json_time(datetime.now(UTC))
    return event


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, without its copy of every record it formats.

    `ProcessorFormatter.format` copies the whole `LogRecord` before it renders one, so that
    other handlers still see the record as it was. A line logged through structlog needs no
    copy: its event dict is copied and rendered here, the record is left as it came, and with
    exception and stack information not kept (structlog's processors render those) the base
    formatter would add nothing to the rendered text. Lines from the standard library's loggers
    go through structlog's own `format`. The access line of every request costs about a sixth
    less this way (docs/benchmarks.md, issue 15, ninth pass)."""

    def format(self, record: logging.LogRecord) -> str:
        name = getattr(record, "_name", None)
        event = record.msg
        if name is None or type(event) is not dict or self.keep_exc_info or self.keep_stack_info:
            return super().format(record)
        logger = self.logger if self.logger is not None else getattr(record, "_logger", None)
        ed: Any = {**event, "_record": record, "_from_structlog": True}
        for processor in self.processors:
            ed = processor(logger, name, ed)
        if not isinstance(ed, str):
            raise TypeError(f"the last log processor gave a {type(ed).__name__}, not a str")
        return ed


class _Direct:
    """Writing a structlog line straight to qtrack's handler (see `InfoLine`): the processors
    structlog and the formatter run, in their order, and the handler."""

    __slots__ = ("before", "chain", "formatter", "handler", "render")

    def __init__(
        self,
        chain: Sequence[Any],
        formatter: structlog.stdlib.ProcessorFormatter,
        handler: logging.StreamHandler[Any],
    ) -> None:
        # structlog's configured processors, as configured (a copy: structlog's own testing
        # helper changes that list in place); changed since, they are not ours to bypass.
        self.chain = list(chain)
        self.before = self.chain[1:-1]  # without its level filter and its wrapper
        self.formatter = formatter
        self.render = formatter.processors  # the formatter's
        self.handler = handler

    def alone(self, logger: logging.Logger) -> bool:
        """Whether qtrack's handler is the only thing an INFO record of `logger` would reach,
        unfiltered: no handler, filter or stop on the way up, the root's one handler ours."""
        root = logging.root
        handlers = root.handlers
        handler = self.handler
        if len(handlers) != 1 or handlers[0] is not handler or handler.filters:
            return False
        if handler.formatter is not self.formatter:
            return False
        if structlog.get_config()["processors"] != self.chain:  # compared by identity first
            return False  # structlog configured again since (a test's `capture_logs`, a host)
        if handler.level > _INFO or root.manager.disable >= _INFO:
            return False
        node: Any = logger
        while node is not None:
            if node.handlers and node is not root:
                return False
            if node.filters or node.disabled or (not node.propagate and node is not root):
                return False
            node = node.parent
        return True

    def write(self, logger: logging.Logger, event: str, fields: dict[str, Any]) -> None:
        """The line structlog and the formatter would write, written as `StreamHandler` does:
        a line that cannot be rendered or written is reported by `Handler.handleError`."""
        ed: Any = fields  # the caller's own keyword arguments: a new dict
        ed["event"] = event
        handler = self.handler
        # Under the handler's lock, as `Handler.handle` renders and writes a record.
        handler.acquire()
        try:
            for processor in self.before:
                ed = processor(logger, "info", ed)
            ed = {**ed, "_record": None, "_from_structlog": True}
            for processor in self.render:
                ed = processor(logger, "info", ed)
            handler.stream.write(ed + handler.terminator)
            handler.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(logger.makeRecord(logger.name, _INFO, "", 0, event, (), None))
        finally:
            handler.release()


# Set by `configure_logging`.
_direct: _Direct | None = None
# Fields structlog's processors treat specially (a traceback, the caller's stack): such a line
# goes through logging, whose stack is the caller's.
_SPECIAL = frozenset({"exc_info", "stack_info"})


class InfoLine:
    """One logger's INFO lines, for a line written on every request (the access line).

    `info` writes what `structlog.get_logger(name).info(event, **fields)` writes, the same
    bytes, but when qtrack's handler is the only one the line would reach (as when serving)
    it renders the line with the same processors and writes it to that handler's stream
    itself: no bound logger, `LogRecord` or handler dispatch. That halves the line's cost
    (129,000 → 67,000 instructions), which at INFO was a fifth of a scan lookup's
    (docs/benchmarks.md, issue 15, tenth pass). With any other handler or filter on the way
    (pytest's, a host's), or the level off, the line goes through logging as any other, so
    they see its record; a line that cannot be written is reported as the handler reports
    one (`Handler.handleError`)."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self.bound = structlog.get_logger(name)

    def enabled(self) -> bool:
        """Whether an INFO line of this logger is written at all (asked before building one)."""
        return self.logger.isEnabledFor(_INFO)

    def info(self, event: str, **fields: Any) -> None:
        direct = _direct
        if (
            direct is not None
            and self.logger.isEnabledFor(_INFO)
            and direct.alone(self.logger)
            and not _SPECIAL & fields.keys()
        ):
            direct.write(self.logger, event, fields)
        else:
            self.bound.info(event, **fields)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Set up structlog and the standard library to write one structured line per event."""
    shared: list[Any] = [
        # The request's fields (core/requests.py). Nothing binds structlog's own context
        # variables, so its `merge_contextvars`, which walks the whole context on every line,
        # is not in the chain.
        merge_log_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        # Tracebacks without the frames' local variables: those hold passwords and tokens.
        exc = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        exc = []

    # What a line never shows, left out of every `LogRecord` (the logging HOWTO's
    # "Optimization"): where the call was made (a walk up the stack on each line; structlog
    # walks it again to skip its own frames), the thread, the process and its name. The lines
    # are rendered from structlog's event dict, which has none of them.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    before = [
        *shared,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
    ]
    chain = [
        # Drop disabled levels before any other processor spends time on them.
        structlog.stdlib.filter_by_level,
        *before,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    structlog.configure(
        processors=chain,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = _Formatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exc,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler, so that a host's (or pytest's) handlers keep working.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    root.addHandler(handler)
    root.setLevel(level)
    global _direct
    _direct = _Direct(chain, formatter, handler)
    # uvicorn's own access log would duplicate ours; its error log is kept.
    for name, lvl in (("uvicorn.access", "WARNING"), ("uvicorn.error", level), ("uvicorn", level)):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
        lg.setLevel(lvl)
