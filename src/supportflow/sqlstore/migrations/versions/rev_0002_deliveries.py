"""Add the notification delivery queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

One row per notification expanded from an outbox row, with its delivery state
(pending, sent, dead), lease and last error.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from supportflow.sqlstore._schema import check_prefix

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _prefix() -> str:
    return check_prefix(context.config.attributes["prefix"])


def _key() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    p = _prefix()
    op.create_table(
        f"{p}deliveries",
        sa.Column("id", _key(), primary_key=True),
        sa.Column(
            "outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_id", _key(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", _instant(), nullable=True),
        sa.Column("token", sa.String(), nullable=True),
        sa.Column("lease_until", _instant(), nullable=True),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("finished_at", _instant(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index(
        f"ix_{p}deliveries_due",
        f"{p}deliveries",
        ["next_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(f"ix_{p}deliveries_status", f"{p}deliveries", ["status", "id"])


def downgrade() -> None:
    op.drop_table(f"{_prefix()}deliveries")
