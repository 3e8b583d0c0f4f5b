"""The SQL store: supportflow's tickets in SQLite or PostgreSQL, on SQLAlchemy 2 Core.

>>> from supportflow import Desk
>>> from supportflow.sqlstore import store_from_url
>>> store = store_from_url("sqlite://")            # in memory; tables created
>>> desk = Desk(store=store, load_entry_points=False)
>>> ticket = desk.open_ticket(subject="VPN down", requester="bob@example.com")
>>> store.load(ticket.id) == ticket
True
>>> store.close()

- :class:`SQLStore` implements :class:`supportflow.store.Store` on a URL, an
  Engine, or an application's own Connection (then tickets commit or roll
  back with the application's transaction).
- :func:`upgrade` creates or upgrades the tables with the Alembic migrations
  shipped in this package, keeping its revision in ``{prefix}alembic_version``.
- :func:`make_engine` builds an engine with the settings the store relies on
  (on SQLite: WAL, a busy timeout, ``BEGIN IMMEDIATE`` for writes).
- :func:`metadata` gives the tables as SQLAlchemy objects.

PostgreSQL needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from supportflow.sqlstore._engine import SQLITE_BEGIN, make_engine, normalize_url
from supportflow.sqlstore._migrate import upgrade
from supportflow.sqlstore._schema import DEFAULT_PREFIX, check_prefix, tables
from supportflow.sqlstore._store import SQLStore

__all__ = [
    "DEFAULT_PREFIX",
    "SQLITE_BEGIN",
    "SQLStore",
    "check_prefix",
    "make_engine",
    "metadata",
    "normalize_url",
    "store_from_url",
    "upgrade",
]


def metadata(prefix: str = DEFAULT_PREFIX) -> sa.MetaData:
    """The store's tables for ``prefix`` as a :class:`~sqlalchemy.MetaData`.

    The Alembic migrations build exactly these tables; ``create_all`` on this
    metadata is for throwaway databases (the migrations are the way to go for
    anything that must be upgraded later).

    Raises:
        ConfigError: an invalid prefix.
    """
    return tables(prefix).metadata


def store_from_url(url: str | URL, *, create: bool = True, **options: Any) -> SQLStore:
    """A :class:`SQLStore` on its own engine for ``url``.

    ``sqlite:///path/desk.db`` (a file), ``sqlite://`` (in memory, one shared
    connection), ``postgresql://user@host/db`` (psycopg 3). The tables are
    created or upgraded first unless ``create=False``; other ``options``
    (``prefix=``) go to :class:`SQLStore`.

    Raises:
        ConfigError: an unsupported or malformed URL, an invalid prefix.
    """
    return SQLStore(url, create=create, **options)
