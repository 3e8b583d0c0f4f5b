"""The store's hot statements, compiled once per dialect and prefix, run on the DB-API cursor.

A command on the store runs the same handful of statements every time: read a
snapshot, insert or update the ticket row, insert its events, upsert its SLA
projection, replace its timers, insert outbox rows, record an idempotency key.
Building each as a SQLAlchemy construct per call, generating its cache key and
going through the execution context costs several times what SQLite takes to
run it. So the SQL text of each is compiled here once, by SQLAlchemy, for the
engine's dialect (quoting, paramstyle), and executed directly on the DB-API
cursor of the connection the store already holds, inside the transaction or
SAVEPOINT SQLAlchemy opened. Every value is still a bound parameter.

Values skip SQLAlchemy's type processing on this path, so instants are
encoded here exactly as :class:`~supportflow.sqlstore._schema.UTCDateTime`
encodes them (:func:`~supportflow.sqlstore._schema.encode_instant`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from attrs import frozen
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from supportflow.sqlstore._schema import tables

__all__ = ["INDEXED_COLUMNS", "Statement", "Statements", "narrow_update", "statements"]


@frozen
class Statement:
    """One compiled statement: its SQL text and how to order a dict of values for it."""

    sql: str
    #: The parameter names in placeholder order for positional paramstyles
    #: (SQLite's ``?``); ``None`` for named ones (psycopg's ``%(name)s``).
    order: tuple[str, ...] | None

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """``values`` in the form the driver takes for this statement."""
        if self.order is None:
            return values
        return tuple([values[name] for name in self.order])


@frozen
class Statements:
    """The store's hot statements for one dialect and table prefix."""

    load: Statement
    version: Statement
    sla: Statement
    idempotency: Statement
    insert_ticket: Statement
    #: The ticket UPDATE that sets every column that can change.
    update_ticket: Statement
    #: The version and the indexed columns of a ticket row (see :meth:`narrow_update`).
    indexed: Statement
    insert_event: Statement
    upsert_sla: Statement
    #: Deletes a ticket's pending timers, returning the leases of those held
    #: (key, token, lease_until, worker, attempts), to carry them over.
    delete_timers: Statement
    insert_timer: Statement
    #: Removes one pending timer that is due no later than ``:at`` (a fired step).
    fire_timer: Statement
    insert_fired: Statement
    insert_outbox: Statement
    insert_idempotency: Statement
    notify: Statement | None
    complete_outbox: Statement
    insert_delivery: Statement
    finish_delivery: Statement
    retry_delivery: Statement


#: The ticket columns with an index of their own, in :attr:`Statements.indexed` order.
INDEXED_COLUMNS = ("state", "priority", "requester", "assignee", "group")

#: Always set by a ticket UPDATE. The id and created_at never change.
_ALWAYS_SET = ("version", "updated_at", "snapshot")


def _update_ticket(t: sa.Table, indexed: Sequence[str]) -> sa.Update:
    """The versioned ticket UPDATE setting the unindexed columns and ``indexed``."""
    return (
        sa.update(t)
        .where(t.c.id == sa.bindparam("match_id"))
        .where(t.c.version == sa.bindparam("expected_version"))
        .values({name: sa.bindparam(name) for name in (*_ALWAYS_SET, *indexed)})
    )


#: Narrowed ticket UPDATEs by (dialect key, prefix, indexed columns that change).
_NARROW: dict[tuple[str, str, str, str, tuple[str, ...]], Statement] = {}


def narrow_update(dialect: Dialect, prefix: str, changed: tuple[str, ...]) -> Statement:
    """The ticket UPDATE that sets only the indexed columns in ``changed``.

    SQLite rewrites the entries of every index whose column appears in an
    UPDATE's SET list, changed or not; a transition that only moves the state
    should not rewrite the requester, assignee, group and priority indexes.
    (PostgreSQL compares values itself: its HOT updates skip unchanged indexes.)
    """
    key = (dialect.name, dialect.driver, dialect.paramstyle, prefix, changed)
    found = _NARROW.get(key)
    if found is None:
        found = _compile(_update_ticket(tables(prefix).tickets, changed), dialect)
        found = _NARROW.setdefault(key, found)
    return found


