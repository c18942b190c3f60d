"""The lines qtrack writes: one JSON object each, from structlog and from the standard library."""

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog

from qtrack.core.logging import configure_logging
from qtrack.core.requests import close_log_context, open_log_context


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """JSON logging at INFO into a buffer; the tests' own logging set up again after."""
    configure_logging("INFO", "json")
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "qtrack")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)
        configure_logging("WARNING", "console")


def _parsed(buffer: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines()]


def test_structlog_and_standard_library_lines_have_one_shape(lines: io.StringIO) -> None:
    token = open_log_context("req-1")
    try:
        structlog.get_logger("qtrack.test").info("made", item="MAT-1", n=2)
        logging.getLogger("some.library").warning("careful: %s", "hot")
    finally:
        close_log_context(token)
    made, foreign = _parsed(lines)
    assert made["event"] == "made"
    assert made["item"] == "MAT-1"
    assert made["n"] == 2
    assert made["request_id"] == "req-1"
    assert made["level"] == "info"
    assert made["logger"] == "qtrack.test"
    assert str(made["timestamp"]).endswith("Z")
    assert foreign["event"] == "careful: hot"
    assert foreign["level"] == "warning"
    assert foreign["logger"] == "some.library"
    assert "timestamp" in foreign
    for line in (made, foreign):
        assert not {"_record", "_from_structlog"} & line.keys()


def test_other_handlers_see_the_record_as_it_was_logged(lines: io.StringIO) -> None:
    """The formatter renders a copy of the event; the record itself is not changed."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    root = logging.getLogger()
    root.addHandler(keep)
    try:
        structlog.get_logger("qtrack.test").info("twice", code="A")
    finally:
        root.removeHandler(keep)
    (record,) = seen
    assert isinstance(record.msg, dict)
    assert record.msg["event"] == "twice"
    assert record.msg["code"] == "A"
    assert "_record" not in record.msg
    (line,) = _parsed(lines)
    assert line["code"] == "A"


def test_an_exception_is_rendered_with_its_traceback(lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("qtrack.test").exception("failed")
    (line,) = _parsed(lines)
    assert line["event"] == "failed"
    assert line["level"] == "error"
    rendered = orjson.dumps(line["exception"]).decode()
    assert "ValueError" in rendered
    assert "boom" in rendered
