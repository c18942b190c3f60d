"""item types: the label template their labels print with by default

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite adds a foreign key only by rebuilding the table.
    with op.batch_alter_table("item_type") as batch:
        batch.add_column(sa.Column("label_template_key", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            op.f("fk_item_type_label_template_key_label_template"),
            "label_template",
            ["label_template_key"],
            ["key"],
        )


def downgrade() -> None:
    with op.batch_alter_table("item_type") as batch:
        batch.drop_constraint(
            op.f("fk_item_type_label_template_key_label_template"), type_="foreignkey"
        )
        batch.drop_column("label_template_key")
