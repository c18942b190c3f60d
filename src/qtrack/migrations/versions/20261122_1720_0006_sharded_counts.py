"""counts: status and location counts spread over shard rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 17:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = (("status_count", ["type_id", "status"]), ("location_count", ["location_id"]))


def upgrade() -> None:
    # Existing counts become shard 0. Batch mode: SQLite changes a primary key only by
    # rebuilding the table.
    for table, keys in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("shard", sa.SmallInteger(), nullable=False, server_default="0")
            )
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(op.f(f"pk_{table}"), [*keys, "shard"])


def downgrade() -> None:
    for table, keys in _TABLES:
        columns = ", ".join(keys)
        # Fold the shards into one row per key (marked -1), drop the rest, then the column.
        op.execute(
            f"INSERT INTO {table} ({columns}, shard, count) "  # noqa: S608 (fixed names)
            f"SELECT {columns}, -1, SUM(count) FROM {table} GROUP BY {columns}"
        )
        op.execute(f"DELETE FROM {table} WHERE shard <> -1")  # noqa: S608
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(op.f(f"pk_{table}"), keys)
            batch.drop_column("shard")
