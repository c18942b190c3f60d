"""stock: categories of item types, critical types, on-hand stock per type and location with
its levels, alerts; the stock and alert permissions in the shipped roles

Revision ID: 0014
Revises: 0015
Create Date: 2026-12-05 08:00:00.000000+00:00
"""

import json
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
QUANTITY = sa.Numeric(18, 6)

# Permissions this revision adds to each shipped role (the code's BUILTIN_ROLES as of now).
_ALL = ["alert.acknowledge", "stock.manage", "stock.read"]
ADDED = {
    "admin": _ALL,
    "supervisor": _ALL,
    "operator": ["alert.acknowledge", "stock.read"],
    "dispatcher": ["stock.read"],
    "biller": ["stock.read"],
    "viewer": ["stock.read"],
}
# States whose items are not stock on hand whatever their workflow says (items/on_hand.py).
DONE_WITH = {"rejected", "expired"}


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


def _fill_stock() -> None:
    """On-hand of the items already there: per type and direct location, and per type."""
    bind = op.get_bind()
    stocked: dict[int, set[str]] = {}  # workflow id -> states that are not done with
    for wf_id, raw in bind.execute(sa.text("SELECT id, definition FROM workflow")):
        definition = json.loads(raw) if isinstance(raw, str) else raw
        stocked[wf_id] = {
            s["key"]
            for s in definition.get("states", [])
            if not s.get("terminal") and s["key"] not in DONE_WITH
        }
    types = {
        row.id: (row.workflow_id, bool(row.tracks_quantity))
        for row in bind.execute(sa.text("SELECT id, workflow_id, tracks_quantity FROM item_type"))
    }
    totals: dict[tuple[int, int], Decimal] = {}
    rows = bind.execute(
        sa.text(
            "SELECT type_id, location_id, status, count(*) AS n, sum(quantity) AS q FROM item"
            " WHERE NOT archived GROUP BY type_id, location_id, status"
        )
    )
    for type_id, location_id, status, n, q in rows:
        workflow_id, tracks_quantity = types[type_id]
        if status not in stocked.get(workflow_id, set()):
            continue
        amount = Decimal(str(q or 0)) if tracks_quantity else Decimal(n)
        for key in ((type_id, 0), (type_id, location_id)):
            if key[1] is not None:
                totals[key] = totals.get(key, Decimal(0)) + amount
    table = sa.table(
        "stock_on_hand",
        sa.column("type_id", sa.Integer),
        sa.column("location_id", sa.Integer),
        sa.column("on_hand", QUANTITY),
        sa.column("local_levels", sa.Integer),
    )
    if totals:
        op.bulk_insert(
            table,
            [
                {"type_id": t, "location_id": loc, "on_hand": v, "local_levels": 0}
                for (t, loc), v in sorted(totals.items())
            ],
        )


def upgrade() -> None:
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["category.id"], name=op.f("fk_category_parent_id_category")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category")),
        sa.UniqueConstraint("key", name=op.f("uq_category_key")),
    )
    op.create_index("ix_category_path", "category", ["path"])
    op.create_index(op.f("ix_category_parent_id"), "category", ["parent_id"])
    # Batch mode: SQLite adds a foreign key only by rebuilding the table.
    with op.batch_alter_table("item_type") as batch:
        batch.add_column(sa.Column("category_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("critical", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_foreign_key(
            op.f("fk_item_type_category_id_category"), "category", ["category_id"], ["id"]
        )
        batch.create_index(op.f("ix_item_type_category_id"), ["category_id"])
    op.create_table(
        "stock_on_hand",
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("on_hand", QUANTITY, server_default="0", nullable=False),
        sa.Column("minimum_level", QUANTITY, nullable=True),
        sa.Column("reorder_level", QUANTITY, nullable=True),
        sa.Column("state", sa.String(length=8), nullable=True),
        sa.Column("local_levels", sa.Integer(), server_default="0", nullable=False),
        sa.Column("levels_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["type_id"], ["item_type.id"], name=op.f("fk_stock_on_hand_type_id_item_type")
        ),
        sa.PrimaryKeyConstraint("type_id", "location_id", name=op.f("pk_stock_on_hand")),
    )
    op.create_index(
        "ix_stock_on_hand_state",
        "stock_on_hand",
        ["state"],
        postgresql_where=sa.text("state IS NOT NULL"),
    )
    op.create_table(
        "alert",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("item_id", BIG_ID, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["type_id"], ["item_type.id"], name=op.f("fk_alert_type_id_item_type")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_alert_location_id_location")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_alert_item_id_item")),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"], ["user.id"], name=op.f("fk_alert_acknowledged_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    op.create_index(
        "uq_alert_kind_subject_open",
        "alert",
        ["kind", "subject"],
        unique=True,
        postgresql_where=sa.text("cleared_at IS NULL"),
        sqlite_where=sa.text("cleared_at IS NULL"),
    )
    op.create_index(
        "ix_alert_pending",
        "alert",
        ["id"],
        postgresql_where=sa.text("acknowledged_at IS NULL AND cleared_at IS NULL"),
        sqlite_where=sa.text("acknowledged_at IS NULL AND cleared_at IS NULL"),
    )
    _fill_stock()
    _update_roles(add=True)


def downgrade() -> None:
    _update_roles(add=False)
    op.drop_index("ix_alert_pending", table_name="alert")
    op.drop_index("uq_alert_kind_subject_open", table_name="alert")
    op.drop_table("alert")
    op.drop_index("ix_stock_on_hand_state", table_name="stock_on_hand")
    op.drop_table("stock_on_hand")
    with op.batch_alter_table("item_type") as batch:
        batch.drop_index(op.f("ix_item_type_category_id"))
        batch.drop_constraint(op.f("fk_item_type_category_id_category"), type_="foreignkey")
        batch.drop_column("critical")
        batch.drop_column("category_id")
    op.drop_index(op.f("ix_category_parent_id"), table_name="category")
    op.drop_index("ix_category_path", table_name="category")
    op.drop_table("category")
