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
    formatter = structlog.stdlib.ProcessorFormatter(
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
