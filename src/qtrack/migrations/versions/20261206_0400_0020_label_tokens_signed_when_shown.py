"""label tokens signed when shown: item_label no longer stores its token

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:00:00.000000+00:00

A label's token is version ‖ key id ‖ item id ‖ serial ‖ the Ed25519 signature of those, and
Ed25519 is deterministic: the row and the key's private half give the same token every time.
qtrack now makes it when a label is printed or shown (`signing.tokens.label_token`), so
registering or importing items signs nothing, and the column and its unique key go. So does
the index on `item_label.item_id` alone: the unique key (item_id, serial) leads with it.

Downgrading adds the column back and fills it, signing every label again with the key that
issued it: that needs the same `QTRACK_SECRET_KEY` as the server (the private halves are sealed
with it), and is the one place a migration uses qtrack's own code.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 10_000


def upgrade() -> None:
    with op.batch_alter_table("item_label", schema=None) as batch_op:
        batch_op.drop_index("ix_item_label_item_id")
        batch_op.drop_constraint("uq_item_label_token", type_="unique")
        batch_op.drop_column("token")


def downgrade() -> None:
    # Every key is opened before the table changes: a wrong secret stops the downgrade while
    # nothing is changed (SQLite keeps each batch's DDL; PostgreSQL would roll it back).
    private = _open_keys()
    with op.batch_alter_table("item_label", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=128), nullable=True))
    _fill_tokens(private)
    with op.batch_alter_table("item_label", schema=None) as batch_op:
        batch_op.alter_column("token", existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint("uq_item_label_token", ["token"])
        batch_op.create_index("ix_item_label_item_id", ["item_id"], unique=False)


def _open_keys() -> dict[int, Any]:
    """The private half of every key a label was issued with, opened with the server's
    secret (`QTRACK_SECRET_KEY`; qtrack's own code: the one migration that uses it)."""
    from qtrack.config import get_settings  # noqa: PLC0415  (only a downgrade with labels)
    from qtrack.signing import keys  # noqa: PLC0415

    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, private_key_encrypted FROM signing_key"
            " WHERE id IN (SELECT DISTINCT key_id FROM item_label)"
        )
    )
    secret = get_settings().secret_key.get_secret_value()
    return {key_id: keys.unseal(secret, sealed, key_id) for key_id, sealed in rows}


def _fill_tokens(private: dict[int, Any]) -> None:
    """Sign every label's token again, as the release before this one stored it."""
    from qtrack.signing import tokens  # noqa: PLC0415

    conn = op.get_bind()
    update = sa.text("UPDATE item_label SET token = :token WHERE id = :id")
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, key_id, item_id, serial FROM item_label"
                " WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        conn.execute(
            update,
            [
                {"id": i, "token": tokens.sign_label(private[k], k, item, serial)}
                for i, k, item, serial in rows
            ],
        )
        last = rows[-1][0]
