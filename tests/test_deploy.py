"""deploy/ stays in step with the code: the dashboard and alerts name only metrics /metrics
exposes, the configuration files only settings that exist, and the smoke test runs in CI."""

import re
from pathlib import Path

import httpx
import pytest

from qtrack.config import Settings
from tests.conftest import start_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


async def test_the_dashboard_and_alerts_name_only_exposed_metrics(
    settings: Settings, redis_url: str
) -> None:
    update = {"redis_url": redis_url, "jobs_in_process": "on"}
    app, lifespan = await start_app(settings.model_copy(update=update))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            exposition = (await client.get("/metrics")).text
    finally:
        await lifespan.__aexit__(None, None, None)
    exposed = {_base(n) for n in re.findall(r"^# TYPE (qtrack_\w+) ", exposition, re.M)}
    named = set()
    for path in (DEPLOY / "grafana" / "qtrack.json", DEPLOY / "prometheus" / "qtrack-alerts.yml"):
        named |= {_base(n) for n in re.findall(r"\b(qtrack_[a-z_]+)\b", path.read_text())}
    named -= {"qtrack_app", "qtrack_tls"}  # nginx names, not metrics
    assert named, "nothing found to check"
    assert named <= exposed, sorted(named - exposed)


def test_every_alert_has_a_severity_and_a_summary() -> None:
    text = (DEPLOY / "prometheus" / "qtrack-alerts.yml").read_text()
    alerts = text.count("- alert: ")
    assert alerts >= 10
    assert len(re.findall(r"labels: \{severity: (warning|critical)\}", text)) == alerts
    assert text.count("summary: ") == alerts


@pytest.mark.parametrize(
    "path",
    [
        "systemd/qtrack.env.example",
        "systemd/qtrack@.service",
        "systemd/qtrack-worker.service",
        "compose.yaml",
        "Containerfile",
        "smoke.sh",
    ],
)
def test_deploy_files_set_only_settings_that_exist(path: str) -> None:
    fields = {f"QTRACK_{name.upper()}" for name in Settings.model_fields}
    text = (DEPLOY / path).read_text()
    used = set(re.findall(r"\b(QTRACK_[A-Z0-9_]+)", text))
    # The smoke's and compose's own knobs, not qtrack's settings.
    used -= {"QTRACK_SMOKE_POSTGRES", "QTRACK_SMOKE_REDIS_URL", "QTRACK_SMOKE_BIN"}
    used -= {"QTRACK_SMOKE_IMAGE", "QTRACK_SMOKE_PODMAN_ARGS"}
    used -= {"QTRACK_APP_WORKERS"}
    assert used, path
    assert used <= fields, sorted(used - fields)


def test_ci_runs_the_smoke_test_after_the_suite() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test") < ci.index("deploy/smoke.sh")
    assert "apt-get install -y -qq nginx" in ci


def _megabytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def test_the_proxy_lets_through_the_bodies_qtrack_takes() -> None:
    """nginx's body limits match qtrack's: QTRACK_MAX_REQUEST_BYTES for every request, and
    QTRACK_IMPORT_MAX_BYTES (plus the form) on the two import paths, which would otherwise
    be refused by the proxy before qtrack saw them."""
    conf = (DEPLOY / "nginx" / "qtrack.conf").read_text()
    defaults = Settings.model_fields
    server = conf[conf.index("listen 443") :]
    general = re.search(r"^    client_max_body_size (\w+);", server, re.M)
    assert general is not None
    assert _megabytes(general.group(1)) == defaults["max_request_bytes"].default
    upload = defaults["import_max_bytes"].default + 65_536
    for path in ("/api/v1/imports", "/imports"):
        block = re.search(r"location \^~ " + re.escape(path) + r" \{(.*?)\n    \}", conf, re.S)
        assert block is not None, path
        limit = re.search(r"client_max_body_size (\w+);", block.group(1))
        assert limit is not None, path
        assert _megabytes(limit.group(1)) >= upload, path
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in block.group(1), path
