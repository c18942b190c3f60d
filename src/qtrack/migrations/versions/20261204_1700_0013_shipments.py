"""shipments: bills, their lines and history, the number series; the event time index; the
shipment and report permissions in the shipped roles (and the biller role)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 15:00:00.000000+00:00
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Permissions this revision adds to each shipped role (the code's BUILTIN_ROLES as of now).
_SHIPPING = ["shipment.create", "shipment.read"]
ADDED = {
    "admin": [
        *_SHIPPING,
        "report.read",
        "shipment.cancel",
        "shipment.dispatch",
        "shipment.issue",
    ],
    "supervisor": [
        *_SHIPPING,
        "report.read",
        "shipment.cancel",
        "shipment.dispatch",
        "shipment.issue",
        "shipment.manage",
    ],
    "dispatcher": [*_SHIPPING, "shipment.dispatch"],
}
BILLER = (
    "biller",
    "Biller",
    "Builds shipments from sealed containers, issues and prints the bills",
    sorted(
        [
            "event.read",
            "item.read",
            "label.print",
            "shipment.manage",
            "shipment.issue",
            *_SHIPPING,
        ]
    ),
)


def _now() -> datetime:
    now = datetime.now(UTC)
    if op.get_context().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored as naive UTC, like qtrack.core.orm.UTCDateTime
    return now


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
    if add:
        key, name, description, permissions = BILLER
        role = sa.table(
            "role",
            sa.column("key", sa.String),
            sa.column("name", sa.String),
            sa.column("description", sa.String),
            sa.column("permissions", sa.JSON),
            sa.column("builtin", sa.Boolean),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        )
        exists = bind.execute(sa.text("SELECT 1 FROM role WHERE key = 'biller'")).scalar()
        if not exists:
            op.bulk_insert(
                role,
                [
                    {
                        "key": key,
                        "name": name,
                        "description": description,
                        "permissions": permissions,
                        "builtin": True,
                        "created_at": _now(),
                        "updated_at": _now(),
                    }
                ],
            )
    else:
        # Users who held the biller role fall back to viewer (least rights).
        bind.execute(
            sa.text(
                "UPDATE \"user\" SET role_id = (SELECT id FROM role WHERE key = 'viewer') "
                "WHERE role_id = (SELECT id FROM role WHERE key = 'biller')"
            )
        )
        bind.execute(sa.text("DELETE FROM role WHERE key = 'biller'"))


def upgrade() -> None:
    op.create_index("ix_event_recorded_at", "event", ["recorded_at"])
    op.create_table(
        "shipment_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_counter")),
    )
    op.execute("INSERT INTO shipment_counter (id, last_seq) VALUES (1, 0)")
    op.create_table(
        "shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consignee", sa.String(length=200), nullable=False),
        sa.Column("destination", sa.String(length=500), nullable=False),
        sa.Column("destination_location_id", sa.Integer(), nullable=True),
        sa.Column("carrier", sa.String(length=200), nullable=False),
        sa.Column("vehicle", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_shipment_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["destination_location_id"],
            ["location.id"],
            name=op.f("fk_shipment_destination_location_id_location"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment")),
        sa.UniqueConstraint("number", name=op.f("uq_shipment_number")),
    )
    op.create_index("ix_shipment_status_id", "shipment", ["status", "id"])
    op.create_index(op.f("ix_shipment_dispatched_at"), "shipment", ["dispatched_at"])
    op.create_table(
        "shipment_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("open_item_id", BIG_ID, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("expected_weight_kg", sa.Numeric(18, 6), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["user.id"], name=op.f("fk_shipment_line_added_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["item.id"], name=op.f("fk_shipment_line_item_id_item")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipment.id"], name=op.f("fk_shipment_line_shipment_id_shipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_line")),
        sa.UniqueConstraint("open_item_id", name=op.f("uq_shipment_line_open_item_id")),
    )
    op.create_index(op.f("ix_shipment_line_item_id"), "shipment_line", ["item_id"])
    op.create_index(
        "ix_shipment_line_shipment_id_position", "shipment_line", ["shipment_id", "position"]
    )
    op.create_table(
        "shipment_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user.id"], name=op.f("fk_shipment_event_actor_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipment.id"], name=op.f("fk_shipment_event_shipment_id_shipment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_event")),
    )
    op.create_index("ix_shipment_event_shipment_id_id", "shipment_event", ["shipment_id", "id"])
    op.create_index("ix_shipment_event_recorded_at", "shipment_event", ["recorded_at"])
    _update_roles(add=True)


def downgrade() -> None:
    _update_roles(add=False)
    op.drop_table("shipment_event")
    op.drop_table("shipment_line")
    op.drop_table("shipment")
    op.drop_table("shipment_counter")
    op.drop_index("ix_event_recorded_at", table_name="event")
