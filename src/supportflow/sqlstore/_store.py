"""SQLStore: the storage port on SQLAlchemy Core, for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn

import attrs
import sqlalchemy as sa
from attrs import frozen
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from supportflow._model import Ticket
from supportflow._sla import SLAProjection, Timer
from supportflow._time import to_utc
from supportflow.errors import (
    ConcurrencyConflict,
    ConfigError,
    IdempotencyConflict,
    StaleTimer,
    ValidationError,
)
from supportflow.events import Event
from supportflow.notify._model import Notification
from supportflow.sqlstore import _codec
from supportflow.sqlstore._engine import (
    begin_write,
    make_engine,
    nested_write,
)
from supportflow.sqlstore._migrate import upgrade
from supportflow.sqlstore._schema import DEFAULT_PREFIX, Tables, encode_instant, tables
from supportflow.sqlstore._sql import (
    INDEXED_COLUMNS,
    Statement,
    Statements,
    narrow_update,
    statements,
)
from supportflow.store import (
    DELIVERY_STATUSES,
    Commit,
    Delivery,
    DeliveryClaim,
    IdempotencyRecord,
    OutboxClaim,
    OutboxMessage,
    Outcome,
    TicketChange,
    TicketQuery,
    TimerClaim,
    check_commit,
    check_lease,
    check_limit,
    check_notifications,
    check_outcome,
    check_status,
)

__all__ = ["SQLStore"]

#: What a PostgreSQL store can do that a SQLite one cannot.
_POSTGRES_CAPABILITIES = frozenset({"listen_notify", "skip_locked"})


@frozen
class _Row:
    """One ticket change, encoded before the transaction starts."""

    change: TicketChange
    ticket: dict[str, Any]
    events: list[dict[str, Any]]
    sla: str | None
    timers: dict[str, dict[str, Any]] | None
    outbox: list[dict[str, Any]]
    #: The timers the change carries out: key and claimed due instant, encoded.
    fired: list[dict[str, Any]]


class _DuplicateTicket(Exception):
    def __init__(self, ticket_id: str) -> None:
        super().__init__(ticket_id)
        self.ticket_id = ticket_id


_BEGIN_IMMEDIATE = Statement("BEGIN IMMEDIATE", ())


class _Driver:
    """Runs compiled statements on a DB-API cursor of a connection the store owns.

    The driver's errors come out as SQLAlchemy's (``IntegrityError``,
    ``OperationalError``, ...), as they do through an application's Connection.
    """

    __slots__ = ("cursor", "error")

    def __init__(self, cursor: Any, error: type[Exception]) -> None:
        self.cursor = cursor
        self.error = error

    def _raise(self, statement: Statement, params: Any, exc: Exception) -> NoReturn:
        raise sa.exc.DBAPIError.instance(statement.sql, params, exc, self.error) from exc

    def execute(self, statement: Statement, values: dict[str, Any]) -> int:
        cursor = self.cursor
        params = statement.params(values)
        try:
            cursor.execute(statement.sql, params)
        except self.error as exc:
            self._raise(statement, params, exc)
        return int(cursor.rowcount)

    def executemany(self, statement: Statement, rows: Sequence[dict[str, Any]]) -> None:
        params = [statement.params(row) for row in rows]
        try:
            self.cursor.executemany(statement.sql, params)
        except self.error as exc:
            self._raise(statement, params, exc)

    def first(self, statement: Statement, values: dict[str, Any]) -> Sequence[Any] | None:
        cursor = self.cursor
        params = statement.params(values)
        try:
            cursor.execute(statement.sql, params)
            row: Sequence[Any] | None = cursor.fetchone()
        except self.error as exc:
            self._raise(statement, params, exc)
        return row

    def rows(self, statement: Statement, values: dict[str, Any]) -> list[Sequence[Any]]:
        cursor = self.cursor
        params = statement.params(values)
        try:
            cursor.execute(statement.sql, params)
            found: list[Sequence[Any]] = cursor.fetchall()
        except self.error as exc:
            self._raise(statement, params, exc)
        return found


class _Shared:
    """Runs compiled statements through an application's Connection, so
    SQLAlchemy keeps track of the transaction it is in."""

    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def execute(self, statement: Statement, values: dict[str, Any]) -> int:
        result = self.connection.exec_driver_sql(statement.sql, statement.params(values))
        return int(result.rowcount)

    def executemany(self, statement: Statement, rows: Sequence[dict[str, Any]]) -> None:
        self.connection.exec_driver_sql(statement.sql, [statement.params(row) for row in rows])

    def first(self, statement: Statement, values: dict[str, Any]) -> Sequence[Any] | None:
        result = self.connection.exec_driver_sql(statement.sql, statement.params(values))
        return result.first()

    def rows(self, statement: Statement, values: dict[str, Any]) -> list[Sequence[Any]]:
        result = self.connection.exec_driver_sql(statement.sql, statement.params(values))
        return list(result.all())


_Runner = _Driver | _Shared


class SQLStore:
    """Tickets, histories, SLA state, timers and the outbox in SQLite or PostgreSQL.

    Args:
        engine_or_url: a database URL (``sqlite:///desk.db``, ``sqlite://`` for
            memory, ``postgresql://user@host/db``), an :class:`~sqlalchemy.engine.Engine`,
            or an application's :class:`~sqlalchemy.engine.Connection`.
        prefix: the prefix of every table name (``sf_tickets``, ...), so the
            store can live in the application's database. 1 to 21 characters:
            a lowercase letter, then lowercase letters, digits or underscores.
        create: create or upgrade the tables first (runs the Alembic migrations,
            see :func:`~supportflow.sqlstore.upgrade`).

    Every :meth:`commit` is one transaction: snapshots, history rows, the
    idempotency record, SLA projections, timers and outbox rows are written
    together or not at all. A stale ``expected_version`` is caught by
    ``UPDATE ... WHERE version = :expected`` and raises
    :class:`~supportflow.errors.ConcurrencyConflict`.

    **An application's Connection.** Given a Connection, the store never
    commits or rolls back the application's transaction: each write runs in a
    SAVEPOINT (``Connection.begin_nested()``) inside it, beginning the
    transaction if none is under way. A failed commit rolls back to the
    savepoint and leaves the application's transaction usable; a successful one
    becomes durable when, and only if, the application commits. Timer and
    outbox claims work the same way. :meth:`close` leaves the connection open.

    **Engines.** A URL gets an engine of the store's own (see
    :func:`~supportflow.sqlstore.make_engine`), disposed of by :meth:`close`.
    An Engine is used as it is and left open.

    Attributes:
        capabilities: what the backend offers beyond the :class:`~supportflow.store.Store`
            protocol: ``"skip_locked"`` (claims never wait on each other) and
            ``"listen_notify"`` (a commit that writes outbox rows sends
            ``NOTIFY`` on :attr:`notify_channel`) on PostgreSQL; neither on SQLite.
        notify_channel: the PostgreSQL channel outbox workers can ``LISTEN`` on.
        prefix: the prefix of the store's table names.
        dialect: the database's SQLAlchemy dialect name (``"sqlite"``, ``"postgresql"``).
    """

    def __init__(
        self,
        engine_or_url: Engine | Connection | str | URL,
        *,
        prefix: str = DEFAULT_PREFIX,
        create: bool = False,
    ) -> None:
        self._tables: Tables = tables(prefix)  # validates the prefix first
        self.prefix = prefix
        self._connection: Connection | None = None
        self._owns_engine = False
        if isinstance(engine_or_url, Connection):
            self._connection = engine_or_url
            engine = engine_or_url.engine
        elif isinstance(engine_or_url, Engine):
            engine = engine_or_url
        elif isinstance(engine_or_url, str | URL):
            engine = make_engine(engine_or_url)
            self._owns_engine = True
        else:
            raise ConfigError(
                "SQLStore takes a database URL, a SQLAlchemy Engine or a Connection, "
                f"got {type(engine_or_url).__name__} {engine_or_url!r}"
            )
        self._engine = engine
        self.dialect: str = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError(f"the SQL store supports SQLite and PostgreSQL, not {self.dialect!r}")
        self.capabilities: frozenset[str] = (
            _POSTGRES_CAPABILITIES if self.dialect == "postgresql" else frozenset()
        )
        self.notify_channel = f"{prefix}outbox"
        self._sql: Statements = statements(engine.dialect, prefix)
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        if create:
            try:
                upgrade(self._connection or engine, prefix=prefix)
            except BaseException:
                self.close()
                raise

    @property
    def engine(self) -> Engine:
        """The engine the store talks through."""
        return self._engine

    @property
    def metadata(self) -> sa.MetaData:
        """The store's tables (for an application's own migrations to ignore or inspect)."""
        return self._tables.metadata

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"<SQLStore {url} prefix={self.prefix!r}>"

    # -- transactions ---------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._connection is not None:
            yield self._connection
            return
        with self._engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._connection is None:
            with begin_write(self._engine) as own:
                yield own
        else:
            with nested_write(self._connection) as shared:
                yield shared

    @contextlib.contextmanager
    def _reading(self) -> Iterator[_Runner]:
        """Compiled statements for reading: outside any transaction on a pooled
        connection of the store's own, or in the application's Connection."""
        if self._connection is not None:
            yield _Shared(self._connection)
            return
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                yield _Driver(cursor, self._driver_error)
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool, which rolls back what a read began

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Runner]:
        """Compiled statements in one write transaction (SQLite: ``BEGIN
        IMMEDIATE``), or in a SAVEPOINT inside the application's transaction."""
        if self._connection is not None:
            with nested_write(self._connection) as shared:
                yield _Shared(shared)
            return
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                if self.dialect == "sqlite":
                    # Take the write lock up front: a read-then-write transaction
                    # can never fail half-way with SQLITE_BUSY.
                    _Driver(cursor, self._driver_error).execute(_BEGIN_IMMEDIATE, {})
                yield _Driver(cursor, self._driver_error)
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()
            finally:
                cursor.close()
        finally:
            raw.close()

    # -- reads ------------------------------------------------------------------------

    def load(self, ticket_id: str) -> Ticket | None:
        """The latest snapshot of the ticket, or ``None``."""
        with self._reading() as run:
            row = run.first(self._sql.load, {"id": ticket_id})
        return None if row is None else _codec.decode_ticket(_codec.loads(row[0]))

    def history(self, ticket_id: str) -> Sequence[Event]:
        """The ticket's events in order (empty if there is no such ticket)."""
        e = self._tables.events
        query = sa.select(e.c.body).where(e.c.ticket_id == ticket_id).order_by(e.c.version)
        with self._read() as connection:
            bodies = connection.scalars(query).all()
        return tuple(_codec.decode_event(_codec.loads(body)) for body in bodies)

    def find(self, query: TicketQuery) -> list[Ticket]:
        """The snapshots matching ``query``, in id order."""
        check_limit(query.limit)
        t = self._tables.tickets
        select = sa.select(t.c.snapshot).order_by(t.c.id)
        if query.states is not None:
            select = select.where(t.c.state.in_(sorted(query.states)))
        if query.assignee is not None:
            select = select.where(t.c.assignee == query.assignee)
        if query.requester is not None:
            select = select.where(t.c.requester == query.requester)
        if query.priority is not None:
            select = select.where(t.c.priority == query.priority.value)
        if query.group is not None:
            select = select.where(t.c.group == query.group)
        if query.after is not None:
            select = select.where(t.c.id > query.after)
        if query.limit is not None:
            select = select.limit(query.limit)
        with self._read() as connection:
            texts = connection.scalars(select).all()
        return [_codec.decode_ticket(_codec.loads(text)) for text in texts]

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record stored under ``key``, if any."""
        with self._reading() as run:
            row = run.first(self._sql.idempotency, {"key": key})
        if row is None:
            return None
        fingerprint, ticket_id, version = row
        return IdempotencyRecord(key, fingerprint, ticket_id, int(version))

    def sla_projection(self, ticket_id: str) -> SLAProjection | None:
        """The ticket's stored SLA projection, if any."""
        with self._reading() as run:
            row = run.first(self._sql.sla, {"id": ticket_id})
        return None if row is None else _codec.decode_sla(_codec.loads(row[0]))

    def pending_timers(self, ticket_id: str) -> tuple[Timer, ...]:
        """The ticket's timers that have not fired yet, in due order."""
        t = self._tables.timers
        query = sa.select(t).where(t.c.ticket_id == ticket_id).order_by(t.c.at, t.c.key)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return tuple(_timer(row._mapping) for row in rows)

    def outbox_backlog(self) -> int:
        """How many outbox messages are not delivered yet."""
        o = self._tables.outbox
        query = sa.select(sa.func.count()).select_from(o).where(o.c.delivered_at.is_(None))
        with self._read() as connection:
            return int(connection.scalar(query) or 0)

    # -- commit --------------------------------------------------------------------------

    def commit(self, commit: Commit) -> None:
        """Apply ``commit`` in one transaction (see :meth:`supportflow.store.Store.commit`).

        Raises:
            ConcurrencyConflict: a change's ``expected_version`` is not the
                stored version (or a new ticket's id exists); nothing was written.
            IdempotencyConflict: the idempotency key is already recorded; nothing
                was written.
            ValidationError: a value cannot be stored (a custom field of an
                unsupported type, a naive datetime, text the database refuses);
                nothing was written.
        """
        check_commit(commit)
        # Encode first: a value that cannot be stored fails before any write.
        rows = [_encode(change, self.dialect) for change in commit.changes]
        try:
            with self._writing() as run:
                # Lock the ticket rows in id order, so two commits touching the
                # same tickets (merges, links) queue up instead of deadlocking;
                # then write everything else in commit order.
                for row in sorted(rows, key=_by_ticket_id) if len(rows) > 1 else rows:
                    self._write_ticket(run, row)
                for row in rows:
                    self._write_rest(run, row)
                if commit.idempotency is not None:
                    self._record(run, commit.idempotency)
                if self._sql.notify is not None and any(row.outbox for row in rows):
                    run.first(self._sql.notify, {"channel": self.notify_channel})
        except _DuplicateTicket as duplicate:
            actual = self._version(duplicate.ticket_id)
            raise ConcurrencyConflict(duplicate.ticket_id, 0, actual) from None
        except DataError as exc:
            raise ValidationError(
                f"the database refused a value of this commit: {exc.orig}; nothing was written"
            ) from None

    def import_tickets(self, changes: Sequence[TicketChange]) -> None:
        """Write a batch of new tickets in one transaction, with multi-row inserts.

        What :func:`supportflow.import_histories` uses: each change is a
        new ticket (``expected_version == 0``) with its history. The rows of
        every table go in as one ``executemany`` each, instead of a handful of
        statements per ticket as :meth:`commit` does.

        Raises:
            ConcurrencyConflict: a ticket id exists already; nothing of the
                batch was written.
            ValidationError: a change is not a new ticket, a ticket appears
                twice, or a value cannot be stored; nothing was written.
        """
        batch = Commit(tuple(changes))
        check_commit(batch)
        for change in batch.changes:
            if change.expected_version != 0:
                raise ValidationError(
                    f"import_tickets writes new tickets only, but ticket {change.ticket.id} "
                    f"expects version {change.expected_version}; use commit() to change it"
                )
        if not batch.changes:
            return
        rows = [_encode(change, self.dialect) for change in batch.changes]
        sql = self._sql
        events = [event for row in rows for event in row.events]
        sla = [
            {"ticket_id": row.change.ticket.id, "projection": row.sla}
            for row in rows
            if row.sla is not None
        ]
        timers = {key: timer for row in rows for key, timer in (row.timers or {}).items()}
        outbox = [message for row in rows for message in row.outbox]
        try:
            with self._writing() as run:
                try:
                    run.executemany(sql.insert_ticket, [row.ticket for row in rows])
                except IntegrityError:
                    raise _DuplicateTicket(rows[0].change.ticket.id) from None
                if events:
                    run.executemany(sql.insert_event, events)
                if sla:
                    run.executemany(sql.upsert_sla, sla)
                if timers:
                    run.executemany(sql.insert_timer, list(timers.values()))
                if outbox:
                    run.executemany(sql.insert_outbox, outbox)
                    if sql.notify is not None:
                        run.first(sql.notify, {"channel": self.notify_channel})
        except _DuplicateTicket as duplicate:
            taken = self._existing([row.change.ticket.id for row in rows])
            ticket_id, actual = taken[0] if taken else (duplicate.ticket_id, None)
            raise ConcurrencyConflict(ticket_id, 0, actual) from None
        except DataError as exc:
            raise ValidationError(
                f"the database refused a value of this import: {exc.orig}; nothing was written"
            ) from None

    def _existing(self, ticket_ids: Sequence[str]) -> list[tuple[str, int]]:
        """The (id, version) of those of ``ticket_ids`` that are stored, in id order."""
        t = self._tables.tickets
        found: list[tuple[str, int]] = []
        with self._read() as connection:
            for start in range(0, len(ticket_ids), 500):
                chunk = list(ticket_ids[start : start + 500])
                query = sa.select(t.c.id, t.c.version).where(t.c.id.in_(chunk))
                found += [(row.id, int(row.version)) for row in connection.execute(query)]
        return sorted(found)

    def _version(self, ticket_id: str) -> int | None:
        with self._reading() as run:
            row = run.first(self._sql.version, {"id": ticket_id})
        return None if row is None else int(row[0])

    def _write_ticket(self, run: _Runner, row: _Row) -> None:
        change = row.change
        ticket_id = change.ticket.id
        if change.expected_version == 0:
            try:
                run.execute(self._sql.insert_ticket, row.ticket)
            except IntegrityError:
                raise _DuplicateTicket(ticket_id) from None
            return
        values = dict(row.ticket, match_id=ticket_id, expected_version=change.expected_version)
        update = self._sql.update_ticket
        if self.dialect == "sqlite":
            # Inside BEGIN IMMEDIATE nothing can change the row under us: read its
            # indexed columns and leave the unchanged ones out of the UPDATE.
            current = run.first(self._sql.indexed, {"id": ticket_id})
            if current is None or current[0] != change.expected_version:
                actual = None if current is None else int(current[0])
                raise ConcurrencyConflict(ticket_id, change.expected_version, actual)
            changed = tuple(
                name
                for name, stored in zip(INDEXED_COLUMNS, current[1:], strict=True)
                if values[name] != stored
            )
            update = narrow_update(self._engine.dialect, self.prefix, changed)
        if run.execute(update, values) != 1:
            found = run.first(self._sql.version, {"id": ticket_id})
            actual = None if found is None else int(found[0])
            raise ConcurrencyConflict(ticket_id, change.expected_version, actual)

    def _write_rest(self, run: _Runner, row: _Row) -> None:
        sql = self._sql
        ticket_id = row.change.ticket.id
        if row.events:
            if len(row.events) == 1:
                run.execute(sql.insert_event, row.events[0])
            else:
                run.executemany(sql.insert_event, row.events)
        if row.sla is not None:
            run.execute(sql.upsert_sla, {"ticket_id": ticket_id, "projection": row.sla})
        for fired in row.fired:
            # The ticket row is locked by now: nobody else can fire or move the timer.
            if run.execute(sql.fire_timer, fired) != 1:
                raise StaleTimer(
                    fired["key"], "it is not pending and due (fired, cancelled, moved)"
                )
            run.execute(sql.insert_fired, {"key": fired["key"], "fired_at": fired["fired_at"]})
        if row.timers is not None:
            held = run.rows(sql.delete_timers, {"ticket_id": ticket_id})
            if row.timers:
                timers = row.timers
                leases = {key: lease for key, *lease in held if key in timers and lease[3]}
                if leases:
                    # A timer the ticket keeps keeps its runner's lease (and attempts).
                    timers = dict(timers)
                    for key, (token, lease_until, worker, attempts) in leases.items():
                        timers[key] = dict(
                            timers[key],
                            token=token,
                            lease_until=lease_until,
                            worker=worker,
                            attempts=attempts,
                        )
                # Keys that fired already are skipped by the statement itself.
                run.executemany(sql.insert_timer, list(timers.values()))
        if row.outbox:
            run.executemany(sql.insert_outbox, row.outbox)

    def _record(self, run: _Runner, record: IdempotencyRecord) -> None:
        # The key is the primary key: the database refuses a second one, so two
        # racing commits cannot both record it (no check-then-insert).
        try:
            run.execute(
                self._sql.insert_idempotency,
                {
                    "key": record.key,
                    "fingerprint": record.fingerprint,
                    "ticket_id": record.ticket_id,
                    "version": record.version,
                },
            )
        except IntegrityError:
            raise IdempotencyConflict(
                f"idempotency key {record.key!r} is already recorded"
            ) from None

    # -- timers ---------------------------------------------------------------------------

    def claim_due_timers(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[TimerClaim]:
        """Lease up to ``limit`` due timers whose lease is free, oldest first.

        The rows stay where they are, with a token, an expiry and one more
        attempt; concurrent claimants skip rows another one holds (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``). The due index
        on (at, key) keeps the cost independent of how many timers are pending.
        """
        check_limit(limit)
        check_lease(lease)
        moment = to_utc(now, "now")
        t = self._tables.timers
        due = sa.select(t).where(t.c.at <= moment).order_by(t.c.at, t.c.key)
        leased = self._lease(t, due, moment, lease, limit, worker, key="key")
        return [
            TimerClaim(_timer(row._mapping), token, moment + lease, row.attempts + 1)
            for row, token in leased
        ]

    def complete_timers(self, claims: Sequence[TimerClaim], now: datetime) -> list[Timer]:
        """Record the claimed timers still held and due as fired, in one transaction
        (see :meth:`supportflow.store.Store.complete_timers`)."""
        moment = to_utc(now, "now")
        if not claims:
            return []
        t, fired = self._tables.timers, self._tables.fired_timers
        done: list[Timer] = []
        with self._write() as connection:
            for claim in claims:
                timer = claim.timer
                gone = connection.execute(
                    sa.delete(t)
                    .where(t.c.key == timer.key)
                    .where(t.c.token == claim.token)
                    .where(t.c.at <= timer.at)
                )
                if gone.rowcount == 1:
                    done.append(timer)
            if done:
                connection.execute(
                    sa.insert(fired), [{"key": timer.key, "fired_at": moment} for timer in done]
                )
        return done

    def renew_timers(
        self, claims: Sequence[TimerClaim], now: datetime, *, lease: timedelta
    ) -> list[TimerClaim]:
        """Extend the leases of the claims still held to ``now + lease``."""
        check_lease(lease)
        until = to_utc(now, "now") + lease
        t = self._tables.timers
        renewed: list[TimerClaim] = []
        with self._write() as connection:
            for claim in claims:
                held = connection.execute(
                    sa.update(t)
                    .where(t.c.key == claim.timer.key)
                    .where(t.c.token == claim.token)
                    .values(lease_until=until)
                )
                if held.rowcount == 1:
                    renewed.append(attrs.evolve(claim, lease_until=until))
        return renewed

    # -- outbox ---------------------------------------------------------------------------

    def claim_outbox(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[OutboxClaim]:
        """Lease up to ``limit`` undelivered messages whose lease is free, oldest first.

        Every claimed message gets a new random token and one more attempt;
        concurrent claimants skip rows another one holds (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``).
        """
        check_limit(limit)
        check_lease(lease)
        moment = to_utc(now, "now")
        o = self._tables.outbox
        free = sa.select(o.c.id, o.c.body, o.c.attempts).where(o.c.delivered_at.is_(None))
        leased = self._lease(o, free.order_by(o.c.id), moment, lease, limit, worker)
        return [
            OutboxClaim(
                OutboxMessage(row.id, _codec.decode_event(_codec.loads(row.body))),
                token,
                moment + lease,
                row.attempts + 1,
            )
            for row, token in leased
        ]

    def _lease(
        self,
        table: sa.Table,
        candidates: sa.Select[Any],
        moment: datetime,
        lease: timedelta,
        limit: int,
        worker: str,
        *,
        key: str = "id",
    ) -> list[tuple[Any, str]]:
        """Lease up to ``limit`` of ``candidates`` (rows of ``table`` with its
        ``key`` column and ``attempts``) whose lease is free at ``moment``, in one
        write transaction: each gets a new random token, one more attempt and
        ``lease_until = moment + lease``. Returns the rows with their tokens.

        Concurrent claimants skip rows another holds (PostgreSQL: ``FOR UPDATE
        SKIP LOCKED``; SQLite: the write lock of ``BEGIN IMMEDIATE``).
        """
        c = table.c
        free = candidates.where(sa.or_(c.lease_until.is_(None), c.lease_until <= moment))
        free = free.limit(limit)
        if self.dialect == "postgresql":
            free = free.with_for_update(skip_locked=True)
        with self._write() as connection:
            leased = [(row, secrets.token_hex(16)) for row in connection.execute(free)]
            if leased:
                connection.execute(
                    sa.update(table)
                    .where(c[key] == sa.bindparam("claimed_id"))
                    .values(
                        token=sa.bindparam("claimed_token"),
                        attempts=sa.bindparam("claimed_attempts"),
                        lease_until=moment + lease,
                        worker=worker,
                    ),
                    [
                        {
                            "claimed_id": row._mapping[key],
                            "claimed_token": token,
                            "claimed_attempts": row.attempts + 1,
                        }
                        for row, token in leased
                    ],
                )
        return leased

    def complete_outbox(self, claim: OutboxClaim, now: datetime) -> bool:
        """Mark the message delivered if ``claim`` still holds it (compare-and-set on
        the token); returns whether it did."""
        moment = to_utc(now, "now")
        o = self._tables.outbox
        with self._write() as connection:
            done = connection.execute(
                sa.update(o)
                .where(o.c.id == claim.message.id)
                .where(o.c.token == claim.token)
                .where(o.c.delivered_at.is_(None))
                .values(delivered_at=moment)
            )
        return done.rowcount == 1

    # -- the delivery queue (see supportflow.store.DeliveryQueue) --------------------------

    def expand_outbox(
        self,
        claim: OutboxClaim,
        now: datetime,
        notifications: Sequence[Notification],
        failed: Sequence[tuple[Notification, str]] = (),
    ) -> bool:
        """Complete the outbox ``claim`` and queue its notifications in one transaction
        (see :meth:`supportflow.store.DeliveryQueue.expand_outbox`)."""
        check_notifications(notifications, failed)
        moment = encode_instant(self.dialect, now, "now")
        rows = [
            _delivery_row(n, claim.message.id, "pending", moment, None, None) for n in notifications
        ] + [
            _delivery_row(n, claim.message.id, "dead", None, reason, moment) for n, reason in failed
        ]
        sql = self._sql
        with self._writing() as run:
            done = run.execute(
                sql.complete_outbox,
                {"match_id": claim.message.id, "match_token": claim.token, "delivered_at": moment},
            )
            if done != 1:
                return False
            if rows:
                run.executemany(sql.insert_delivery, rows)
        return True

    def claim_deliveries(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[DeliveryClaim]:
        """Lease up to ``limit`` due notifications, earliest first (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``)."""
        check_limit(limit)
        check_lease(lease)
        moment = to_utc(now, "now")
        d = self._tables.deliveries
        due = (
            sa.select(d.c.id, d.c.body, d.c.attempts)
            .where(d.c.status == "pending")
            .where(d.c.next_at <= moment)
            .order_by(d.c.next_at, d.c.id)
        )
        return [
            DeliveryClaim(
                _codec.decode_notification(_codec.loads(row.body)),
                token,
                moment + lease,
                row.attempts + 1,
            )
            for row, token in self._lease(d, due, moment, lease, limit, worker)
        ]

    def finish_delivery(
        self,
        claim: DeliveryClaim,
        now: datetime,
        outcome: Outcome,
        *,
        retry_at: datetime | None = None,
        error: str | None = None,
        detail: str = "",
    ) -> bool:
        """Record the attempt's outcome if ``claim`` is current (compare-and-set on its token)."""
        check_outcome(outcome, retry_at)
        moment = encode_instant(self.dialect, now, "now")
        values: dict[str, Any] = {
            "match_id": claim.notification.id,
            "match_token": claim.token,
            "new_error": error,
            "new_detail": detail,
        }
        if outcome == "retry":
            assert retry_at is not None
            statement = self._sql.retry_delivery
            values["retry_at"] = encode_instant(self.dialect, retry_at, "retry_at")
        else:
            statement = self._sql.finish_delivery
            values.update(new_status=outcome, finished_at=moment)
        with self._writing() as run:
            return run.execute(statement, values) == 1

    def deliveries(
        self, *, status: str | None = None, after: str | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """The queued notifications in id order, optionally of one status, paged."""
        check_status(status)
        check_limit(limit)
        d = self._tables.deliveries
        query = sa.select(d).order_by(d.c.id)
        if status is not None:
            query = query.where(d.c.status == status)
        if after is not None:
            query = query.where(d.c.id > after)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [
            Delivery(
                _codec.decode_notification(_codec.loads(row.body)),
                row.status,
                row.attempts,
                row.next_at,
                row.error,
                row.detail,
                row.finished_at,
            )
            for row in rows
        ]

    def requeue_deliveries(self, ids: Iterable[str], now: datetime) -> int:
        """Make these dead letters pending again, due ``now`` with attempts reset."""
        moment = to_utc(now, "now")
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        d = self._tables.deliveries
        with self._write() as connection:
            done = connection.execute(
                sa.update(d)
                .where(d.c.id.in_(wanted))
                .where(d.c.status == "dead")
                .values(status="pending", next_at=moment, attempts=0, finished_at=None)
            )
        return int(done.rowcount)

    def delivery_counts(self) -> dict[str, int]:
        """How many notifications are pending, sent and dead."""
        d = self._tables.deliveries
        counts = dict.fromkeys(DELIVERY_STATUSES, 0)
        query = sa.select(d.c.status, sa.func.count()).group_by(d.c.status)
        with self._read() as connection:
            for status, count in connection.execute(query):
                counts[status] = int(count)
        return counts

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Dispose of the engine if the store made it; an Engine or Connection the
        application passed in stays open."""
        if self._owns_engine:
            self._engine.dispose()


def _delivery_row(
    notification: Notification,
    outbox_id: int,
    status: str,
    next_at: datetime | str | None,
    error: str | None,
    finished_at: datetime | str | None,
) -> dict[str, Any]:
    return {
        "id": notification.id,
        "outbox_id": outbox_id,
        "ticket_id": notification.ticket_id,
        "status": status,
        "attempts": 0,
        "next_at": next_at,
        "error": error,
        "detail": "",
        "finished_at": finished_at,
        "body": _codec.dumps(_codec.encode_notification(notification)),
    }


def _by_ticket_id(row: _Row) -> str:
    return row.change.ticket.id


def _due_order(timer: Timer) -> tuple[datetime, str]:
    return (timer.at, timer.key)


def _timer(row: Any) -> Timer:
    return Timer(
        key=row["key"],
        ticket_id=row["ticket_id"],
        at=row["at"],
        metric=row["metric"],
        cycle=row["cycle"],
        kind=row["kind"],
        threshold=row["threshold"],
        target_version=row["target_version"],
        policy_set=row["policy_set"],
    )


def _encode(change: TicketChange, dialect: str) -> _Row:
    """The rows of ``change`` as the driver binds them (instants per ``dialect``)."""
    ticket = change.ticket
    events = [
        {
            "ticket_id": event.ticket_id,
            "version": event.version,
            "kind": event.kind,
            "at": encode_instant(dialect, event.at, "Event.at"),
            "body": _codec.dumps(_codec.encode_event(event)),
        }
        for event in change.events
    ]
    bodies = {(row["ticket_id"], row["version"]): row["body"] for row in events}
    outbox = [
        {
            "ticket_id": event.ticket_id,
            "event_version": event.version,
            "kind": event.kind,
            "body": bodies.get((event.ticket_id, event.version))
            or _codec.dumps(_codec.encode_event(event)),
            "created_at": encode_instant(dialect, event.at, "Event.at"),
            "attempts": 0,
        }
        for event in change.outbox
    ]
    timers = None
    if change.timers is not None:
        # Keyed by timer key: a repeated key keeps the last one, as MemoryStore does.
        timers = {
            timer.key: {
                "key": timer.key,
                "ticket_id": timer.ticket_id,
                "at": encode_instant(dialect, timer.at, "Timer.at"),
                "metric": timer.metric,
                "cycle": timer.cycle,
                "kind": timer.kind,
                "threshold": timer.threshold,
                "target_version": timer.target_version,
                "policy_set": timer.policy_set,
                "token": None,
                "lease_until": None,
                "worker": None,
                "attempts": 0,
            }
            for timer in change.timers
        }
    fired_at = encode_instant(dialect, ticket.updated_at, "Ticket.updated_at")
    fired = [
        {
            "key": timer.key,
            "at": encode_instant(dialect, timer.at, "Timer.at"),
            "fired_at": fired_at,
        }
        for timer in change.fired
    ]
    return _Row(
        change=change,
        ticket={
            "id": ticket.id,
            "version": ticket.version,
            "state": ticket.state,
            "priority": ticket.priority.value,
            "requester": ticket.requester,
            "assignee": ticket.assignee,
            "group": ticket.group,
            "created_at": encode_instant(dialect, ticket.created_at, "Ticket.created_at"),
            "updated_at": encode_instant(dialect, ticket.updated_at, "Ticket.updated_at"),
            "snapshot": _codec.dumps(_codec.encode_ticket(ticket)),
        },
        events=events,
        sla=None if change.sla is None else _codec.dumps(_codec.encode_sla(change.sla)),
        timers=timers,
        outbox=outbox,
        fired=fired,
    )
