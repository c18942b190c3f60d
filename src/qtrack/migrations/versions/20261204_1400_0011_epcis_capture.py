"""epcis: the administrator role may capture partners' EPCIS events

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMISSION = "epcis.capture"
# The shipped roles that hold it (qtrack.accounts.permissions.BUILTIN_ROLES): admin has all.
ROLES = ("admin",)

_role = sa.table(
    "role",
    sa.column("id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("permissions", sa.JSON),
    sa.column("builtin", sa.Boolean),
)


def _change(add: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_role.c.id, _role.c.permissions).where(
            _role.c.key.in_(ROLES), _role.c.builtin.is_(True)
        )
    ).all()
    for role_id, permissions in rows:
        kept = [p for p in permissions or [] if p != PERMISSION]
        conn.execute(
            sa.update(_role)
            .where(_role.c.id == role_id)
            .values(permissions=sorted([*kept, PERMISSION]) if add else kept)
        )


def upgrade() -> None:
    _change(add=True)


def downgrade() -> None:
    _change(add=False)
