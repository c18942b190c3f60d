"""Structured logging: JSON lines (or readable console output) through structlog.

The standard library's loggers (uvicorn, SQLAlchemy, Alembic) are routed through the same
processors, so every line has the same shape.
"""

import logging
import logging.config
import sys
from typing import Any

import orjson
import structlog

from qtrack.core.requests import merge_log_context

_HANDLER_NAME = "qtrack"


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


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


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Set up structlog and the standard library to write one structured line per event."""
    shared: list[Any] = [
        # The request's fields (core/requests.py). Nothing binds structlog's own context
        # variables, so its `merge_contextvars`, which walks the whole context on every line,
        # is not in the chain.
        merge_log_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
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
    structlog.configure(
        processors=[
            # Drop disabled levels before any other processor spends time on them.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
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
    # uvicorn's own access log would duplicate ours; its error log is kept.
    for name, lvl in (("uvicorn.access", "WARNING"), ("uvicorn.error", level), ("uvicorn", level)):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
        lg.setLevel(lvl)
