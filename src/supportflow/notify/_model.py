"""What a notifier is handed and what it hands back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

__all__ = ["Notification", "Notifier", "Receipt", "Recipient"]


@frozen
class Recipient:
    """Who a notification goes to, and how.

    Attributes:
        address: where to deliver on ``channel``: an e-mail address, a webhook
            URL, a chat handle. Notifiers validate it before use.
        channel: ``"email"``, ``"webhook"``, ``"chat"``, ``"log"`` or a channel
            of your own; it selects the notifier.
        role: why this recipient gets it: ``"requester"``, ``"assignee"``,
            ``"group"``, ``"supervisor"``, ``"watcher"`` or your own word.
        name: a display name (e-mail ``To:`` name), if known.
        language: the recipient's preferred language (``"en"``, ``"de"``, ...);
            templates fall back to the default language when ``None``.
        internal: whether the recipient is staff. Customers never receive
            internal notes or internal fields.
    """

    address: str
    channel: str
    role: str
    name: str | None = None
    language: str | None = None
    internal: bool = False


@frozen
class Notification:
    """One message to one recipient about one ticket event.

    ``id`` is stable across retries (built from the outbox row's id and the
    recipient), so it serves as the receiver's idempotency key: the webhook
    notifier sends it as ``webhook-id``, the SMTP notifier as the ``Message-ID``.
    ``thread`` names the ticket's conversation (e-mail threading headers).
    ``data`` is the JSON-ready event payload a webhook posts; it never holds
    internal fields when the recipient is a customer.
    """

    id: str
    ticket_id: str
    event_kind: str
    event_version: int
    at: datetime
    recipient: Recipient
    subject: str
    text: str
    html: str | None = None
    thread: str | None = None
    data: Mapping[str, Any] = field(factory=dict)


@frozen
class Receipt:
    """Proof of a delivery: which notifier accepted it, and what the receiver said."""

    notification_id: str
    notifier: str
    detail: str = ""
    remote_id: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """A notification backend: delivers one notification at a time.

    ``send`` returns a :class:`Receipt` when the receiver accepted the
    message, and raises :class:`~supportflow.errors.DeliveryFailed` when it
    did not (with ``permanent``, ``retry_after`` or ``disable_endpoint`` set
    as the receiver's answer warrants). Any other exception counts as a
    retryable failure. ``send`` must never log message bodies, personal data
    or secrets; ``repr()`` must not show secrets.

    Attributes:
        name: the notifier's name in receipts and logs (``"smtp"``, ...).
        channels: the recipient channels it delivers on.
    """

    name: str
    channels: frozenset[str]

    def send(self, notification: Notification) -> Receipt: ...

    def close(self) -> None: ...
