"""Webhook request and response bodies."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from qtrack.integrations.webhooks import types
from qtrack.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
TypeKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
LocationCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
EventTypes = Annotated[
    list[str],
    Field(
        min_length=1,
        max_length=50,
        description="Event types to receive (GET /api/v1/webhooks/event-types), or `*` for all",
    ),
]
DeliveryStatus = Literal["pending", "sending", "succeeded", "failed", "cancelled"]


def _known_types(value: list[str]) -> list[str]:
    known = types.known()
    unknown = [name for name in value if name != types.ALL and name not in known]
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    return sorted(set(value))


class WebhookCreate(BaseModel):
    url: Url = Field(description="Where to POST deliveries (http or https)")
    event_types: EventTypes
    item_types: list[TypeKey] = Field(
        default_factory=list, max_length=50, description="Only items of these types; empty: all"
    )
    location: LocationCode | None = Field(
        default=None, description="Only changes at this location (by code) or below it"
    )
    description: Description = ""
    enabled: bool = True

    _types = field_validator("event_types")(_known_types)


class WebhookUpdate(BaseModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    item_types: list[TypeKey] | None = Field(default=None, max_length=50)
    location: LocationCode | None = Field(default=None, description="Empty or null: anywhere")
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="Switching it on again also clears its failure count"
    )

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _known_types(value)

    @model_validator(mode="after")
    def _not_null(self) -> "WebhookUpdate":
        for name in ("url", "event_types", "item_types", "description", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class WebhookRead(BaseModel):
    id: int
    url: str
    description: str
    event_types: list[str]
    item_types: list[str]
    location: str | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_until: datetime | None = Field(
        description="Until then deliveries are signed with the previous secret too"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, location: str | None) -> "WebhookRead":
        """From an endpoint and the code of its location filter."""
        return cls(
            id=endpoint.id, url=endpoint.url, description=endpoint.description,
            event_types=list(endpoint.event_types), item_types=list(endpoint.item_types),
            location=location, enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason, disabled_at=endpoint.disabled_at,
            consecutive_failures=endpoint.consecutive_failures,
            last_success_at=endpoint.last_success_at, last_failure_at=endpoint.last_failure_at,
            secret_rotated_at=endpoint.secret_rotated_at,
            previous_secret_until=endpoint.previous_secret_until,
            created_at=endpoint.created_at, updated_at=endpoint.updated_at,
        )  # fmt: skip


class WebhookCreated(WebhookRead):
    secret: str = Field(description="The signing secret (whsec_…): shown in this answer only")


class SecretRotate(BaseModel):
    overlap_s: int | None = Field(
        default=None,
        ge=0,
        le=7 * 86_400,
        description="How long the old secret keeps signing too (default "
        "QTRACK_WEBHOOKS_SECRET_OVERLAP_S); 0 stops it at once",
    )


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret (whsec_…): shown in this answer only")
    previous_secret_until: datetime | None


class AttemptRead(BaseModel):
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: float
    response_excerpt: str | None
    error: str | None

    @classmethod
    def of(cls, row: WebhookAttempt) -> "AttemptRead":
        """From an attempt row."""
        return cls(
            attempt=row.attempt, started_at=row.started_at, status_code=row.status_code,
            latency_ms=row.latency_ms, response_excerpt=row.response_excerpt, error=row.error,
        )  # fmt: skip


class DeliveryRead(BaseModel):
    id: int
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: str
    event_id: int | None
    item_id: int | None
    seq: int | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is next tried")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: WebhookDelivery) -> "DeliveryRead":
        """From a delivery row."""
        return cls(
            id=row.id, webhook_id=row.msg_id, event_type=row.event_type, event_id=row.event_id,
            item_id=row.item_id, seq=row.seq, status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            last_status_code=row.last_status_code, last_error=row.last_error,
            created_at=row.created_at, finished_at=row.finished_at,
        )  # fmt: skip


class DeliveryDetail(DeliveryRead):
    payload: Any = Field(description="The JSON body sent")
    attempt_log: list[AttemptRead]


class RedeliverRange(BaseModel):
    """Which deliveries to send again: by id range, by time range, or both."""

    from_id: int | None = Field(default=None, ge=1)
    to_id: int | None = Field(default=None, ge=1)
    since: datetime | None = Field(default=None, description="Created at or after")
    until: datetime | None = Field(default=None, description="Created before")
    only_failed: bool = Field(
        default=True, description="Only deliveries that failed or were cancelled"
    )

    @model_validator(mode="after")
    def _bounded(self) -> "RedeliverRange":
        if self.from_id is None and self.since is None:
            raise ValueError("give from_id or since (and to_id or until to end the range)")
        if self.from_id and self.to_id and self.to_id < self.from_id:
            raise ValueError("to_id is before from_id")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. Z)")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until is not after since")
        return self


class Redelivered(BaseModel):
    redelivered: int = Field(description="How many deliveries are sent again")
