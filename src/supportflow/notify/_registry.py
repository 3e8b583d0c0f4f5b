"""Notifiers by URL: the built-in schemes and those plugins offer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from supportflow.errors import ConfigError
from supportflow.notify._model import Notifier

__all__ = ["BUILTIN_SCHEMES", "notifier_from_url"]


def _log(url: str, **options: Any) -> Notifier:
    from supportflow.notify._log import LogNotifier

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    channels = [c for value in query.get("channels", []) for c in value.split(",") if c]
    logger = parts.netloc or "supportflow.notifications"
    return LogNotifier(options.pop("logger", logger), channels=channels, **options)


def _smtp(url: str, **options: Any) -> Notifier:
    from supportflow.notify._smtp import SMTPNotifier

    return SMTPNotifier.from_url(url, **options)


def _webhook(url: str, **options: Any) -> Notifier:
    from supportflow.notify._webhook import WebhookNotifier

    return WebhookNotifier(url.split("+", 1)[1], **options)


def _apprise(url: str, **options: Any) -> Notifier:
    from supportflow.notify._apprise import AppriseNotifier

    # apprise+slack://... hands slack://... to apprise; apprise://... is apprise's
    # own scheme (an Apprise API server) and goes as it is.
    target = url.split("+", 1)[1] if url.lower().startswith("apprise+") else url
    return AppriseNotifier(target, **options)


#: The schemes supportflow serves itself. ``apprise+<service>://...`` hands
#: ``<service>://...`` to apprise (``apprise+slack://...``, ``apprise+json://...``);
#: ``apprise://...`` is apprise's own scheme for an Apprise API server.
BUILTIN_SCHEMES: Mapping[str, Callable[..., Notifier]] = {
    "log": _log,
    "smtp": _smtp,
    "smtps": _smtp,
    "webhook+http": _webhook,
    "webhook+https": _webhook,
    "apprise": _apprise,
}


def notifier_from_url(url: str, *, plugins: Iterable[object] = (), **options: Any) -> Notifier:
    """A notifier for ``url``, from the built-in schemes or a plugin's.

    ``log://`` (logger name as host, ``?channels=email,chat`` to stand in for
    other channels), ``smtp://user@host:587?sender=desk@example.com``,
    ``smtps://...``, ``webhook+https://hooks.example.com/desk``,
    ``apprise+slack://...``. Secrets (``password=``, ``secret=``) and other
    settings go in ``options``, which the notifier's constructor receives;
    never put a signing key in a URL that might be logged.

    Plugins (``plugins=`` here, or the ``supportflow`` entry-point group)
    offer more schemes through ``supportflow_register_notifiers``.

    >>> notifier_from_url("log://desk.audit?channels=email").channels == {"log", "email"}
    True

    Raises:
        ConfigError: an unknown scheme (the message lists the known ones), or a
            scheme offered by two sources.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"a notifier URL looks like smtp://host or webhook+https://host/path, got {url!r}"
        )
    scheme = url.split("://", 1)[0].lower()
    factories = _factories(plugins)
    factory = factories.get(scheme)
    if factory is None and scheme.startswith("apprise+"):
        factory = factories["apprise"]
    if factory is None:
        raise ConfigError(
            f"no notifier serves URL scheme {scheme!r}; known schemes: "
            f"{', '.join(sorted(factories))} (and apprise+<service>); "
            "a plugin can add one with supportflow_register_notifiers"
        )
    return factory(url, **options)


def _factories(plugins: Iterable[object]) -> dict[str, Callable[..., Notifier]]:
    from supportflow._plugins import PluginHost

    found: dict[str, Callable[..., Notifier]] = dict(BUILTIN_SCHEMES)
    host = PluginHost(plugins, load_entry_points=True)
    for offer in host.notifier_offers():
        for scheme, factory in offer.items():
            key = scheme.lower()
            if key in found:
                raise ConfigError(
                    f"notifier URL scheme {scheme!r} is offered twice; block one plugin "
                    "with SUPPORTFLOW_BLOCK_PLUGINS"
                )
            found[key] = factory
    return found
