"""orders: restock orders, their lines, receipts and history, the order number series; the
order permissions in the shipped roles

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-05 08:20:00.000000+00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Permissions this revision adds to each shipped role (the code's BUILTIN_ROLES as of now).
_RESTOCK = ["order.create", "order.read", "order.receive", "order.submit"]
ADDED = {
    "admin": [*_RESTOCK, "order.approve", "order.cancel"],
    "supervisor": [*_RESTOCK, "order.approve", "order.cancel"],
    "operator": _RESTOCK,
}


def _update_roles(add: bool) -> None:
    bind = op.get_bind()
    for key, names in ADDED.items():
        raw = bind.execute(
            sa.text("SELECT permissions FROM role WHERE key = :key AND builtin"), {"key": key}
        ).scalar()
        if raw is None:
            continue
        current = set(json.loads(raw) if isinstance(raw, str) else raw)
        changed = current | set(names) if add else current - set(names)
        bind.execute(
            sa.text("UPDATE role SET permissions = :perms WHERE key = :key").bindparams(
                sa.bindparam("perms", type_=sa.JSON)
            ),
            {"perms": sorted(changed), "key": key},
        )


def upgrade() -> None:
    op.create_table(
        "restock_order_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_order_counter")),
    )
    op.execute("INSERT INTO restock_order_counter (id, last_seq) VALUES (1, 0)")
    op.create_table(
        "restock_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_restock_order_created_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_order")),
        sa.UniqueConstraint("code", name=op.f("uq_restock_order_code")),
    )
    op.create_index("ix_restock_order_status_id", "restock_order", ["status", "id"])
    op.create_table(
        "restock_order_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 6), nullable=False),
        sa.Column("supplier_ref", sa.String(length=100), nullable=False),
        sa.Column("received_quantity", sa.Numeric(18, 6), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["restock_order.id"],
            name=op.f("fk_restock_order_line_order_id_restock_order"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"], ["item_type.id"], name=op.f("fk_restock_order_line_type_id_item_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_order_line")),
        sa.UniqueConstraint(
            "order_id", "position", name=op.f("uq_restock_order_line_order_id_position")
        ),
    )
    op.create_index(op.f("ix_restock_order_line_type_id"), "restock_order_line", ["type_id"])
    op.create_table(
        "restock_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 6), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("expiry_on", sa.Date(), nullable=True),
        sa.Column("item_codes", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("client_event_id", sa.String(length=64), nullable=True),
        sa.Column("received_by_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["restock_order_line.id"],
            name=op.f("fk_restock_receipt_line_id_restock_order_line"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["restock_order.id"],
            name=op.f("fk_restock_receipt_order_id_restock_order"),
        ),
        sa.ForeignKeyConstraint(
            ["received_by_id"], ["user.id"], name=op.f("fk_restock_receipt_received_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_receipt")),
        sa.UniqueConstraint(
            "order_id", "client_event_id", name=op.f("uq_restock_receipt_order_id_client_event_id")
        ),
    )
    op.create_index("ix_restock_receipt_order_id_id", "restock_receipt", ["order_id", "id"])
    op.create_table(
        "restock_order_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user.id"], name=op.f("fk_restock_order_event_actor_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["restock_order.id"],
            name=op.f("fk_restock_order_event_order_id_restock_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_order_event")),
    )
    op.create_index("ix_restock_order_event_order_id_id", "restock_order_event", ["order_id", "id"])
    op.create_index("ix_restock_order_event_recorded_at", "restock_order_event", ["recorded_at"])
    _update_roles(add=True)


def downgrade() -> None:
    _update_roles(add=False)
    op.drop_table("restock_order_event")
    op.drop_table("restock_receipt")
    op.drop_table("restock_order_line")
    op.drop_table("restock_order")
    op.drop_table("restock_order_counter")
