"""labels: signing keys, item labels, label templates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 14:39:45.657087+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("page", sa.String(length=16), nullable=False),
        sa.Column("label_width_mm", sa.Double(), nullable=False),
        sa.Column("label_height_mm", sa.Double(), nullable=False),
        sa.Column("columns", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("margin_top_mm", sa.Double(), nullable=False),
        sa.Column("margin_left_mm", sa.Double(), nullable=False),
        sa.Column("gap_x_mm", sa.Double(), nullable=False),
        sa.Column("gap_y_mm", sa.Double(), nullable=False),
        sa.Column("fields", sa.String(length=200), nullable=False),
        sa.Column("font_size_pt", sa.Double(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_template")),
        sa.UniqueConstraint("key", name=op.f("uq_label_template_key")),
    )
    op.create_table(
        "signing_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sign_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_key")),
    )
    op.create_table(
        "item_label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["user.id"], name=op.f("fk_item_label_issued_by_id_user")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_item_label_item_id_item")),
        sa.ForeignKeyConstraint(
            ["key_id"], ["signing_key.id"], name=op.f("fk_item_label_key_id_signing_key")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_label")),
        sa.UniqueConstraint("item_id", "serial", name=op.f("uq_item_label_item_id_serial")),
        sa.UniqueConstraint("token", name=op.f("uq_item_label_token")),
    )
    with op.batch_alter_table("item_label", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_label_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_label", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_label_item_id"))

    op.drop_table("item_label")
    op.drop_table("signing_key")
    op.drop_table("label_template")
