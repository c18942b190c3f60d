"""workflow: the shipped bag workflow's sealed, dispatched and delivered states are closed

A closed state fixes a container's contents: nothing may be packed into it or taken out.
Databases made before the flag existed get it on the shipped bag workflow, as new ones are
seeded; workflows an admin made are left as they are. Downgrading removes the flag from every
state (the earlier code refuses keys it does not know).

Revision ID: 0009
Revises: 0011
Create Date: 2026-12-04 17:00:00.000000+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOSED = {"sealed", "dispatched", "delivered"}
_workflow = sa.table(
    "workflow",
    sa.column("id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("builtin", sa.Boolean()),
    sa.column("definition", sa.JSON()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _rewrite(where: Any, change: Any) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_workflow.c.id, _workflow.c.definition).where(where)).all()
    for workflow_id, definition in rows:
        states = [change(dict(state)) for state in definition.get("states", [])]
        # A new updated_at: each process keeps parsed definitions by (id, updated_at).
        now = datetime.now(UTC)
        if bind.dialect.name == "sqlite":
            now = now.replace(tzinfo=None)
        bind.execute(
            _workflow.update()
            .where(_workflow.c.id == workflow_id)
            .values(definition={**definition, "states": states}, updated_at=now)
        )


def _close(state: dict[str, Any]) -> dict[str, Any]:
    if state.get("key") in _CLOSED:
        state["closed"] = True
    return state


def _open(state: dict[str, Any]) -> dict[str, Any]:
    state.pop("closed", None)
    return state


def upgrade() -> None:
    _rewrite((_workflow.c.key == "bag") & _workflow.c.builtin.is_(True), _close)


def downgrade() -> None:
    _rewrite(sa.true(), _open)
