"""The log notifier: one record per notification, ids only."""

import logging
from datetime import UTC, datetime

import pytest

from supportflow.errors import ConfigError
from supportflow.notify import Notification, Notifier, Receipt, Recipient
from supportflow.notify._log import LogNotifier

PRIVATE = ("Printer on fire", "ana@example.com", "Ana Lima", "we are on it", "<p>")


def make_notification(number=1, **changes):
    values = dict(
        id=f"n-{number}",
        ticket_id="T-42",
        event_kind="commented",
        event_version=3,
        at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        recipient=Recipient("ana@example.com", "email", "requester", name="Ana Lima"),
        subject="[#42] Printer on fire",
        text="Hello Ana Lima, we are on it.",
        html="<p>Hello Ana Lima, we are on it.</p>",
        thread="T-42",
        data={"requester": "ana@example.com"},
    )
    values.update(changes)
    return Notification(**values)


def test_one_record_per_notification_with_ids_only(caplog):
    notifier = LogNotifier(channels={"email"})
    caplog.set_level(logging.INFO, logger="supportflow.notifications")
    receipts = [notifier.send(make_notification(number)) for number in (1, 2)]

    assert receipts == [
        Receipt(f"n-{number}", "log", detail="logged at INFO to supportflow.notifications")
        for number in (1, 2)
    ]
    first, second = caplog.records
    assert first.name == "supportflow.notifications"
    assert first.levelno == logging.INFO
    assert first.getMessage() == (
        "notification n-1 for ticket T-42: commented (version 3) to the requester via email"
    )
    assert second.getMessage().startswith("notification n-2 ")
    assert (
        first.notification_id,
        first.ticket_id,
        first.event_kind,
        first.event_version,
        first.recipient_role,
        first.recipient_channel,
    ) == ("n-1", "T-42", "commented", 3, "requester", "email")
    for record in caplog.records:
        shown = record.getMessage() + repr(record.__dict__)
        for private in PRIVATE:
            assert private not in shown


def test_custom_logger_and_level(caplog):
    logger = logging.getLogger("tests.notify.log")
    notifier = LogNotifier(logger, level=logging.WARNING)
    caplog.set_level(logging.DEBUG, logger="tests.notify.log")
    receipt = notifier.send(make_notification())
    (record,) = caplog.records
    assert (record.name, record.levelno) == ("tests.notify.log", logging.WARNING)
    assert receipt.detail == "logged at WARNING to tests.notify.log"


def test_below_the_logger_level_nothing_is_written(caplog):
    caplog.set_level(logging.WARNING, logger="supportflow.notifications")
    LogNotifier().send(make_notification())
    assert caplog.records == []


def test_line_breaks_in_ids_cannot_forge_a_second_line(caplog):
    caplog.set_level(logging.INFO, logger="supportflow.notifications")
    LogNotifier().send(make_notification(ticket_id="T-1\nnotification forged"))
    (record,) = caplog.records
    assert "\n" not in record.getMessage()
    assert record.ticket_id == "T-1\nnotification forged"  # structured field kept as given


def test_channels_and_protocol():
    notifier = LogNotifier(channels=["email", "webhook"])
    assert isinstance(notifier, Notifier)
    assert notifier.name == "log"
    assert notifier.channels == frozenset({"log", "email", "webhook"})
    assert LogNotifier().channels == frozenset({"log"})
    assert repr(LogNotifier(level=logging.DEBUG)) == (
        "LogNotifier(logger='supportflow.notifications', level='DEBUG', channels=['log'])"
    )
    notifier.close()


@pytest.mark.parametrize(
    "options",
    [dict(logger=42), dict(level="INFO"), dict(channels="email"), dict(channels=[""])],
    ids=["logger", "level", "channels as str", "empty channel"],
)
def test_bad_options_are_refused(options):
    with pytest.raises(ConfigError):
        LogNotifier(**options)
