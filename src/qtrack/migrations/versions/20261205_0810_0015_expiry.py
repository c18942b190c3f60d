"""expiry: each item type's "expiring soon" window; workflows name their expired state

`item_type.expiry_window_days` (default 30): how many days before its expiry date an item
counts as expiring soon. A workflow state may be marked `"expired": true`, the state the expiry
sweep moves items past their expiry date to; databases made before the flag existed get it on
every workflow's state keyed `expired` (the shipped material and supply workflows have one),
unless the workflow marks one already. Downgrading removes the flag from every state (the
earlier code refuses keys it does not know).

Revision ID: 0015
Revises: 0017
Create Date: 2026-12-05 08:10:00.000000+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_workflow = sa.table(
    "workflow",
    sa.column("id", sa.Integer()),
    sa.column("definition", sa.JSON()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _rewrite(change: Any) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_workflow.c.id, _workflow.c.definition)).all()
    for workflow_id, definition in rows:
        states = [dict(state) for state in definition.get("states", [])]
        if not change(states):
            continue
        # A new updated_at: each process keeps parsed definitions by (id, updated_at).
        now = datetime.now(UTC)
        if bind.dialect.name == "sqlite":
            now = now.replace(tzinfo=None)
        bind.execute(
            _workflow.update()
            .where(_workflow.c.id == workflow_id)
            .values(definition={**definition, "states": states}, updated_at=now)
        )


def _mark(states: list[dict[str, Any]]) -> bool:
    if any(state.get("expired") for state in states):
        return False
    marked = False
    for state in states:
        if state.get("key") == "expired":
            state["expired"] = marked = True
    return marked


def _unmark(states: list[dict[str, Any]]) -> bool:
    found = False
    for state in states:
        if state.pop("expired", None) is not None:
            found = True
    return found


def upgrade() -> None:
    with op.batch_alter_table("item_type", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expiry_window_days", sa.Integer(), server_default="30", nullable=False)
        )
    _rewrite(_mark)


def downgrade() -> None:
    _rewrite(_unmark)
    with op.batch_alter_table("item_type", schema=None) as batch_op:
        batch_op.drop_column("expiry_window_days")
