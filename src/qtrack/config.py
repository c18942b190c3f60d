"""Settings: one class, read from `QTRACK_*` environment variables (or a `.env` file).

Every field is documented in docs/settings.md; a test keeps the two in step.
"""

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The secret every fresh checkout starts with. Fine for a laptop, refused in production.
PLACEHOLDER_SECRET = "change-me-this-is-not-a-secret"  # noqa: S105

CsvList = Annotated[list[str], NoDecode]
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


class Settings(BaseSettings):
    """Everything qtrack can be told from the outside."""

    model_config = SettingsConfigDict(
        env_prefix="QTRACK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite+aiosqlite:///./qtrack.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_pool_timeout_s: float = Field(default=10.0, gt=0)
    # PostgreSQL: connections each process keeps beside its pool for lookups' one-statement
    # reads (core/readlane.py); 0: none, every read borrows from the pool.
    database_lookup_connections: int = Field(default=10, ge=0, le=100)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    # PostgreSQL: a read replica for read-only requests, and how long after a write its
    # author's reads stay on the primary (core/replica.py).
    database_replica_url: str | None = None
    database_replica_sticky_s: float = Field(default=5.0, ge=0, le=3600)
    # PostgreSQL: monthly partitions of the event table made ahead of time by the daily
    # `events.partitions` job (events/partitions.py).
    event_partitions_ahead: int = Field(default=3, ge=1, le=36)
    # Statements and requests slower than these are logged as warnings and counted in
    # /metrics (0: never).
    slow_query_ms: int = Field(default=200, ge=0)
    slow_request_ms: int = Field(default=1000, ge=0)
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    cors_origins: CsvList = []
    trusted_hosts: CsvList = ["*"]
    # Reverse proxies whose X-Forwarded-For/-Proto `qtrack serve` believes (uvicorn's own
    # default): addresses or networks, `*` for any, empty for none.
    trusted_proxies: CsvList = ["127.0.0.1", "::1"]
    metrics_enabled: bool = True
    # Where every process of this host (`qtrack serve`'s workers, `qtrack worker`) writes its
    # metrics, so that /metrics sums them all; unset: each process reports only itself.
    metrics_dir: Path | None = None
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=300)
    web_session_ttl_s: int = Field(default=12 * 3600, ge=300)
    password_min_length: int = Field(default=10, ge=8, le=128)
    login_rate_limit: int = Field(default=5, ge=1)
    login_rate_limit_per_address: int = Field(default=50, ge=1)
    login_rate_window_s: int = Field(default=60, ge=1)
    api_rate_limit_per_minute: int = Field(default=1200, ge=1)
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    # Characters a keyboard-wedge scanner sends before each code, so the web UI can catch a
    # scan typed anywhere on a page. Empty: only the scan screen's own input takes scans.
    scan_prefix: str = Field(default="", max_length=8)
    # The site's time zone: scheduled jobs' cron expressions are read in it.
    timezone: str = "UTC"
    # Background jobs (jobs/): whether `qtrack serve` runs them itself. auto: yes, unless a
    # `qtrack worker` process is alive; on: always; off: never (only workers run them).
    jobs_in_process: Literal["auto", "on", "off"] = "auto"
    jobs_concurrency: int = Field(default=4, ge=1, le=64)
    jobs_poll_s: float = Field(default=1.0, gt=0, le=60)
    jobs_lease_grace_s: float = Field(default=30.0, ge=0)
    jobs_retry_base_s: float = Field(default=10.0, gt=0)
    jobs_retry_max_s: float = Field(default=3600.0, gt=0)
    jobs_keep_done_days: int = Field(default=7, ge=1)
    jobs_stale_after_s: float = Field(default=300.0, gt=0)
    # The most events one EPCIS capture takes (a larger document is refused with 413); the
    # body is capped by max_request_bytes as well.
    epcis_capture_limit: int = Field(default=1000, ge=1, le=100_000)
    # ...and the most identifiers its events name in all: each known one is an observation
    # written in the capture's one transaction.
    epcis_capture_max_identifiers: int = Field(default=20_000, ge=1, le=1_000_000)
    # Imports (imports/): the largest file taken (413 beyond it; its upload has this limit
    # instead of max_request_bytes), what an .xlsx may unpack to, and the size from which an
    # upload is run by a background job rather than while the request waits.
    import_max_bytes: int = Field(default=200 * 1_048_576, ge=1024)
    import_max_unpacked_bytes: int = Field(default=1_073_741_824, ge=1_048_576)
    import_inline_max_bytes: int = Field(default=1_048_576, ge=0)
    # Webhooks (integrations/webhooks/): receivers on loopback, link-local or private
    # addresses are refused unless allowed (on-premise receivers); short timeouts; retries
    # with exponential backoff (each wait three times the last, from the base, at most the
    # max: 10 attempts span about a day); an endpoint is switched off after this many
    # deliveries in a row failed every attempt; a rotated secret keeps signing alongside the
    # new one for the overlap.
    webhooks_allow_private: bool = False
    webhooks_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhooks_read_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhooks_response_max_bytes: int = Field(default=65_536, ge=0, le=10_485_760)
    webhooks_max_attempts: int = Field(default=10, ge=1, le=30)
    webhooks_retry_base_s: float = Field(default=30.0, gt=0)
    webhooks_retry_max_s: float = Field(default=28_800.0, gt=0)
    webhooks_disable_after: int = Field(default=5, ge=1)
    webhooks_secret_overlap_s: int = Field(default=86_400, ge=0)
    webhooks_concurrency: int = Field(default=16, ge=1, le=256)
    webhooks_batch: int = Field(default=100, ge=1, le=1000)
    # The end-of-day summary (reports/): e-mailed each day at this local time (HH:MM in
    # QTRACK_TIMEZONE) to these recipients, through this SMTP server. No recipients: no mail.
    daily_report_at: str = Field(default="18:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    daily_report_recipients: CsvList = Field(default_factory=list)
    # The alert digest (alerts/digest.py): each hour, the alerts raised since the last one are
    # mailed to these recipients (through the SMTP server below). No recipients: no digest.
    alert_digest_recipients: CsvList = Field(default_factory=list)
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_sender: str = "qtrack@localhost"
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # Offline sync (sync/): records of the kinds kept by their updated_at (locations, item
    # types, workflows, bills...) changed less than this long before a pull are sent again by
    # the next pull, so a change whose transaction committed late is never missed; a cursor
    # older than the max age is refused (410) and the client starts again.
    sync_overlap_s: int = Field(default=120, ge=0, le=86_400)
    sync_cursor_max_age_s: int = Field(default=2_592_000, ge=60)

    @field_validator(
        "cors_origins",
        "trusted_hosts",
        "trusted_proxies",
        "daily_report_recipients",
        "alert_digest_recipients",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        """Accept `a,b,c` or a JSON list from the environment, as well as a real list."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        """Addresses or networks only: uvicorn would take anything else as a literal name
        that never matches, and the proxy's clients would silently share its address."""
        if value == ["*"]:
            return value
        for entry in value:
            try:
                ipaddress.ip_network(entry)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or "
                    "10.0.0.0/8), nor `*` alone"
                ) from None
        return value

    @field_validator("database_replica_url", mode="before")
    @classmethod
    def _empty_is_no_replica(cls, value: object) -> object:
        """Set but empty (as a compose file leaves it): no replica, as an empty Redis URL is
        no Redis."""
        return None if value == "" else value

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        """The two drivers qtrack ships with; another URL would fail later on a driver that
        is not installed, or on SQL that database does not speak."""
        if value is not None and not value.startswith(DATABASE_SCHEMES):
            raise ValueError(
                "use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/database"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        """Checked here, so that a mistyped URL stops every command at once with its name
        (the Redis client would refuse it only when the server starts)."""
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("use redis://host:6379/0, rediss://... or unix:///path.sock")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_placeholder_in_prod(self) -> "Settings":
        if self.env == "prod":
            secret = self.secret_key.get_secret_value()
            if secret == PLACEHOLDER_SECRET:
                raise ValueError("QTRACK_SECRET_KEY is the placeholder; set a real secret in prod")
            if len(secret) < 32:
                raise ValueError("QTRACK_SECRET_KEY must be at least 32 characters in prod")
        return self

    @model_validator(mode="after")
    def _replica_needs_postgres(self) -> "Settings":
        replica = self.database_replica_url
        if replica is not None and (self.is_sqlite or not replica.startswith("postgresql")):
            raise ValueError(
                "QTRACK_DATABASE_REPLICA_URL is for PostgreSQL: both it and "
                "QTRACK_DATABASE_URL must be postgresql+asyncpg:// URLs"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite one."""
        return self.database_url.startswith("sqlite")

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def public_url(self) -> str:
        """The public base URL without a trailing slash."""
        return str(self.public_base_url).rstrip("/")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
