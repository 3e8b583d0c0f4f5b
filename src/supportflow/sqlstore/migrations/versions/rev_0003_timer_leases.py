"""Lease due timers instead of deleting them when claimed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A runner claiming a due timer now writes a lease (token, expiry, worker,
attempt count) on the timer's row; the row goes only when the step is carried
out. A runner that dies mid-batch leaves its leases to run out, and another
runner takes the timers over.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from supportflow.sqlstore._schema import check_prefix

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _prefix() -> str:
    return check_prefix(context.config.attributes["prefix"])


def _instant() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")


def upgrade() -> None:
    table = f"{_prefix()}timers"
    op.add_column(table, sa.Column("token", sa.String(), nullable=True))
    op.add_column(table, sa.Column("lease_until", _instant(), nullable=True))
    op.add_column(table, sa.Column("worker", sa.String(), nullable=True))
    op.add_column(
        table,
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    table = f"{_prefix()}timers"
    with op.batch_alter_table(table) as batch:
        for column in ("attempts", "worker", "lease_until", "token"):
            batch.drop_column(column)
