"""Settings: defaults that run with no configuration, a refused placeholder, documentation."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from qtrack.config import PLACEHOLDER_SECRET, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("QTRACK_"):
            monkeypatch.delenv(name)


def test_runs_with_no_configuration() -> None:
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./qtrack.db"
    assert settings.redis_url is None
    assert settings.env == "dev"
    assert settings.secret_key.get_secret_value() == PLACEHOLDER_SECRET
    assert settings.public_url == "http://127.0.0.1:8000"


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTRACK_DATABASE_URL", "postgresql+asyncpg://u@db/qtrack")
    monkeypatch.setenv("QTRACK_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("QTRACK_TRUSTED_HOSTS", '["qtrack.example"]')
    monkeypatch.setenv("QTRACK_LOG_LEVEL", "debug")
    monkeypatch.setenv("QTRACK_PUBLIC_BASE_URL", "https://qtrack.example/")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql+asyncpg://u@db/qtrack"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trusted_hosts == ["qtrack.example"]
    assert settings.log_level == "DEBUG"
    assert settings.public_url == "https://qtrack.example"
    assert not settings.is_sqlite


def test_prod_refuses_the_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTRACK_ENV", "prod")
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None)


def test_prod_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTRACK_ENV", "prod")
    monkeypatch.setenv("QTRACK_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(_env_file=None)


def test_prod_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTRACK_ENV", "prod")
    monkeypatch.setenv("QTRACK_SECRET_KEY", "k" * 48)
    assert Settings(_env_file=None).env == "prod"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QTRACK_PORT", "0"),
        ("QTRACK_MAX_REQUEST_BYTES", "12"),
        ("QTRACK_LOG_FORMAT", "xml"),
        ("QTRACK_REDIS_URL", "127.0.0.1:6379"),
        ("QTRACK_DATABASE_URL", "postgresql://u@h/d"),
        ("QTRACK_DATABASE_REPLICA_URL", "mysql://u@h/d"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_an_empty_replica_url_is_no_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QTRACK_DATABASE_REPLICA_URL", "")
    assert Settings(_env_file=None).database_replica_url is None
    monkeypatch.setenv("QTRACK_DATABASE_URL", "")
    with pytest.raises(ValidationError, match="use sqlite"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("primary", "replica"),
    [
        ("sqlite+aiosqlite:///./qtrack.db", "postgresql+asyncpg://r@10.0.0.2/qtrack"),
        ("postgresql+asyncpg://p@10.0.0.1/qtrack", "sqlite+aiosqlite:///./copy.db"),
    ],
)
def test_a_read_replica_needs_postgresql_on_both_sides(
    monkeypatch: pytest.MonkeyPatch, primary: str, replica: str
) -> None:
    monkeypatch.setenv("QTRACK_DATABASE_URL", primary)
    monkeypatch.setenv("QTRACK_DATABASE_REPLICA_URL", replica)
    with pytest.raises(ValidationError, match="QTRACK_DATABASE_REPLICA_URL is for PostgreSQL"):
        Settings(_env_file=None)
    monkeypatch.setenv("QTRACK_DATABASE_URL", "postgresql+asyncpg://p@10.0.0.1/qtrack")
    monkeypatch.setenv("QTRACK_DATABASE_REPLICA_URL", "postgresql+asyncpg://r@10.0.0.2/qtrack")
    assert Settings(_env_file=None).database_replica_url == "postgresql+asyncpg://r@10.0.0.2/qtrack"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(QTRACK_[A-Z0-9_]+)`", DOCS.read_text()))
    fields = {f"QTRACK_{name.upper()}" for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from docs/settings.md"
    test_vars = {"QTRACK_TEST_POSTGRES_URL", "QTRACK_TEST_REDIS_URL", "QTRACK_TEST_REQUIRE"}
    assert documented - fields - test_vars == set(), "docs/settings.md names unknown settings"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.5, 10.1.0.0/16", ["10.0.0.5", "10.1.0.0/16"]),
        ('["::1"]', ["::1"]),
        ("*", ["*"]),
        ("", []),
    ],
)
def test_trusted_proxies_are_addresses_or_networks(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    assert Settings(_env_file=None).trusted_proxies == ["127.0.0.1", "::1"]  # uvicorn's own
    monkeypatch.setenv("QTRACK_TRUSTED_PROXIES", value)
    assert Settings(_env_file=None).trusted_proxies == expected


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.1/8", "*, 10.0.0.1", "10.0.0.300"])
def test_a_trusted_proxy_that_would_never_match_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("QTRACK_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(_env_file=None)
