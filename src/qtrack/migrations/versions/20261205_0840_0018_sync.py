"""sync: the changes devices pushed, each once, with the answer it got

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-05 08:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("record_uuid", sa.String(length=64), nullable=True),
        sa.Column("item_code", sa.String(length=32), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.String(length=1000), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_sync_change_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_change")),
        sa.UniqueConstraint("user_id", "change_id", name=op.f("uq_sync_change_user_id_change_id")),
        sa.UniqueConstraint(
            "user_id", "record_uuid", name=op.f("uq_sync_change_user_id_record_uuid")
        ),
    )
    op.create_index("ix_sync_change_outcome_id", "sync_change", ["outcome", "id"])
    op.create_index(op.f("ix_sync_change_item_code"), "sync_change", ["item_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_change_item_code"), table_name="sync_change")
    op.drop_index("ix_sync_change_outcome_id", table_name="sync_change")
    op.drop_table("sync_change")
