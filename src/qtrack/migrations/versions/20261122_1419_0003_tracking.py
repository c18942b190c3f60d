"""tracking: workflows, locations, item types, items, the event chain, counts, idempotency

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 14:19:52.717989+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("radius_m", sa.Double(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["location.id"], name=op.f("fk_location_parent_id_location")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location")),
        sa.UniqueConstraint("code", name=op.f("uq_location_code")),
    )
    with op.batch_alter_table("location", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_location_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_location_path", ["path"], unique=False)

    op.create_table(
        "workflow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow")),
        sa.UniqueConstraint("key", name=op.f("uq_workflow_key")),
    )
    op.create_table(
        "item_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code_prefix", sa.String(length=8), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("tracks_quantity", sa.Boolean(), nullable=False),
        sa.Column("tracks_expiry", sa.Boolean(), nullable=False),
        sa.Column("can_contain", sa.Boolean(), nullable=False),
        sa.Column("low_stock_threshold", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("attribute_schema", sa.JSON(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflow.id"], name=op.f("fk_item_type_workflow_id_workflow")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_type")),
        sa.UniqueConstraint("code_prefix", name=op.f("uq_item_type_code_prefix")),
        sa.UniqueConstraint("key", name=op.f("uq_item_type_key")),
    )
    with op.batch_alter_table("item_type", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_type_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "location_count",
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_location_count_location_id_location")
        ),
        sa.PrimaryKeyConstraint("location_id", name=op.f("pk_location_count")),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_idempotency_record_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_record_user_id_key")),
    )
    op.create_table(
        "item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("expiry_on", sa.Date(), nullable=True),
        sa.Column("expiry_raw", sa.String(length=6), nullable=True),
        sa.Column("weight_kg", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("last_event_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_item_location_id_location")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["item.id"], name=op.f("fk_item_parent_id_item")),
        sa.ForeignKeyConstraint(
            ["type_id"], ["item_type.id"], name=op.f("fk_item_type_id_item_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
        sa.UniqueConstraint("code", name=op.f("uq_item_code")),
    )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.create_index("ix_item_batch", ["batch"], unique=False)
        batch_op.create_index("ix_item_expiry_on", ["expiry_on"], unique=False)
        batch_op.create_index("ix_item_gtin", ["gtin"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_location_id"), ["location_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_item_type_id_status", ["type_id", "status"], unique=False)

    op.create_table(
        "status_count",
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_id"], ["item_type.id"], name=op.f("fk_status_count_type_id_item_type")
        ),
        sa.PrimaryKeyConstraint("type_id", "status", name=op.f("pk_status_count")),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("client_event_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("signed_by_id", sa.Integer(), nullable=True),
        sa.Column("signature_meaning", sa.String(length=100), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_event_actor_id_user")),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_event_item_id_item")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["location.id"], name=op.f("fk_event_location_id_location")
        ),
        sa.ForeignKeyConstraint(
            ["signed_by_id"], ["user.id"], name=op.f("fk_event_signed_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_token.id"], name=op.f("fk_event_token_id_api_token")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("item_id", "seq", name=op.f("uq_event_item_id_seq")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_event_client_event_id"), ["client_event_id"], unique=False
        )
        batch_op.create_index("ix_event_item_id_id", ["item_id", "id"], unique=False)
    _append_only_events()
    if op.get_context().dialect.name == "postgresql":
        # Substring search on code, name and batch: trigram indexes make ILIKE '%x%' use an
        # index. Kept out of the models (SQLite has no such thing); see include_object.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in TRIGRAM_COLUMNS:
            op.execute(
                f"CREATE INDEX ix_item_{column}_trgm ON item USING gin ({column} gin_trgm_ops)"
            )


TRIGRAM_COLUMNS = ("code", "name", "batch")

_PG_GUARD = """
CREATE FUNCTION qtrack_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'event rows are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def _append_only_events() -> None:
    """The database itself refuses to change or remove history."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_GUARD)
        op.execute(
            "CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
            "FOR EACH ROW EXECUTE FUNCTION qtrack_event_append_only()"
        )
        op.execute(
            "CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event "
            "FOR EACH STATEMENT EXECUTE FUNCTION qtrack_event_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER event_no_{action.lower()} BEFORE {action} ON event "
                f"BEGIN SELECT RAISE(ABORT, 'event rows are append-only: {action} refused'); END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for column in TRIGRAM_COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_item_{column}_trgm")
        op.execute("DROP TRIGGER IF EXISTS event_no_truncate ON event")
        op.execute("DROP TRIGGER IF EXISTS event_append_only ON event")
        op.execute("DROP FUNCTION IF EXISTS qtrack_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS event_no_update")
        op.execute("DROP TRIGGER IF EXISTS event_no_delete")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_item_id_id")
        batch_op.drop_index(batch_op.f("ix_event_actor_id"))

    op.drop_table("event")
    op.drop_table("status_count")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_type_id_status")
        batch_op.drop_index(batch_op.f("ix_item_parent_id"))
        batch_op.drop_index(batch_op.f("ix_item_location_id"))
        batch_op.drop_index("ix_item_gtin")
        batch_op.drop_index("ix_item_expiry_on")
        batch_op.drop_index("ix_item_batch")

    op.drop_table("item")
    op.drop_table("idempotency_record")
    op.drop_table("location_count")
    with op.batch_alter_table("item_type", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_type_workflow_id"))

    op.drop_table("item_type")
    op.drop_table("workflow")
    with op.batch_alter_table("location", schema=None) as batch_op:
        batch_op.drop_index("ix_location_path")
        batch_op.drop_index(batch_op.f("ix_location_parent_id"))

    op.drop_table("location")
