"""Webhook endpoints, one delivery per (endpoint, message), and the log of every attempt."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base, TimestampMixin

BIG_ID = BigInteger().with_variant(Integer, "sqlite")
# A delivery's life: pending (due at next_attempt_at) -> sending (claimed by a job, until
# locked_until) -> succeeded | pending again (a retry) | failed (every attempt failed);
# cancelled when its endpoint was switched off or deleted before it went out.
PENDING, SENDING, SUCCEEDED, FAILED, CANCELLED = (
    "pending", "sending", "succeeded", "failed", "cancelled"
)  # fmt: skip
UNFINISHED = (PENDING, SENDING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)


class WebhookEndpoint(TimestampMixin, Base):
    """A receiver: where to send, which changes, and the secret that signs them."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Event types wanted ("item.moved"...; "*" for every type, also those added later).
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Only items of these types (item type keys); empty: every type.
    item_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Only changes at this location or below it (a moved item: where it came from or went).
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None]
    # AES-GCM under a key derived from QTRACK_SECRET_KEY: nonce ‖ ciphertext of the raw secret.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    # The secret before the last rotation: it signs too, until previous_secret_until.
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    previous_secret_until: Mapped[datetime | None]
    secret_rotated_at: Mapped[datetime | None]
    # Deliveries in a row that failed every attempt; a success resets it.
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    version: Mapped[int] = mapped_column(default=1)


# The claim walks due pending rows in order and checks each one's item lane; the indexes
# cover only unfinished rows, so the delivered history never slows it down.
_UNFINISHED_SQL = "status IN ('pending', 'sending')"
_PENDING_SQL = "status = 'pending'"
_SENDING_SQL = "status = 'sending'"


class WebhookDelivery(Base):
    """One message to one endpoint: the exact body signed and sent on every attempt."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_endpoint_id_id", "endpoint_id", "id"),
        Index(
            "ix_webhook_delivery_due",
            "endpoint_id",
            "next_attempt_at",
            "id",
            postgresql_where=_PENDING_SQL,
            sqlite_where=_PENDING_SQL,
        ),
        Index(
            "ix_webhook_delivery_sending",
            "endpoint_id",
            "locked_until",
            postgresql_where=_SENDING_SQL,
            sqlite_where=_SENDING_SQL,
        ),
        Index(
            "ix_webhook_delivery_lane",
            "endpoint_id",
            "item_id",
            "seq",
            postgresql_where=_UNFINISHED_SQL,
            sqlite_where=_UNFINISHED_SQL,
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    msg_id: Mapped[str] = mapped_column(String(64))  # the webhook-id header, on every attempt
    event_type: Mapped[str] = mapped_column(String(64))
    # The change it carries (none for a test message); deliveries of one item go out in the
    # order of its events (seq), each waiting for the one before to succeed or fail for good.
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    seq: Mapped[int | None]
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # started, the one sending included
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]  # while sending: after that, it is due again
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    redelivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One try of a delivery: when, how it went, how long it took, what the receiver said."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery_id_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("webhook_delivery.id", ondelete="CASCADE")
    )
    attempt: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    latency_ms: Mapped[float]
    response_excerpt: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(String(500))
