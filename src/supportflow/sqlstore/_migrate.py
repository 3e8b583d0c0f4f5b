"""Creating and upgrading the store's tables with the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection, Engine

from supportflow.sqlstore._engine import begin_write, make_engine, nested_write
from supportflow.sqlstore._schema import DEFAULT_PREFIX, check_prefix

__all__ = ["MIGRATIONS", "alembic_config", "upgrade"]

#: The Alembic script directory inside the installed package.
MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection, prefix: str) -> Config:
    """An Alembic configuration that migrates ``prefix``'s tables on ``connection``.

    The migrations read the prefix from ``config.attributes["prefix"]`` and
    keep their revision in ``{prefix}alembic_version``, apart from any
    Alembic history of the host application.
    """
    config = Config()
    # ConfigParser interpolates "%": escape it in case the install path has one.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    config.attributes["prefix"] = prefix
    return config


def upgrade(
    engine_or_url: Engine | Connection | str | URL,
    prefix: str = DEFAULT_PREFIX,
    *,
    revision: str = "head",
) -> None:
    """Create the store's tables, or upgrade them to ``revision`` (the latest by default).

    Safe to run again and from several processes at once: it takes the write
    lock (SQLite) or an advisory lock (PostgreSQL) first, and a schema already
    at ``revision`` is left alone. Given an application's Connection, it runs
    inside the application's transaction and does not commit it.

    Raises:
        ConfigError: an invalid prefix or an unsupported database URL.
    """
    prefix = check_prefix(prefix)
    if isinstance(engine_or_url, Connection):
        with nested_write(engine_or_url) as connection:
            _upgrade(connection, prefix, revision)
        return
    if isinstance(engine_or_url, Engine):
        with begin_write(engine_or_url) as connection:
            _upgrade(connection, prefix, revision)
        return
    engine = make_engine(engine_or_url)
    try:
        with begin_write(engine) as connection:
            _upgrade(connection, prefix, revision)
    finally:
        engine.dispose()


def _upgrade(connection: Connection, prefix: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes creating the schema at once would collide; the lock
        # (released at commit) makes the second one find it done.
        connection.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"supportflow:{prefix}")))
        )
    command.upgrade(alembic_config(connection, prefix), revision)
