"""a receipt keeps what it said, hashed: its client_event_id sent again with other goods is refused

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 02:00:00.000000+00:00

Receipts recorded before have none, and a retry of one is answered as before. The column is
added and dropped in place (SQLite has ALTER TABLE ... DROP COLUMN since 3.35), with no copy of
the table that a failed downgrade further down could leave behind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("restock_receipt", sa.Column("fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("restock_receipt", "fingerprint")
