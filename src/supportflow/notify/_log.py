"""The log notifier: one log line per notification, for development, demos and tests.

>>> notifier = LogNotifier(channels={"email"})
>>> sorted(notifier.channels)
['email', 'log']
>>> notifier
LogNotifier(logger='supportflow.notifications', level='INFO', channels=['email', 'log'])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from supportflow.errors import ConfigError
from supportflow.notify._model import Notification, Receipt

__all__ = ["LogNotifier"]


def _printable(value: object) -> str:
    """``value`` as text that cannot break the log line (controls are escaped)."""
    text = str(value)
    return text if text.isprintable() else repr(text)


class LogNotifier:
    """Writes one structured log record per notification instead of delivering it.

    The record holds identifiers only: the notification id, the ticket id, the
    event kind and version, and the recipient's role and channel. It never
    holds the subject, text, html, address or name, which are message content
    or personal data. The same values are attached to the record as the
    attributes ``notification_id``, ``ticket_id``, ``event_kind``,
    ``event_version``, ``recipient_role`` and ``recipient_channel``, for
    structured (JSON) log formatters.

    Besides ``"log"``, the notifier accepts any channel passed in ``channels``,
    so it can stand in for the e-mail or webhook notifiers in tests and demos.

    Args:
        logger: the logger, or the name of one.
        level: the level of the records (``logging.INFO`` by default).
        channels: more channels to accept, besides ``"log"``.

    Raises:
        ConfigError: ``logger``, ``level`` or a channel has a bad value.
    """

    name: str = "log"
    channels: frozenset[str]

    __slots__ = ("_level", "_logger", "channels")

    def __init__(
        self,
        logger: logging.Logger | str = "supportflow.notifications",
        level: int = logging.INFO,
        *,
        channels: Iterable[str] = (),
    ) -> None:
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise ConfigError(
                f"logger must be a logging.Logger or a logger name, got "
                f"{type(logger).__name__}; pass e.g. 'supportflow.notifications'"
            )
        if not isinstance(level, int) or isinstance(level, bool) or level < 0:
            raise ConfigError(f"level must be a logging level such as logging.INFO, got {level!r}")
        if isinstance(channels, str):
            raise ConfigError(
                f"channels must be a collection of channel names, got the str {channels!r}; "
                f"pass e.g. {{{channels!r}}}"
            )
        extra = frozenset(channels)
        for channel in extra:
            if not isinstance(channel, str) or not channel:
                raise ConfigError(
                    f"every channel must be a non-empty str, got {channel!r}; pass e.g. 'email'"
                )
        self._logger = logger
        self._level = level
        self.channels = frozenset({"log"}) | extra

    def __repr__(self) -> str:
        return (
            f"LogNotifier(logger={self._logger.name!r}, "
            f"level={logging.getLevelName(self._level)!r}, channels={sorted(self.channels)!r})"
        )

    def send(self, notification: Notification) -> Receipt:
        """Log ``notification`` (ids only) and return a receipt.

        Returns:
            A receipt whose ``detail`` names the logger and level.
        """
        recipient = notification.recipient
        fields = {
            "notification_id": notification.id,
            "ticket_id": notification.ticket_id,
            "event_kind": notification.event_kind,
            "event_version": notification.event_version,
            "recipient_role": recipient.role,
            "recipient_channel": recipient.channel,
        }
        self._logger.log(
            self._level,
            "notification %s for ticket %s: %s (version %s) to the %s via %s",
            *(_printable(value) for value in fields.values()),
            extra=fields,
        )
        level = logging.getLevelName(self._level)
        return Receipt(
            notification.id, self.name, detail=f"logged at {level} to {self._logger.name}"
        )

    def close(self) -> None:
        """Nothing to release."""
