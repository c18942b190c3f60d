"""imports: each upload and its run (data_import), its kept file, remembered mappings

Revision ID: 0017
Revises: 0018
Create Date: 2026-12-05 08:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "data_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("size_bytes", BIG, nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=32), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("rows_total", BIG, nullable=False),
        sa.Column("rows_checked", BIG, nullable=False),
        sa.Column("rows_written", BIG, nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("more_problems", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_data_import_created_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_import")),
    )
    op.create_index(
        "ix_data_import_created_by_id_id", "data_import", ["created_by_id", "id"], unique=False
    )
    op.create_index(op.f("ix_data_import_status"), "data_import", ["status"], unique=False)
    op.create_table(
        "import_file",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["data_import.id"],
            name=op.f("fk_import_file_import_id_data_import"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_import_file")),
    )
    op.create_table(
        "import_mapping",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=32), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "signature", name=op.f("pk_import_mapping")),
    )


def downgrade() -> None:
    op.drop_table("import_mapping")
    op.drop_table("import_file")
    op.drop_index(op.f("ix_data_import_status"), table_name="data_import")
    op.drop_index("ix_data_import_created_by_id_id", table_name="data_import")
    op.drop_table("data_import")
