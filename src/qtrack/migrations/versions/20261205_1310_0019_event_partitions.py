"""event partitions: on PostgreSQL the event table is partitioned by month of recorded_at

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-05 13:10:00.000000+00:00

On PostgreSQL the existing table is converted: a partitioned `event` takes its name, one
partition per month from the oldest event's month to PARTITIONS_AHEAD months past this one
(and a default partition for anything outside them), the rows are copied across (INSERT,
which the append-only triggers allow) and the old table is dropped. The copy holds an
exclusive lock on `event` while it runs: plan it as downtime for a large table
(docs/deploy.md gives the figure). On SQLite the event table is left as it is.

Both backends get `event_archive` and `event_archive_head`, what `qtrack db partitions
detach` records about a partition it takes out (empty on SQLite, which has no partitions).
docs/architecture.md, "The event table's partitions", says how each guarantee is kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTITIONS_AHEAD = 3  # months past the current one, as the default QTRACK_EVENT_PARTITIONS_AHEAD

# One partition for the month holding `month`: named event_yYYYYmMM, bounded in UTC, with its
# own unique (item_id, seq) index (a partitioned table's unique keys must include the
# partition key, so the parent cannot hold it) and its own TRUNCATE guard (statement
# triggers are not inherited). Returns the new partition's name, NULL if it existed. The
# advisory lock keeps two workers from racing on the same month. The job, the CLI and this
# migration all create partitions through it, so they are always the same shape.
_PARTITION_FUNCTION = """
CREATE FUNCTION qtrack_event_partition(month date) RETURNS text AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := format('event_y%sm%s', to_char(first, 'YYYY'), to_char(first, 'MM'));
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('qtrack_event_partition'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF event FOR VALUES FROM (%L) TO (%L)',
        name, first::text || ' 00:00:00+00',
        (first + interval '1 month')::date::text || ' 00:00:00+00'
    );
    PERFORM qtrack_event_partition_guards(name);
    RETURN name;
END
$$ LANGUAGE plpgsql
"""

_GUARDS_FUNCTION = """
CREATE FUNCTION qtrack_event_partition_guards(name text) RETURNS void AS $$
BEGIN
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (item_id, seq)', name || '_item_id_seq_key', name);
    EXECUTE format(
        'CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON %I '
        'FOR EACH STATEMENT EXECUTE FUNCTION qtrack_event_append_only()', name
    );
END
$$ LANGUAGE plpgsql
"""

_INDEXES = {
    "ix_event_actor_id": "actor_id",
    "ix_event_client_event_id": "client_event_id",
    "ix_event_item_id_id": "item_id, id",
    "ix_event_recorded_at": "recorded_at",
    "ix_event_txid_id": "txid, id",
}
_FOREIGN_KEYS = {
    "fk_event_actor_id_user": ("actor_id", '"user"(id)'),
    "fk_event_item_id_item": ("item_id", "item(id)"),
    "fk_event_location_id_location": ("location_id", "location(id)"),
    "fk_event_signed_by_id_user": ("signed_by_id", '"user"(id)'),
    "fk_event_token_id_api_token": ("token_id", "api_token(id)"),
}


def _keys_and_indexes() -> None:
    for name, (column, target) in _FOREIGN_KEYS.items():
        op.execute(
            f"ALTER TABLE event ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {target}"
        )
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON event ({columns})")


def _guards() -> None:
    op.execute(
        "CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
        "FOR EACH ROW EXECUTE FUNCTION qtrack_event_append_only()"
    )
    op.execute(
        "CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON event "
        "FOR EACH STATEMENT EXECUTE FUNCTION qtrack_event_append_only()"
    )


def _partition() -> None:
    # The old table steps aside, with its secondary indexes gone (the names are needed
    # again, and it is dropped after the copy anyway).
    op.execute("ALTER TABLE event RENAME TO event_unpartitioned")
    op.execute(
        "ALTER TABLE event_unpartitioned RENAME CONSTRAINT pk_event TO pk_event_unpartitioned"
    )
    op.execute("ALTER TABLE event_unpartitioned DROP CONSTRAINT uq_event_item_id_seq")
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute("DROP TRIGGER event_append_only ON event_unpartitioned")
    op.execute("DROP TRIGGER event_no_truncate ON event_unpartitioned")

    # Same columns, defaults (the id sequence, the writing transaction's id) and NOT NULLs.
    op.execute(
        "CREATE TABLE event (LIKE event_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (recorded_at)"
    )
    op.execute("ALTER SEQUENCE event_id_seq OWNED BY event.id")
    op.execute("ALTER TABLE event ADD CONSTRAINT pk_event PRIMARY KEY (id, recorded_at)")
    _keys_and_indexes()
    op.execute(_GUARDS_FUNCTION)
    op.execute(_PARTITION_FUNCTION)
    op.execute(
        sa.text(
            """
            SELECT qtrack_event_partition(month::date)
            FROM generate_series(
                date_trunc('month', coalesce(
                    (SELECT min(recorded_at) FROM event_unpartitioned), now()) AT TIME ZONE 'UTC'),
                date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => :ahead),
                interval '1 month'
            ) AS month
            """
        ).bindparams(ahead=PARTITIONS_AHEAD)
    )
    op.execute("CREATE TABLE event_default PARTITION OF event DEFAULT")
    op.execute("SELECT qtrack_event_partition_guards('event_default')")
    op.execute("INSERT INTO event SELECT * FROM event_unpartitioned")
    op.execute("DROP TABLE event_unpartitioned")
    _guards()
    op.execute("ANALYZE event")


def _unpartition() -> None:
    op.execute("ALTER TABLE event RENAME TO event_partitioned")
    op.execute("ALTER TABLE event_partitioned RENAME CONSTRAINT pk_event TO pk_event_partitioned")
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute("CREATE TABLE event (LIKE event_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER SEQUENCE event_id_seq OWNED BY event.id")
    op.execute("ALTER TABLE event ADD CONSTRAINT pk_event PRIMARY KEY (id)")
    op.execute("ALTER TABLE event ADD CONSTRAINT uq_event_item_id_seq UNIQUE (item_id, seq)")
    _keys_and_indexes()
    op.execute("INSERT INTO event SELECT * FROM event_partitioned ORDER BY id")
    op.execute("DROP TABLE event_partitioned")  # and its partitions
    op.execute("DROP FUNCTION qtrack_event_partition(date)")
    op.execute("DROP FUNCTION qtrack_event_partition_guards(text)")
    _guards()


def upgrade() -> None:
    op.create_table(
        "event_archive",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=True),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("detached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_archive")),
    )
    op.create_table(
        "event_archive_head",
        sa.Column("archive", sa.String(length=63), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("first_prev_hash", sa.String(length=64), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["archive"],
            ["event_archive.name"],
            name=op.f("fk_event_archive_head_archive_event_archive"),
        ),
        sa.PrimaryKeyConstraint("item_id", "archive", name=op.f("pk_event_archive_head")),
    )
    if op.get_context().dialect.name == "postgresql":
        _partition()


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _unpartition()
    op.drop_table("event_archive_head")
    op.drop_table("event_archive")
