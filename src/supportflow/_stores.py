"""Choosing a storage backend by URL, through the ``supportflow_register_stores`` hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from supportflow.errors import ConfigError
from supportflow.hookspecs import hookimpl
from supportflow.store import MemoryStore, Store

__all__ = ["BuiltinStores", "open_store", "scheme_of"]


def scheme_of(url: str) -> str:
    """The URL's scheme without a driver suffix: ``postgresql+psycopg://`` → ``postgresql``."""
    if "://" not in url:
        raise ConfigError(
            f"store URL {url!r} has no scheme; use e.g. memory://, sqlite:///path/desk.db "
            "or postgresql://user@host/db"
        )
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def _memory(url: str) -> Store:
    return MemoryStore()


def _sql(url: str) -> Store:
    # Imported on demand: SQLAlchemy is only needed by desks that use SQL.
    from supportflow.sqlstore import store_from_url

    return store_from_url(url, create=True)


class BuiltinStores:
    """The backends supportflow ships, registered like any plugin's."""

    @hookimpl
    def supportflow_register_stores(self) -> Mapping[str, Callable[[str], Store]]:
        return {"memory": _memory, "sqlite": _sql, "postgresql": _sql, "postgres": _sql}


def open_store(url: str, offers: list[Mapping[str, Callable[[str], Store]]]) -> Store:
    """Build the store for ``url`` from the factories plugins offered.

    Raises:
        ConfigError: no plugin offers the scheme, or two offer the same one.
    """
    scheme = scheme_of(url)
    factories: dict[str, Callable[[str], Store]] = {}
    for offer in offers:
        for name, factory in offer.items():
            if name in factories and factories[name] is not factory:
                raise ConfigError(
                    f"two plugins offer a store for the URL scheme {name!r}; block one of "
                    "them with SUPPORTFLOW_BLOCK_PLUGINS"
                )
            factories[name] = factory
    if scheme not in factories:
        raise ConfigError(
            f"no store for URL scheme {scheme!r} in {url!r}; known schemes: "
            f"{', '.join(sorted(factories))} (install a plugin that registers it)"
        )
    return factories[scheme](url)
