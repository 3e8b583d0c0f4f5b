"""Create the SQL store's tables.

Revision ID: 0001
Revises:
Create Date: 2026-03-02

The DDL is written out here rather than taken from the live schema module, so
this revision keeps creating exactly what it always created.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from supportflow.sqlstore._schema import check_prefix

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _prefix() -> str:
    return check_prefix(context.config.attributes["prefix"])


def _key() -> sa.types.TypeEngine[str]:
    # Ids and keys sort by code point, like Python's str.
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width ISO-8601 UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    p = _prefix()
    op.create_table(
        f"{p}tickets",
        sa.Column("id", _key(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("requester", sa.String(), nullable=False),
        sa.Column("assignee", sa.String(), nullable=True),
        sa.Column("group", sa.String(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
    )
    for column in ("state", "priority", "requester", "assignee", "group"):
        op.create_index(f"ix_{p}tickets_{column}", f"{p}tickets", [column, "id"])

    op.create_table(
        f"{p}events",
        sa.Column("ticket_id", _key(), sa.ForeignKey(f"{p}tickets.id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        f"{p}idempotency",
        sa.Column("key", _key(), primary_key=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("ticket_id", _key(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        f"{p}sla",
        sa.Column("ticket_id", _key(), sa.ForeignKey(f"{p}tickets.id"), primary_key=True),
        sa.Column("projection", sa.Text(), nullable=False),
    )
    op.create_table(
        f"{p}timers",
        sa.Column("key", _key(), primary_key=True),
        sa.Column("ticket_id", _key(), sa.ForeignKey(f"{p}tickets.id"), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("policy_set", sa.Integer(), nullable=False),
    )
    op.create_index(f"ix_{p}timers_due", f"{p}timers", ["at", "key"])
    op.create_index(f"ix_{p}timers_ticket_id", f"{p}timers", ["ticket_id"])
    op.create_table(
        f"{p}fired_timers",
        sa.Column("key", _key(), primary_key=True),
        sa.Column("fired_at", _instant(), nullable=False),
    )
    op.create_table(
        f"{p}outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("ticket_id", _key(), sa.ForeignKey(f"{p}tickets.id"), nullable=False),
        sa.Column("event_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("token", sa.String(), nullable=True),
        sa.Column("lease_until", _instant(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("delivered_at", _instant(), nullable=True),
        sa.UniqueConstraint("ticket_id", "event_version", name=f"uq_{p}outbox_event"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        f"ix_{p}outbox_pending",
        f"{p}outbox",
        ["id"],
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    p = _prefix()
    for table in ("outbox", "fired_timers", "timers", "sla", "idempotency", "events", "tickets"):
        op.drop_table(f"{p}{table}")
