"""The lines qtrack writes: one JSON object each, from structlog and from the standard library."""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import structlog

from qtrack.core.logging import InfoLine, configure_logging
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


@contextmanager
def _alone() -> Iterator[None]:
    """qtrack's handler the root's only one, as when serving: pytest's own set aside (they are
    added for each phase of a test, so this runs inside the test itself)."""
    root = logging.getLogger()
    kept = root.handlers[:]
    root.handlers[:] = [h for h in kept if h.get_name() == "qtrack"]
    try:
        yield
    finally:
        root.handlers[:] = kept


def _access(line: Any) -> None:
    line.info(
        "request",
        method="GET",
        path="/api/v1/items/MAT-1",
        route="/api/v1/items/{code}",
        status=200,
        duration_ms=1.25,
        user="ann",
        client="127.0.0.1",
    )


def test_an_info_line_written_directly_is_the_line_logging_writes(
    lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alone, the line skips logging's records and handlers, and writes the same line."""
    line = InfoLine("qtrack.test.direct")
    handled: list[logging.LogRecord] = []
    token = open_log_context("req-7")
    try:
        with _alone():
            with monkeypatch.context() as patched:
                patched.setattr(logging.Logger, "handle", lambda _, r: handled.append(r))
                _access(line)
            assert handled == []
            _access(line.bound)  # through structlog and logging, as any other line
    finally:
        close_log_context(token)
    direct, logged = (orjson.loads(text) for text in lines.getvalue().splitlines())
    assert list(direct) == list(logged)  # the same keys, in the same order
    assert str(direct.pop("timestamp")).endswith("Z")
    assert str(logged.pop("timestamp")).endswith("Z")
    assert direct == logged
    assert direct["request_id"] == "req-7"
    assert direct["logger"] == "qtrack.test.direct"
    assert direct["event"] == "request"


def test_with_any_other_handler_an_info_line_goes_through_logging(lines: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    line = InfoLine("qtrack.test.shared")
    with _alone():
        for logger in (logging.getLogger(), logging.getLogger("qtrack.test.shared")):
            keep = Keep()
            logger.addHandler(keep)
            try:
                _access(line)
            finally:
                logger.removeHandler(keep)
    assert [record.msg["event"] for record in seen] == ["request", "request"]  # type: ignore[index]
    assert [entry["event"] for entry in _parsed(lines)] == ["request", "request"]


def test_an_info_line_not_wanted_is_not_written(lines: io.StringIO) -> None:
    """Below its logger's level, or stopped on the way up, as logging would."""
    quiet = logging.getLogger("qtrack.test.quiet")
    quiet.setLevel(logging.WARNING)
    stopped = logging.getLogger("qtrack.test.stopped")
    stopped.propagate = False
    try:
        assert not InfoLine("qtrack.test.quiet").enabled()
        with _alone():
            _access(InfoLine("qtrack.test.quiet"))
            _access(InfoLine("qtrack.test.stopped"))
    finally:
        quiet.setLevel(logging.NOTSET)
        stopped.propagate = True
    assert lines.getvalue() == ""


def test_a_line_that_cannot_be_rendered_is_reported_not_raised(
    lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """As logging's handler does: "--- Logging error ---" on stderr, and the caller goes on."""
    with _alone():
        InfoLine("qtrack.test.broken").info("request", big=2**70)  # past orjson's integers
        _access(InfoLine("qtrack.test.broken"))
    assert "Logging error" in capsys.readouterr().err
    assert [entry["event"] for entry in _parsed(lines)] == ["request"]


def test_when_anything_else_listens_an_info_line_goes_through_logging(lines: io.StringIO) -> None:
    """A handler on a logger on the way up, structlog configured again (a test's capture), a
    handler with another formatter: each sees the line, or shapes it, as it would anyway."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    middle = logging.getLogger("qtrack.test")
    keep = Keep()
    with _alone():
        middle.addHandler(keep)
        try:
            _access(InfoLine("qtrack.test.deep"))
        finally:
            middle.removeHandler(keep)
        with structlog.testing.capture_logs() as captured:
            _access(InfoLine("qtrack.test.captured"))
    assert [record.name for record in seen] == ["qtrack.test.deep"]
    assert [entry["event"] for entry in captured] == ["request"]
    assert [entry["logger"] for entry in _parsed(lines)] == ["qtrack.test.deep"]
