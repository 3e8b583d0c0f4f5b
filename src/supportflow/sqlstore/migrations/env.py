"""Alembic environment of the SQL store.

Run through :func:`supportflow.sqlstore.upgrade`, which hands over the
connection and the table prefix in ``config.attributes``. From the ``alembic``
command line, give the database in ``sqlalchemy.url`` and the prefix with
``-x prefix=sf_``. The revision is kept in ``{prefix}alembic_version``, and
autogenerate looks only at tables with the prefix, so the store shares a
database (and even an Alembic setup) with its host application safely.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from supportflow.sqlstore._engine import begin_write, make_engine
from supportflow.sqlstore._schema import DEFAULT_PREFIX, check_prefix, tables


def _prefix() -> str:
    attributes = context.config.attributes
    if "prefix" not in attributes:
        given = context.get_x_argument(as_dictionary=True).get("prefix", DEFAULT_PREFIX)
        attributes["prefix"] = check_prefix(given)
    return check_prefix(attributes["prefix"])


def _options(prefix: str) -> dict[str, Any]:
    def ours(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or (name or "").startswith(prefix)

    return {
        "target_metadata": tables(prefix).metadata,
        "version_table": tables(prefix).version_table,
        "include_name": ours,
    }


def _migrate(connection: Connection, prefix: str) -> None:
    context.configure(connection=connection, **_options(prefix))
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Migrate offline (a SQL script), on the given connection, or on ``sqlalchemy.url``."""
    prefix = _prefix()
    config = context.config
    if context.is_offline_mode():
        url = config.get_main_option("sqlalchemy.url")
        context.configure(url=url, literal_binds=True, **_options(prefix))
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection, prefix)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url in alembic.ini, or use supportflow.sqlstore.upgrade")
    engine = make_engine(url)
    try:
        with begin_write(engine) as own:
            _migrate(own, prefix)
    finally:
        engine.dispose()


try:
    context.config  # noqa: B018 - only set while Alembic runs this file
except AttributeError:  # imported by something else (pytest collecting modules, say)
    pass
else:
    run()
