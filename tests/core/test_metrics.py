"""/metrics across processes (QTRACK_METRICS_DIR), the error window, slow requests and
slow queries."""

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import values
from sqlalchemy import text

from qtrack.config import Settings
from qtrack.core import metrics as metrics_module
from qtrack.core.metrics import ErrorWindow, forget_dead_processes
from tests.conftest import start_app

# A second qtrack process of the same host: it records three requests, says so, and stays
# alive until its stdin closes.
OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from qtrack.core.metrics import Metrics, enable_multiprocess
    enable_multiprocess(Path(sys.argv[1]))
    m = Metrics(kind="worker", version="9.9.9")
    for _ in range(3):
        m.observe("GET", "/healthz", 200, 0.002)
    m.observe("GET", "/healthz", 503, 0.002)
    m.refresh()
    print("ready", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Multiprocess mode for this test only (the mode is process-wide: put it all back)."""
    directory = tmp_path / "metrics"
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setattr(metrics_module, "_multiprocess_dir", None)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    return directory


@pytest.fixture
def other_process(metrics_dir: Path) -> Iterator["subprocess.Popen[str]"]:
    """Another qtrack process writing to the same folder, alive until its stdin closes."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(metrics_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert other.stdin is not None
    assert other.stdout is not None
    yield other
    if other.poll() is None:
        other.kill()
        other.wait()
    if not other.stdin.closed:
        other.stdin.close()
    other.stdout.close()


@pytest.fixture
async def shared_app(settings: Settings, metrics_dir: Path) -> AsyncIterator[FastAPI]:
    app, lifespan = await start_app(settings.model_copy(update={"metrics_dir": metrics_dir}))
    yield app
    await lifespan.__aexit__(None, None, None)


def _value(exposition: str, series: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} is not in the exposition")


async def test_metrics_sum_every_process_of_the_host(
    shared_app: FastAPI, other_process: "subprocess.Popen[str]"
) -> None:
    other = other_process
    assert other.stdin is not None
    assert other.stdout is not None
    assert (await asyncio.to_thread(other.stdout.readline)).strip() == "ready"
    transport = httpx.ASGITransport(app=shared_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/healthz")
        await client.get("/healthz")
        await client.get("/api/v1/nothing/here")
        text_ = (await client.get("/metrics")).text
        route = 'method="GET",route="/healthz"'
        assert _value(text_, f'qtrack_http_requests_total{{{route},status="200"}}') == 5.0
        assert _value(text_, f"qtrack_http_request_duration_seconds_count{{{route}}}") == 6.0
        # Both processes are listed, each with its pid and version.
        assert f'kind="worker",pid="{other.pid}",version="9.9.9"' in text_
        assert f'kind="web",pid="{os.getpid()}"' in text_
        # One 5xx there, one 404 here, summed over the live processes.
        assert _value(text_, 'qtrack_http_errors_last_hour{class="5xx"}') == 1.0
        assert _value(text_, 'qtrack_http_errors_last_hour{class="4xx"}') == 1.0

        other.stdin.close()  # the other process ends
        await asyncio.to_thread(other.wait, 10)
        text_ = (await client.get("/metrics")).text
        # Its counts stay (they happened); it no longer counts as alive.
        assert _value(text_, f'qtrack_http_requests_total{{{route},status="200"}}') == 5.0
        assert f'pid="{other.pid}"' not in text_
        assert _value(text_, 'qtrack_http_errors_last_hour{class="5xx"}') == 0.0


def test_a_servers_start_clears_what_dead_processes_left(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    for name in (f"counter_{pid}.db", f"gauge_livesum_{pid}.db", f"counter_{os.getpid()}.db"):
        (tmp_path / name).write_bytes(b"")
    assert forget_dead_processes(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{os.getpid()}.db", f"counter_{pid}.db"]
    )
    assert forget_dead_processes(tmp_path, everything=True) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]


def test_the_error_window_forgets_after_an_hour() -> None:
    now = [1000.0]
    window = ErrorWindow(clock=lambda: now[0])
    window.add(404)
    window.add(404)
    window.add(500)
    now[0] += 1800
    window.add(503)
    assert window.counts() == {"4xx": 2, "5xx": 2}
    now[0] += 1900  # the first three are more than an hour old
    assert window.counts() == {"4xx": 0, "5xx": 1}
    now[0] += 3600
    assert window.counts() == {"4xx": 0, "5xx": 0}


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == event]


async def test_a_slow_request_is_logged_and_counted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app, lifespan = await start_app(settings.model_copy(update={"slow_request_ms": 300}))

    async def dawdle() -> dict[str, str]:
        await asyncio.sleep(0.4)
        return {}

    app.add_api_route("/test/dawdle", dawdle)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/test/dawdle")
            slow = _logged(caplog, "slow_request")
            assert [(e["route"], e["threshold_ms"], e["level"]) for e in slow] == [
                ("/test/dawdle", 300, "warning")
            ]
            assert slow[0]["duration_ms"] >= 400
            exposition = (await client.get("/metrics")).text
            assert _value(exposition, 'qtrack_http_slow_requests_total{route="/test/dawdle"}') == 1
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_a_slow_query_is_logged_and_counted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app, lifespan = await start_app(settings.model_copy(update={"slow_query_ms": 100}))
    slow_sql = (
        "SELECT pg_sleep(0.3)"
        if settings.database_url.startswith("postgresql")
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000)"
        " SELECT count(*) FROM n"
    )
    try:
        async with app.state.qtrack.db.session_scope("read") as session:
            await session.execute(text(slow_sql))
        slow = _logged(caplog, "slow_query")
        assert [(entry["statement"], entry["level"]) for entry in slow] == [(slow_sql, "warning")]
        assert slow[0]["duration_ms"] >= 100
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            exposition = (await client.get("/metrics")).text
        assert _value(exposition, "qtrack_db_slow_queries_total") == 1.0
    finally:
        await lifespan.__aexit__(None, None, None)
