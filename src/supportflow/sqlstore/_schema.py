"""The SQL store's tables, built for one table-name prefix.

This is the schema as SQLAlchemy Core objects; ``migrations/`` holds the same
schema as Alembic revisions, and a test keeps the two identical on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from attrs import frozen
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from supportflow._time import to_utc
from supportflow.errors import ConfigError

__all__ = [
    "DEFAULT_PREFIX",
    "Tables",
    "UTCDateTime",
    "check_prefix",
    "encode_instant",
    "key_type",
    "tables",
]

#: The prefix of every table name unless the application picks another.
DEFAULT_PREFIX = "sf_"

_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,20}")


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a valid table-name prefix.

    Raises:
        ConfigError: it is not 1 to 21 characters of lowercase letters, digits
            and underscores starting with a letter.
    """
    # fullmatch, not match with "$": "$" would also accept a trailing newline.
    if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
        raise ConfigError(
            f"invalid table prefix {prefix!r}: use 1 to 21 characters, a lowercase letter "
            "followed by lowercase letters, digits or underscores (for example 'sf_' or "
            "'helpdesk_')"
        )
    return prefix


def key_type() -> TypeEngine[str]:
    """The type of ids and keys: text that sorts by code point, as Python sorts str.

    SQLite compares text bytewise already; PostgreSQL would use the database's
    locale, so the ``C`` collation is asked for explicitly.
    """
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def encode_instant(dialect_name: str, value: datetime, what: str) -> datetime | str:
    """``value`` as the driver should bind it: UTC, as ISO-8601 text on SQLite.

    Raises:
        NaiveDatetimeError: ``value`` has no time zone (``what`` names it).
    """
    instant = to_utc(value, what)
    if dialect_name == "sqlite":
        return instant.isoformat(timespec="microseconds")
    return instant


class UTCDateTime(TypeDecorator[datetime]):
    """An aware instant stored in UTC, read back aware in UTC, exact to the microsecond.

    PostgreSQL keeps it in a ``timestamp with time zone``. SQLite has no
    date type: it keeps the fixed-width ISO-8601 text
    ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, which sorts chronologically. A naive
    datetime is refused with :class:`~supportflow.errors.NaiveDatetimeError`.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return encode_instant(dialect.name, value, "a datetime to store")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(instant, datetime) or instant.tzinfo is None:
            raise ValueError(
                f"the database returned {value!r} where an aware UTC instant was stored; "
                "the table was written by something other than supportflow"
            )
        return instant.astimezone(UTC)


@frozen
class Tables:
    """The store's tables for one prefix (see :func:`tables`)."""

    prefix: str
    metadata: sa.MetaData
    tickets: sa.Table
    events: sa.Table
    idempotency: sa.Table
    sla: sa.Table
    timers: sa.Table
    fired_timers: sa.Table
    outbox: sa.Table
    deliveries: sa.Table

    @property
    def version_table(self) -> str:
        """Where Alembic records the schema revision (never the host app's table)."""
        return f"{self.prefix}alembic_version"


@functools.cache
def tables(prefix: str = DEFAULT_PREFIX) -> Tables:
    """The store's tables named with ``prefix``, in a :class:`~sqlalchemy.MetaData` of their own.

    Raises:
        ConfigError: an invalid prefix (see :func:`check_prefix`).
    """
    p = check_prefix(prefix)
    md = sa.MetaData()

    def fk(table: str) -> sa.ForeignKey:
        return sa.ForeignKey(f"{p}{table}.id")

    tickets = sa.Table(
        f"{p}tickets",
        md,
        sa.Column("id", key_type(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("requester", sa.String(), nullable=False),
        sa.Column("assignee", sa.String(), nullable=True),
        sa.Column("group", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
    )
    # find() filters on one of these and pages in id order: (column, id) serves both.
    for column in ("state", "priority", "requester", "assignee", "group"):
        sa.Index(f"ix_{p}tickets_{column}", tickets.c[column], tickets.c.id)

    events = sa.Table(
        f"{p}events",
        md,
        sa.Column("ticket_id", key_type(), fk("tickets"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )

    idempotency = sa.Table(
        f"{p}idempotency",
        md,
        sa.Column("key", key_type(), primary_key=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("ticket_id", key_type(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )

    sla = sa.Table(
        f"{p}sla",
        md,
        sa.Column("ticket_id", key_type(), fk("tickets"), primary_key=True),
        sa.Column("projection", sa.Text(), nullable=False),
    )

    timers = sa.Table(
        f"{p}timers",
        md,
        sa.Column("key", key_type(), primary_key=True),
        sa.Column("ticket_id", key_type(), fk("tickets"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("policy_set", sa.Integer(), nullable=False),
        # The lease of a runner working on the timer (revision 0003).
        sa.Column("token", sa.String(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    sa.Index(f"ix_{p}timers_due", timers.c.at, timers.c.key)
    sa.Index(f"ix_{p}timers_ticket_id", timers.c.ticket_id)

    fired_timers = sa.Table(
        f"{p}fired_timers",
        md,
        sa.Column("key", key_type(), primary_key=True),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
    )

    outbox = sa.Table(
        f"{p}outbox",
        md,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("ticket_id", key_type(), fk("tickets"), nullable=False),
        sa.Column("event_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("token", sa.String(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("ticket_id", "event_version", name=f"uq_{p}outbox_event"),
        # Ids are notification idempotency keys: never hand one out twice.
        sqlite_autoincrement=True,
    )
    # Claiming scans the undelivered rows in id order; delivered ones stay out of the index.
    sa.Index(
        f"ix_{p}outbox_pending",
        outbox.c.id,
        postgresql_where=outbox.c.delivered_at.is_(None),
        sqlite_where=outbox.c.delivered_at.is_(None),
    )

    # One row per notification expanded from an outbox row: its delivery state.
    deliveries = sa.Table(
        f"{p}deliveries",
        md,
        sa.Column("id", key_type(), primary_key=True),
        sa.Column(
            "outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ticket_id", key_type(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("token", sa.String(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
    )
    # Claims scan the pending rows by due time; finished ones stay out of the index.
    sa.Index(
        f"ix_{p}deliveries_due",
        deliveries.c.next_at,
        deliveries.c.id,
        postgresql_where=deliveries.c.status == "pending",
        sqlite_where=deliveries.c.status == "pending",
    )
    sa.Index(f"ix_{p}deliveries_status", deliveries.c.status, deliveries.c.id)

    return Tables(
        prefix=p,
        metadata=md,
        tickets=tickets,
        events=events,
        idempotency=idempotency,
        sla=sla,
        timers=timers,
        fired_timers=fired_timers,
        outbox=outbox,
        deliveries=deliveries,
    )
