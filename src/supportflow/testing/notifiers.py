"""Contract tests for notifier plugins.

Subclass :class:`NotifierContract` as a ``Test...`` class in your test suite
and provide three fixtures: ``notifier`` (a fresh notifier that sends to a
real receiver your test runs: an SMTP server, an HTTP server on loopback),
``received`` (a function returning the notification ids that receiver got, in
order) and ``failing_notifier`` (the same notifier pointed at a receiver that
refuses, or at a closed port). A notifier that cannot fail (a logger)
subclasses :class:`DeliveryContract` instead and leaves ``failing_notifier`` out.
Optionally override ``secret`` with a password or key the notifier was built
with: it must never show in ``repr()``, ``str()`` or an error message.

.. code-block:: python

    import pytest
    from supportflow.testing.notifiers import NotifierContract

    class TestSmsNotifier(NotifierContract):
        channel = "sms"
        address = "+15550100"

        @pytest.fixture
        def notifier(self, sms_gateway):
            return SmsNotifier(sms_gateway.url, token="t0ps3cret")

        @pytest.fixture
        def received(self, sms_gateway):
            return lambda: [message["id"] for message in sms_gateway.messages]

        @pytest.fixture
        def failing_notifier(self):
            return SmsNotifier("http://127.0.0.1:9", token="t0ps3cret")

        @pytest.fixture
        def secret(self):
            return "t0ps3cret"

The dispatcher relies on what these tests check: a receipt names the
notification it delivered, one send is one delivery, every failure is a
:class:`~supportflow.errors.DeliveryFailed` (anything else is treated as a
retryable bug), and no secret leaks into logs through ``repr()`` or errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from supportflow.errors import DeliveryFailed
from supportflow.notify._model import Notification, Notifier, Receipt, Recipient

__all__ = ["DeliveryContract", "NotifierContract", "RecordingNotifier", "sample"]

_NUMBERS = itertools.count(1)


def sample(channel: str, address: str, *, number: int | None = None) -> Notification:
    """A notification on ``channel`` to ``address`` with a fresh, unique id."""
    n = next(_NUMBERS) if number is None else number
    return Notification(
        id=f"sf-contract-{n:06d}",
        ticket_id="01900000-0000-7000-8000-000000000001",
        event_kind="opened",
        event_version=1,
        at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        recipient=Recipient(address, channel, "requester", name="Alice Example", language="en"),
        subject=f"[#{n}] We received your request",
        text="Thank you — we will get back to you shortly.",
        html="<p>Thank you — we will get back to you shortly.</p>",
        thread="01900000-0000-7000-8000-000000000001",
        data={"ticket_id": "01900000-0000-7000-8000-000000000001", "event": "opened"},
    )


class RecordingNotifier:
    """The in-memory reference notifier: accepts every notification and keeps it.

    For tests and notebooks: ``got`` holds what was sent, in order.

    >>> inbox = RecordingNotifier(channels={"email"})
    >>> inbox.send(sample("email", "alice@example.com", number=1)).notifier
    'recording'
    >>> [n.id for n in inbox.got]
    ['sf-contract-000001']
    """

    name = "recording"

    def __init__(self, channels: Iterable[str] = ("email", "webhook", "chat")) -> None:
        self.channels = frozenset(channels)
        self.got: list[Notification] = []

    def send(self, notification: Notification) -> Receipt:
        """Keep ``notification``; a receipt saying so."""
        self.got.append(notification)
        return Receipt(notification.id, self.name, detail="recorded")

    def close(self) -> None:
        """Nothing to release."""


class DeliveryContract:
    """What every notifier does: declare itself, deliver each send once with a
    receipt, keep secrets out of ``repr()``, close twice harmlessly.

    Subclass it directly only for a notifier that cannot fail (a logger);
    everything else subclasses :class:`NotifierContract`.
    """

    #: The channel the notifications under test are addressed on.
    channel: ClassVar[str] = "email"
    #: The address they go to.
    address: ClassVar[str] = "alice@example.com"

    @pytest.fixture
    def notifier(self) -> Notifier:
        raise NotImplementedError("override the notifier fixture")

    @pytest.fixture
    def received(self) -> Callable[[], list[str]]:
        raise NotImplementedError("override the received fixture")

    @pytest.fixture
    def secret(self) -> str | None:
        return None

    def test_declares_its_name_and_channels(self, notifier: Notifier) -> None:
        assert isinstance(notifier, Notifier)
        assert isinstance(notifier.name, str)
        assert notifier.name
        assert isinstance(notifier.channels, frozenset)
        assert self.channel in notifier.channels

    def test_a_send_reaches_the_receiver_once_and_returns_its_receipt(
        self, notifier: Notifier, received: Callable[[], list[str]]
    ) -> None:
        notification = sample(self.channel, self.address)
        receipt = notifier.send(notification)
        assert isinstance(receipt, Receipt)
        assert receipt.notification_id == notification.id
        assert receipt.notifier == notifier.name
        assert received() == [notification.id]

    def test_each_send_is_one_delivery_in_order(
        self, notifier: Notifier, received: Callable[[], list[str]]
    ) -> None:
        notifications = [sample(self.channel, self.address) for _ in range(3)]
        for notification in notifications:
            notifier.send(notification)
        assert received() == [n.id for n in notifications]

    def test_repr_and_str_never_show_the_secret(
        self, notifier: Notifier, secret: str | None
    ) -> None:
        for text in (repr(notifier), str(notifier)):
            assert text
            if secret is not None:
                assert secret not in text

    def test_close_is_harmless_twice(self, notifier: Notifier) -> None:
        notifier.close()
        notifier.close()


class NotifierContract(DeliveryContract):
    """The whole notifier contract: :class:`DeliveryContract`, plus a refused
    send that comes out as :class:`~supportflow.errors.DeliveryFailed` without
    secrets (see the module docs for the fixtures to provide)."""

    @pytest.fixture
    def failing_notifier(self) -> Notifier:
        raise NotImplementedError("override the failing_notifier fixture")

    def test_a_refused_send_is_a_delivery_failure_without_secrets(
        self, failing_notifier: Notifier, secret: str | None
    ) -> None:
        with pytest.raises(DeliveryFailed) as failure:
            failing_notifier.send(sample(self.channel, self.address))
        if secret is not None:
            assert secret not in str(failure.value)
            assert secret not in repr(failure.value)
