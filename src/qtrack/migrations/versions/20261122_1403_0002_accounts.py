"""accounts: roles, login sessions, refresh and API tokens, security log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 14:03:44.655524+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The shipped roles as of this revision. Later revisions that add permissions update them;
# a test checks the database's shipped roles equal qtrack.accounts.permissions.BUILTIN_ROLES.
_READ = ["event.read", "item.read"]
_FLOOR = [
    "item.create",
    "item.dispense",
    "item.move",
    "item.pack",
    "item.quantity",
    "item.transition",
    "label.print",
]
_ALL = [
    "admin.config",
    "admin.users",
    "audit.verify",
    "event.read",
    "item.archive",
    "item.create",
    "item.dispense",
    "item.edit",
    "item.move",
    "item.pack",
    "item.quantity",
    "item.read",
    "item.release",
    "item.transition",
    "label.print",
    "location.manage",
    "order.manage",
    "shipment.manage",
]
_SUPERVISOR_EXTRA = [
    "audit.verify",
    "item.archive",
    "item.edit",
    "item.release",
    "location.manage",
    "order.manage",
]
ROLES = [
    ("admin", "Administrator", "Everything, including users and configuration", _ALL),
    (
        "supervisor",
        "Supervisor (QA)",
        "Releases and rejects lots, edits and archives items, verifies the audit trail",
        sorted(_READ + _FLOOR + _SUPERVISOR_EXTRA),
    ),
    (
        "operator",
        "Operator",
        "Scans, registers, moves, packs and dispenses",
        sorted(_READ + _FLOOR),
    ),
    (
        "dispatcher",
        "Dispatcher",
        "Packs containers and builds shipments",
        sorted([*_READ, "item.move", "item.pack", "label.print", "shipment.manage"]),
    ),
    ("viewer", "Viewer", "Reads items and their history; changes nothing", sorted(_READ)),
]


def _seed_roles() -> None:
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
    now = datetime.now(UTC)
    if op.get_context().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored as naive UTC, like qtrack.core.orm.UTCDateTime
    op.bulk_insert(
        role,
        [
            {
                "key": key,
                "name": name,
                "description": description,
                "permissions": permissions,
                "builtin": True,
                "created_at": now,
                "updated_at": now,
            }
            for key, name, description, permissions in ROLES
        ],
    )


def upgrade() -> None:
    op.create_table(
        "role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role")),
        sa.UniqueConstraint("key", name=op.f("uq_role_key")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_api_token_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_api_token_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "login_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_login_session_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_session")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_login_session_secret_hash")),
    )
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "security_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("subject_user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user.id"], name=op.f("fk_security_event_actor_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["subject_user_id"], ["user.id"], name=op.f("fk_security_event_subject_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
    )
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_event_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index("ix_security_event_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "refresh_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["login_session.id"],
            name=op.f("fk_refresh_token_session_id_login_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_token_token_hash")),
    )
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refresh_token_session_id"), ["session_id"], unique=False
        )

    _seed_roles()
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Users keep the role they had by name; an unknown name becomes viewer (least rights).
    op.execute(
        'UPDATE "user" SET role_id = COALESCE('
        '(SELECT role.id FROM role WHERE role.key = "user".role), '
        "(SELECT role.id FROM role WHERE role.key = 'viewer')), "
        "password_changed_at = created_at"
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.alter_column("role_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column(
            "password_changed_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(batch_op.f("ix_user_role_id"), ["role_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_user_role_id_role"), "role", ["role_id"], ["id"])
        batch_op.drop_column("role")


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.VARCHAR(length=64), nullable=True))
    op.execute(
        'UPDATE "user" SET role = (SELECT role.key FROM role WHERE role.id = "user".role_id)'
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.drop_constraint(batch_op.f("fk_user_role_id_role"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_user_role_id"))
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("role_id")

    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_token_session_id"))
    op.drop_table("refresh_token")
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.drop_index("ix_security_event_occurred_at")
        batch_op.drop_index(batch_op.f("ix_security_event_actor_id"))
    op.drop_table("security_event")
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_session_user_id"))
    op.drop_table("login_session")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))
    op.drop_table("api_token")
    op.drop_table("role")