def _compile(statement: sa.ClauseElement, dialect: Dialect) -> Statement:
    # for_executemany: no implicit RETURNING of generated ids (the store never
    # reads them back, and psycopg's executemany would discard them anyway).
    compiled = statement.compile(dialect=dialect, for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    if not compiled.positional:
        return Statement(compiled.string, None)
    return Statement(compiled.string, tuple(compiled.positiontup or ()))


def _build(dialect: Dialect, prefix: str) -> Statements:
    dialect_name = dialect.name
    tb = tables(prefix)
    t, e, s, tm, f, o, i = (
        tb.tickets,
        tb.events,
        tb.sla,
        tb.timers,
        tb.fired_timers,
        tb.outbox,
        tb.idempotency,
    )

    def insert(table: sa.Table, columns: Sequence[str]) -> Statement:
        return _compile(
            sa.insert(table).values({name: sa.bindparam(name) for name in columns}), dialect
        )

    ticket_columns = [c.name for c in t.columns]
    upsert_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    sla_insert = upsert_insert(s).values(
        ticket_id=sa.bindparam("ticket_id"), projection=sa.bindparam("projection")
    )
    upsert_sla = sla_insert.on_conflict_do_update(
        index_elements=[s.c.ticket_id], set_={"projection": sla_insert.excluded.projection}
    )
    # A timer whose key fired already is never scheduled again: insert it only
    # if its key is not among the fired ones (one statement, run per timer).
    timer_columns = [c.name for c in tm.columns]
    insert_timer = sa.insert(tm).from_select(
        timer_columns,
        # Typed casts, so PostgreSQL knows what a NULL threshold is.
        sa.select(*[sa.cast(sa.bindparam(name), tm.c[name].type) for name in timer_columns]).where(
            ~sa.exists().where(f.c.key == sa.bindparam("key"))
        ),
    )
    outbox_columns = ["ticket_id", "event_version", "kind", "body", "created_at", "attempts"]
    d = tb.deliveries
    delivery_columns = [
        c.name for c in d.columns if c.name not in ("token", "lease_until", "worker")
    ]
    # A notification id already queued is left as it is (one statement per row).
    insert_delivery = sa.insert(d).from_select(
        delivery_columns,
        sa.select(
            *[sa.cast(sa.bindparam(name), d.c[name].type) for name in delivery_columns]
        ).where(~sa.exists().where(d.c.id == sa.bindparam("id"))),
    )

    def finish(**values: Any) -> sa.Update:
        return (
            sa.update(d)
            .where(d.c.id == sa.bindparam("match_id"))
            .where(d.c.token == sa.bindparam("match_token"))
            .where(d.c.status == sa.literal_column("'pending'"))
            .values(token=sa.null(), lease_until=sa.null(), **values)
        )

    return Statements(
        load=_compile(sa.select(t.c.snapshot).where(t.c.id == sa.bindparam("id")), dialect),
        version=_compile(sa.select(t.c.version).where(t.c.id == sa.bindparam("id")), dialect),
        sla=_compile(sa.select(s.c.projection).where(s.c.ticket_id == sa.bindparam("id")), dialect),
        idempotency=_compile(
            sa.select(i.c.fingerprint, i.c.ticket_id, i.c.version).where(
                i.c.key == sa.bindparam("key")
            ),
            dialect,
        ),
        insert_ticket=insert(t, ticket_columns),
        update_ticket=_compile(_update_ticket(t, INDEXED_COLUMNS), dialect),
        indexed=_compile(
            sa.select(t.c.version, *[t.c[name] for name in INDEXED_COLUMNS]).where(
                t.c.id == sa.bindparam("id")
            ),
            dialect,
        ),
        insert_event=insert(e, [c.name for c in e.columns]),
        upsert_sla=_compile(upsert_sla, dialect),
        delete_timers=_compile(
            sa.delete(tm)
            .where(tm.c.ticket_id == sa.bindparam("ticket_id"))
            .returning(tm.c.key, tm.c.token, tm.c.lease_until, tm.c.worker, tm.c.attempts),
            dialect,
        ),
        insert_timer=_compile(insert_timer, dialect),
        fire_timer=_compile(
            sa.delete(tm)
            .where(tm.c.key == sa.bindparam("key"))
            .where(tm.c.at <= sa.bindparam("at", type_=tm.c.at.type)),
            dialect,
        ),
        insert_fired=insert(f, ["key", "fired_at"]),
        insert_outbox=insert(o, outbox_columns),
        insert_idempotency=insert(i, ["key", "fingerprint", "ticket_id", "version"]),
        complete_outbox=_compile(
            sa.update(o)
            .where(o.c.id == sa.bindparam("match_id"))
            .where(o.c.token == sa.bindparam("match_token"))
            .where(o.c.delivered_at.is_(None))
            .values(delivered_at=sa.bindparam("delivered_at")),
            dialect,
        ),
        insert_delivery=_compile(insert_delivery, dialect),
        finish_delivery=_compile(
            finish(
                status=sa.bindparam("new_status"),
                next_at=sa.null(),
                finished_at=sa.bindparam("finished_at"),
                error=sa.bindparam("new_error"),
                detail=sa.bindparam("new_detail"),
            ),
            dialect,
        ),
        retry_delivery=_compile(
            finish(
                next_at=sa.bindparam("retry_at"),
                error=sa.bindparam("new_error"),
                detail=sa.bindparam("new_detail"),
            ),
            dialect,
        ),
        notify=(
            _compile(
                sa.select(sa.func.pg_notify(sa.bindparam("channel"), sa.literal_column("''"))),
                dialect,
            )
            if dialect_name == "postgresql"
            else None
        ),
    )


#: Compiled statements by (dialect, driver, paramstyle, prefix): the SQL text
#: depends on nothing else, so engines of the same kind share it.
_CACHE: dict[tuple[str, str, str, str], Statements] = {}


def statements(dialect: Dialect, prefix: str) -> Statements:
    """The hot statements for ``dialect`` and ``prefix`` (compiled on first use, then cached)."""
    key = (dialect.name, dialect.driver, dialect.paramstyle, prefix)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE.setdefault(key, _build(dialect, prefix))
    return found
