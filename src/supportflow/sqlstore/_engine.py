"""Engines for the SQL store: URLs, drivers, and SQLite's locking set up properly.

SQLite and pysqlite need help to behave like a transactional database under
concurrency. Engines made by :func:`make_engine` follow SQLAlchemy's documented
recipe: the driver's own transaction handling is switched off
(``isolation_level = None``) and every transaction is opened explicitly by a
``begin`` event: ``BEGIN`` for reads, ``BEGIN IMMEDIATE`` for the store's
writes (they take the write lock up front, so a read-then-write transaction
can never fail half-way with ``SQLITE_BUSY``). Each connection also gets a
30-second busy timeout, foreign keys, and the WAL journal for file databases
(readers do not block the writer).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from supportflow.errors import ConfigError

__all__ = [
    "BUSY_TIMEOUT",
    "SQLITE_BEGIN",
    "begin_write",
    "ensure_sqlite_transaction",
    "nested_write",
    "make_engine",
    "normalize_url",
]

#: How long a SQLite connection waits for a lock before giving up, in seconds.
BUSY_TIMEOUT = 30.0

#: Execution option read by the ``begin`` event: ``"IMMEDIATE"`` takes the write lock.
SQLITE_BEGIN = "supportflow_sqlite_begin"

_SUPPORTED = ("sqlite", "postgresql")


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` get the psycopg 3 driver.

    Raises:
        ConfigError: the URL cannot be parsed, or names a database other than
            SQLite or PostgreSQL.
    """
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"cannot parse database URL {str(url)!r} ({exc}); use e.g. sqlite:///desk.db "
            "or postgresql://user@host/dbname"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in _SUPPORTED:
        raise ConfigError(
            f"the SQL store supports SQLite and PostgreSQL, not {parsed.get_backend_name()!r} "
            f"(from {parsed.render_as_string(hide_password=True)!r})"
        )
    return parsed


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def make_engine(url: str | URL, **options: Any) -> Engine:
    """An engine for ``url``, set up for the store (and fit for the application to share).

    ``sqlite:///path.db`` gets WAL, a busy timeout, foreign keys and explicit
    ``BEGIN`` / ``BEGIN IMMEDIATE`` transactions; ``sqlite://`` is an in-memory
    database on one shared connection. ``postgresql://`` uses psycopg 3.
    ``options`` go to :func:`sqlalchemy.create_engine`.

    Raises:
        ConfigError: an unsupported or malformed URL, or psycopg missing.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = _is_memory(parsed)
        if memory:
            # One connection, shared: every new connection would be a new, empty database.
            options.setdefault("poolclass", StaticPool)
            connect_args = dict(options.pop("connect_args", {}))
            connect_args.setdefault("check_same_thread", False)
            options["connect_args"] = connect_args
        engine = sa.create_engine(parsed, **options)
        _configure_sqlite(engine, wal=not memory)
        return engine
    try:
        return sa.create_engine(parsed, **options)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"PostgreSQL needs its driver ({exc.name} is not installed): "
            "pip install 'supportflow[postgres]'"
        ) from None


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    timeout_ms = int(BUSY_TIMEOUT * 1000)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Stop pysqlite from opening (and committing) transactions on its own:
        # the "begin" event below opens them, so SAVEPOINTs and locks behave.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # PRAGMAs take no bound parameters; these are our own constants.
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms:d}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                # Durable across application crashes; WAL makes NORMAL safe from corruption.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def _driver_in_transaction(connection: Connection) -> bool:
    driver = connection.connection.driver_connection
    return bool(isinstance(driver, sqlite3.Connection) and driver.in_transaction)


def ensure_sqlite_transaction(connection: Connection, mode: str = "") -> None:
    """Make sure SQLite itself is inside a transaction on ``connection``.

    An engine from :func:`make_engine` has begun one already. An engine the
    application built with plain pysqlite settings has not: pysqlite only
    begins before its first INSERT/UPDATE/DELETE, so a SAVEPOINT issued first
    would *be* the transaction and its RELEASE would commit. ``mode`` is
    ``""`` (deferred) or ``"IMMEDIATE"``.
    """
    if connection.dialect.name == "sqlite" and not _driver_in_transaction(connection):
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


@contextlib.contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction on a connection of its own, committed at the end.

    On SQLite it holds the write lock from the start (``BEGIN IMMEDIATE``),
    whether or not the engine came from :func:`make_engine`.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            ensure_sqlite_transaction(connection, "IMMEDIATE")
            yield connection


@contextlib.contextmanager
def nested_write(connection: Connection) -> Iterator[Connection]:
    """A SAVEPOINT inside the application's transaction on ``connection``.

    Begins the application's transaction if none is under way, and never
    commits it: the work becomes durable when the application commits.
    """
    if not connection.in_transaction():
        connection.begin()
    ensure_sqlite_transaction(connection)
    with connection.begin_nested():
        yield connection
