"""feed and jobs: events carry their transaction id; jobs, schedules, runners, feed consumers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The writing transaction's id as a bigint (xid8 has no direct cast); see events/feed.py.
PG_TXID = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
PENDING_TWIN = "dedupe_key IS NOT NULL AND status IN ('waiting', 'running')"


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    # Events recorded before this migration all committed long ago: txid 0 puts them first,
    # in id order. A constant default adds the column without rewriting (or updating, which
    # the append-only triggers refuse) any row; PostgreSQL then defaults new rows to the
    # writing transaction's id.
    op.add_column("event", sa.Column("txid", sa.BigInteger(), nullable=False, server_default="0"))
    if postgres:
        op.execute(f"ALTER TABLE event ALTER COLUMN txid SET DEFAULT {PG_TXID}")
    op.create_index("ix_event_txid_id", "event", ["txid", "id"])

    op.create_table(
        "feed_consumer",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("handled", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feed_consumer")),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index("ix_job_status_run_at", "job", ["status", "run_at"])
    op.create_index(
        "uq_job_name_dedupe_key",
        "job",
        ["name", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text(PENDING_TWIN),
        sqlite_where=sa.text(PENDING_TWIN),
    )
    op.create_table(
        "job_schedule",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_schedule")),
    )
    op.create_table(
        "job_runner",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runner")),
    )


def downgrade() -> None:
    op.drop_table("job_runner")
    op.drop_table("job_schedule")
    op.drop_index("uq_job_name_dedupe_key", table_name="job")
    op.drop_index("ix_job_status_run_at", table_name="job")
    op.drop_table("job")
    op.drop_table("feed_consumer")
    op.drop_index("ix_event_txid_id", table_name="event")
    # Not batch mode: rebuilding the table would drop SQLite's append-only triggers.
    op.execute("ALTER TABLE event DROP COLUMN txid")
