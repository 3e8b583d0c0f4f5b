"""A notifier that posts to chat and push services through Apprise.

`Apprise <https://github.com/caronc/apprise>`_ speaks to Slack, Microsoft
Teams, Discord, Telegram, Matrix, ntfy and a hundred more services, each
configured by a URL such as ``slack://T1/B2/token``. Install it with
``pip install 'supportflow[apprise]'``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from supportflow.errors import ConfigError, DeliveryFailed
from supportflow.notify._model import Notification, Receipt

if TYPE_CHECKING:
    import apprise

__all__ = ["AppriseNotifier"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31})://")


def _scheme(url: object) -> str:
    """The scheme of ``url`` for messages: never any other part, which may hold a token."""
    if isinstance(url, str):
        found = _SCHEME.match(url.strip())
        if found is not None:
            return found.group(1).lower()
    return "<no scheme>"


def _import_apprise() -> Any:
    try:
        import apprise
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "AppriseNotifier needs Apprise, which is not installed; "
            "pip install 'supportflow[apprise]'"
        ) from exc
    return apprise


class AppriseNotifier:
    """Delivers notifications to every configured Apprise service.

    Each URL becomes its own :class:`apprise.Apprise` instance, built once, so
    every service is notified separately and its result recorded. The title is
    the notification's subject; the body is its HTML part when it has one
    (sent as HTML, which Apprise converts for text-only services), otherwise
    its text.

    The services are fixed by configuration: the recipient's ``address`` is
    not used to choose one, so a customer-supplied value can never redirect a
    message. Route recipients to this notifier by ``channel``.

    Outcomes:

    * every service accepted: a :class:`~supportflow.notify.Receipt` whose
      ``detail`` reads like ``"2/2 services accepted: json ok, slack ok"``;
    * some accepted, some failed: still a receipt, with the failures in its
      detail (``"1/2 services accepted: json ok, slack failed"``). Raising
      would make the dispatcher retry, and the retry would post a duplicate
      to every service that already accepted;
    * none accepted: a retryable :class:`~supportflow.errors.DeliveryFailed`.

    URLs carry tokens, so they never appear in ``repr()``, receipts or errors:
    services are named by scheme (``json``, ``slack``), numbered when a scheme
    repeats (``json#1``, ``json#2``). Apprise itself logs request URLs and
    payloads on the ``apprise`` logger at ``DEBUG`` level; keep that logger
    at ``INFO`` or above in production.

    Args:
        urls: one Apprise URL or a sequence of them.
        channels: the recipient channels this notifier delivers on.
        name: the notifier's name in receipts and logs.

    Raises:
        ConfigError: Apprise is not installed, no URL was given, or Apprise
            does not accept a URL (the error gives its position and scheme).
    """

    __slots__ = ("_formats", "_labels", "_services", "channels", "name")

    def __init__(
        self,
        urls: Sequence[str] | str,
        *,
        channels: frozenset[str] = frozenset({"chat"}),
        name: str = "apprise",
    ) -> None:
        apprise_module = _import_apprise()
        url_list = [urls] if isinstance(urls, str) else list(urls)
        if not url_list:
            raise ConfigError(
                "AppriseNotifier needs at least one Apprise URL, got none; "
                "pass for example 'slack://...' or a list of URLs"
            )
        if not isinstance(name, str) or not name:
            raise ConfigError(f"notifier name must be a non-empty str, got {name!r}")
        if not isinstance(channels, frozenset) or not channels:
            raise ConfigError(
                f"channels must be a non-empty frozenset of channel names, got {channels!r}; "
                "for example frozenset({'chat'})"
            )
        services: list[apprise.Apprise] = []
        schemes: list[str] = []
        for position, url in enumerate(url_list, start=1):
            scheme = _scheme(url)
            service = apprise_module.Apprise()
            if not isinstance(url, str) or not service.add(url):
                raise ConfigError(
                    f"Apprise URL #{position} (scheme {scheme}) was not accepted; check it "
                    "against the service's URL format in the Apprise documentation (the URL "
                    "is not shown because it may hold a token)"
                )
            services.append(service)
            schemes.append(scheme)
        repeated = {s for s in schemes if schemes.count(s) > 1}
        counters: dict[str, int] = {}
        labels: list[str] = []
        for scheme in schemes:
            if scheme in repeated:
                counters[scheme] = counters.get(scheme, 0) + 1
                labels.append(f"{scheme}#{counters[scheme]}")
            else:
                labels.append(scheme)
        self._services: tuple[apprise.Apprise, ...] = tuple(services)
        self._labels: tuple[str, ...] = tuple(labels)
        notify_format = apprise_module.NotifyFormat
        self._formats: tuple[Any, Any] = (notify_format.TEXT, notify_format.HTML)
        self.channels: frozenset[str] = channels
        self.name: str = name

    @property
    def services(self) -> tuple[str, ...]:
        """The configured services, by scheme (``("json#1", "json#2", "slack")``)."""
        return self._labels

    def send(self, notification: Notification) -> Receipt:
        """Post ``notification`` to every service, one after another.

        Returns:
            A receipt whose ``detail`` lists each service's result, when at
            least one service accepted.

        Raises:
            DeliveryFailed: no service accepted (retryable).
        """
        text_format, html_format = self._formats
        if notification.html is not None:
            body, body_format = notification.html, html_format
        else:
            body, body_format = notification.text, text_format
        results: list[str] = []
        accepted = 0
        for label, service in zip(self._labels, self._services, strict=True):
            try:
                ok = bool(
                    service.notify(body=body, title=notification.subject, body_format=body_format)
                )
            except Exception as exc:  # a plugin bug must not stop the other services
                results.append(f"{label} failed ({type(exc).__name__})")
                continue
            accepted += ok
            results.append(f"{label} {'ok' if ok else 'failed'}")
        total = len(self._services)
        noun = "service" if total == 1 else "services"
        detail = f"{accepted}/{total} {noun} accepted: {', '.join(results)}"
        if not accepted:
            raise DeliveryFailed(
                f"{self.name}: notification {notification.id} was not delivered: {detail}; "
                "check the services' URLs and availability (it will be retried)"
            )
        return Receipt(notification_id=notification.id, notifier=self.name, detail=detail)

    def close(self) -> None:
        """Release nothing: Apprise holds no open connections between sends."""

    def __repr__(self) -> str:
        return (
            f"AppriseNotifier(name={self.name!r}, channels={sorted(self.channels)!r}, "
            f"services={list(self._labels)!r})"
        )
