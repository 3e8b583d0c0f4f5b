"""A small typed facade over pluggy's ``PluginManager`` for the Desk."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import pluggy

from supportflow import hookspecs
from supportflow._stores import BuiltinStores
from supportflow.errors import ConfigError

__all__ = ["BLOCK_PLUGINS_ENV", "DISABLE_AUTOLOAD_ENV", "PluginHost"]

logger = logging.getLogger("supportflow.plugins")

#: Set to any non-empty value to load no plugins from entry points.
DISABLE_AUTOLOAD_ENV = "SUPPORTFLOW_DISABLE_PLUGIN_AUTOLOAD"
#: Comma-separated entry-point names of plugins that must not be loaded.
BLOCK_PLUGINS_ENV = "SUPPORTFLOW_BLOCK_PLUGINS"


class PluginHost:
    """The plugins one desk calls.

    Plugins come only from explicit registration or from the ``supportflow``
    entry-point group, never from a module path found in data. Hook calls made
    after a commit isolate each implementation: one that raises is logged and
    the others still run.
    """

    def __init__(self, plugins: Iterable[object] = (), *, load_entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        # hook name -> implementations in call order; rebuilt on registration so
        # a command with no interested plugin pays one dict lookup per event.
        self._calls: dict[str, list[pluggy.HookImpl]] = {}
        self.manager.add_hookspecs(hookspecs)
        self.manager.register(BuiltinStores(), "supportflow.builtin-stores")
        for name in _blocked_names():
            self.manager.set_blocked(name)
        for plugin in plugins:
            self.register(plugin)
        if load_entry_points and not os.environ.get(DISABLE_AUTOLOAD_ENV):
            try:
                self.manager.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
            except pluggy.PluginValidationError as exc:
                raise ConfigError(f"entry-point plugin {exc.plugin!r} is invalid: {exc}") from exc
            self._check_wrappers()
        self._check_pending()
        self._refresh()

    def _check_pending(self) -> None:
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            self.manager.unregister(exc.plugin)
            raise ConfigError(
                f"plugin {exc.plugin!r} implements an unknown hook: {exc}; check the "
                "spelling against supportflow.hookspecs"
            ) from exc

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register ``plugin`` (an object or module with ``@hookimpl`` functions).

        Raises:
            ConfigError: an implementation's arguments do not match its hook, or
                it is a hook wrapper (after-commit hooks are notifications).
        """
        try:
            self.manager.register(plugin, name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise ConfigError(f"cannot register plugin {plugin!r}: {exc}") from exc
        self._check_wrappers()
        self._check_pending()
        self._refresh()

    def unregister(self, plugin: object) -> None:
        """Stop calling ``plugin``."""
        self.manager.unregister(plugin)
        self._refresh()

    def _refresh(self) -> None:
        self._calls = {}
        for caller in self.manager.hook.__dict__.values():
            if isinstance(caller, pluggy.HookCaller) and caller.name not in _QUERY_HOOKS:
                impls = caller.get_hookimpls()
                if impls:
                    # pluggy calls the last registered (and tryfirst) ones first.
                    self._calls[caller.name] = list(reversed(impls))

    def store_offers(self) -> list[Any]:
        """What every plugin answered to ``supportflow_register_stores``."""
        return list(self.manager.hook.supportflow_register_stores())

    def notifier_offers(self) -> list[Any]:
        """What every plugin answered to ``supportflow_register_notifiers``."""
        return list(self.manager.hook.supportflow_register_notifiers())

    def _check_wrappers(self) -> None:
        for caller in self.manager.hook.__dict__.values():
            if not isinstance(caller, pluggy.HookCaller):
                continue
            if caller.name in _QUERY_HOOKS:
                continue
            for impl in caller.get_hookimpls():
                if impl.hookwrapper or impl.wrapper:
                    self.manager.unregister(impl.plugin)
                    raise ConfigError(
                        f"plugin {impl.plugin_name!r} implements {caller.name} as a hook "
                        "wrapper; supportflow's hooks are after-commit notifications: "
                        "use a plain @hookimpl"
                    )

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook_name``, isolating failures."""
        impls = self._calls.get(hook_name)
        if not impls:
            return
        for impl in impls:
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception:
                logger.exception(
                    "plugin %r failed in %s; the command was committed and is unaffected",
                    impl.plugin_name,
                    hook_name,
                )

    @property
    def active(self) -> bool:
        """Whether any plugin implements any hook (if not, notifying is skipped)."""
        return bool(self._calls)


#: Hooks the desk asks for answers rather than announcing events to.
_QUERY_HOOKS = frozenset({"supportflow_register_stores", "supportflow_register_notifiers"})


def _blocked_names() -> list[str]:
    raw = os.environ.get(BLOCK_PLUGINS_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]
