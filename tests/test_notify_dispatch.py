"""The dispatcher: routing, expansion, retries with backoff, dead letters, and
the delivery figures the notification issue asks for."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from supportflow import Actor, Desk, ManualClock, MemoryStore, hookimpl
from supportflow._directory import Agent, Customer, Directory, Group
from supportflow.errors import ConfigError, DeliveryFailed
from supportflow.notify import Receipt
from supportflow.notify._dispatch import Backoff, Dispatcher
from supportflow.notify._routing import Route, Router
from supportflow.notify._templates import Templates, TextTemplate
from supportflow.testing.notifiers import RecordingNotifier

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor.agent("ann")
SAM = Actor.supervisor("sam")
ALICE = "alice@example.com"


def desk_and_dispatcher(store=None, **options):
    clock = ManualClock(START)
    desk = Desk(store=store or MemoryStore(), clock=clock, outbox=True, load_entry_points=False)
    inbox = RecordingNotifier()
    options.setdefault("rng", random.Random(7))
    dispatcher = Dispatcher.for_desk(desk, [inbox], **options)
    return desk, dispatcher, inbox, clock


# -- routing ----------------------------------------------------------------------------------


def test_the_requester_hears_of_receipt_replies_waiting_and_resolution():
    desk, dispatcher, inbox, _ = desk_and_dispatcher()
    ticket = desk.open_ticket(subject="VPN down", requester=ALICE)
    desk.reply(ticket.id, "Looking into it.", by=ANN)
    desk.transition(ticket.id, "start", by=ANN)
    desk.transition(ticket.id, "wait_for_customer", by=ANN)
    desk.reply(ticket.id, "Restarted.", by=Actor.customer(ALICE))  # their own reply: no mail
    desk.transition(ticket.id, "resolve", by=ANN, resolution="Replaced the firewall.")
    dispatcher.drain()
    kinds = [(n.event_kind, n.data.get("to")) for n in inbox.got]
    assert kinds == [
        ("opened", None),
        ("commented", None),
        ("transitioned", "waiting_on_customer"),
        ("transitioned", "resolved"),
    ]
    assert {n.recipient.address for n in inbox.got} == {ALICE}
    assert all(n.thread == ticket.id for n in inbox.got)
    assert "Looking into it." in inbox.got[1].text


def test_customers_never_receive_internal_notes_or_fields():
    directory = Directory(agents=[Agent("ann", contacts={"email": "ann@corp.test"})])
    routes = [Route(on="commented", to={"requester", "assignee"})]
    desk, dispatcher, inbox, _ = desk_and_dispatcher(routes=routes, directory=directory)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, assignee="ann", region="emea")
    desk.comment(ticket.id, "The customer is on the old firmware.", by=SAM)
    desk.reply(ticket.id, "We are on it.", by=SAM)
    dispatcher.drain()
    to_alice = [n for n in inbox.got if n.recipient.address == ALICE]
    to_ann = [n for n in inbox.got if n.recipient.address == "ann@corp.test"]
    assert [n.data["comment"] for n in to_alice] == ["We are on it."]
    assert "fields" not in to_alice[0].data
    assert "old firmware" not in to_alice[0].text
    assert sorted(n.data["comment"] for n in to_ann) == [
        "The customer is on the old firmware.",
        "We are on it.",
    ]
    assert all(n.data["fields"] == {"region": "emea"} for n in to_ann)


def test_language_and_channel_preferences_are_honoured():
    directory = Directory(
        customers=[
            Customer(
                "bob",
                contacts={"chat": "@bob", "email": "bob@example.com"},
                preferred_channel="chat",
                language="de-CH",
            ),
        ]
    )
    templates = Templates(
        {
            ("opened", "de"): TextTemplate("Ticket $ticket_id", "Danke, $subject ist angekommen."),
            ("*", "en"): TextTemplate("Ticket $ticket_id", "Updated."),
        }
    )
    desk, dispatcher, inbox, _ = desk_and_dispatcher(directory=directory, templates=templates)
    desk.open_ticket(subject="Drucker", requester="bob")
    dispatcher.drain()
    (note,) = inbox.got
    assert (note.recipient.channel, note.recipient.address) == ("chat", "@bob")
    assert note.text == "Danke, Drucker ist angekommen."


def test_assignment_notifies_the_assignee_and_escalation_routes_reach_supervisors():
    directory = Directory(
        agents=[
            Agent("ann", contacts={"email": "ann@corp.test"}, supervisor="sam"),
            Agent("sam", contacts={"email": "sam@corp.test"}, tier="manager"),
        ],
        groups=[Group("network", supervisor="sam", email="network@corp.test")],
    )
    router = Router(directory=directory)
    desk, dispatcher, inbox, _ = desk_and_dispatcher(directory=directory)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, group="network")
    desk.assign(ticket.id, "ann", by=SAM)
    dispatcher.drain()
    assert [(n.event_kind, n.recipient.address) for n in inbox.got] == [
        ("opened", ALICE),
        ("assigned", "ann@corp.test"),
    ]
    # An assignment the assignee made themselves tells nobody.
    desk.assign(ticket.id, None, by=ANN)
    desk.assign(ticket.id, "ann", by=ANN)
    before = len(inbox.got)
    dispatcher.drain()
    assert len(inbox.got) == before
    people = {
        r.role: r.address
        for r in (
            t.recipient
            for t in router.targets(desk.store.history(ticket.id)[-1], desk.store.load(ticket.id))
        )
    }
    assert people == {}  # ann assigned herself: nobody to tell
    group_route = Router(
        routes=[Route(on="assigned", to={"group", "supervisor"})], directory=directory
    )
    targets = group_route.targets(desk.store.history(ticket.id)[-1], desk.store.load(ticket.id))
    assert {(t.recipient.role, t.recipient.address) for t in targets} == {
        ("group", "network@corp.test"),
        ("supervisor", "sam@corp.test"),
    }


def test_routes_are_checked_when_built():
    with pytest.raises(ConfigError, match="unknown route recipient 'boss'"):
        Route(on="opened", to="boss")
    with pytest.raises(ConfigError, match="at least one trigger"):
        Route(on=(), to="requester")


# -- failures, retries, dead letters ----------------------------------------------------------


class Flaky:
    """Fails the first ``failures`` sends of every notification, then accepts."""

    name = "flaky"
    channels = frozenset({"email"})

    def __init__(self, failures, error=None):
        self.failures = failures
        self.error = error or DeliveryFailed("HTTP 503 from the receiver")
        self.tries: Counter[str] = Counter()
        self.accepted: list[str] = []

    def send(self, notification):
        self.tries[notification.id] += 1
        if self.tries[notification.id] <= self.failures:
            raise self.error
        self.accepted.append(notification.id)
        return Receipt(notification.id, self.name)

    def close(self):
        pass


def flaky_setup(failures, error=None, **options):
    clock = ManualClock(START)
    desk = Desk(store=MemoryStore(), clock=clock, outbox=True, load_entry_points=False)
    flaky = Flaky(failures, error)
    options.setdefault("backoff", Backoff(base=timedelta(seconds=10), jitter=0))
    dispatcher = Dispatcher.for_desk(desk, [flaky], rng=random.Random(1), **options)
    desk.open_ticket(subject="VPN", requester=ALICE)
    return clock, dispatcher, flaky


def test_retries_back_off_exponentially_then_succeed():
    clock, dispatcher, flaky = flaky_setup(3)
    waits = []
    report = dispatcher.run_once()
    assert (report.queued, report.retried) == (1, 1)
    while not flaky.accepted:
        (pending,) = dispatcher.store.deliveries(status="pending")
        waits.append(pending.next_at - clock.now())
        assert dispatcher.run_once(pending.next_at - timedelta(microseconds=1)).idle
        clock.set(pending.next_at)
        dispatcher.run_once()
    assert waits == [timedelta(seconds=s) for s in (10, 20, 40)]
    assert dispatcher.store.delivery_counts() == {"pending": 0, "sent": 1, "dead": 0}


def test_the_last_allowed_attempt_dead_letters_with_the_error_and_requeue_sends_it():
    events = []

    class Watch:
        @hookimpl
        def supportflow_notification_failed(self, notification, error, attempts, dead):
            events.append((attempts, dead, error))

        @hookimpl
        def supportflow_notification_sent(self, notification, receipt):
            events.append(("sent", receipt.notifier))

    clock, dispatcher, flaky = flaky_setup(5, max_attempts=3)
    dispatcher.plugins.register(Watch())
    for _ in range(3):
        dispatcher.run_once()
        clock.advance(timedelta(hours=1))
    (dead,) = dispatcher.dead_letters()
    assert (dead.attempts, dead.error) == (3, "HTTP 503 from the receiver")
    assert events == [(1, False, dead.error), (2, False, dead.error), (3, True, dead.error)]
    flaky.failures = 0
    assert dispatcher.requeue([dead.notification.id]) == 1
    dispatcher.run_once()
    assert events[-1] == ("sent", "flaky")
    assert dispatcher.dead_letters() == []


def test_a_permanent_failure_dead_letters_at_once():
    _, dispatcher, _flaky = flaky_setup(1, DeliveryFailed("550 no such user", permanent=True))
    dispatcher.run_once()
    (dead,) = dispatcher.dead_letters()
    assert (dead.attempts, dead.error) == (1, "550 no such user")


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    clock, dispatcher, _ = flaky_setup(1, DeliveryFailed("429", retry_after=timedelta(minutes=5)))
    dispatcher.run_once()
    (pending,) = dispatcher.store.deliveries(status="pending")
    assert pending.next_at == clock.now() + timedelta(minutes=5)


def test_a_notifier_that_raises_anything_is_retried_not_fatal():
    _clock, dispatcher, _flaky = flaky_setup(1, RuntimeError("bug in the plugin"))
    report = dispatcher.run_once()
    assert report.retried == 1
    (pending,) = dispatcher.store.deliveries(status="pending")
    assert pending.error == "RuntimeError: bug in the plugin"


def test_a_template_error_dead_letters_that_notification_only():
    templates = Templates({("*", "en"): TextTemplate("[$ticket_id] $subject", "$comment")})
    templates.add("opened", _Exploding())
    desk, dispatcher, _inbox, _ = desk_and_dispatcher(templates=templates)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE)
    desk.reply(ticket.id, "On it.", by=ANN)
    report = dispatcher.drain()
    assert (report.sent, report.dead) == (1, 1)
    (dead,) = dispatcher.dead_letters()
    assert dead.notification.event_kind == "opened"
    assert dead.error.startswith("template: ")
    assert "boom" in dead.error


class _Exploding:
    placeholders = frozenset()

    def render(self, context, *, name="template"):
        from supportflow.notify._templates import TemplateError

        raise TemplateError(f"{name}: boom")


def test_a_channel_nobody_serves_is_a_dead_letter_with_the_reason():
    routes = [Route(on="opened", to="sms:+15550100")]
    desk, dispatcher, _, _ = desk_and_dispatcher(routes=routes)
    desk.open_ticket(subject="VPN", requester=ALICE)
    dispatcher.drain()
    (dead,) = dispatcher.dead_letters()
    assert dead.error == "no notifier serves channel 'sms'"


def test_backoff_is_capped_and_jitter_stays_in_its_band():
    backoff = Backoff(base=timedelta(seconds=30), factor=3, cap=timedelta(minutes=10), jitter=0.2)
    rng = random.Random(3)
    for failures in range(1, 12):
        plain = min(600.0, 30 * 3 ** (failures - 1))
        for _ in range(50):
            seconds = backoff.delay(failures, rng).total_seconds()
            assert plain * 0.8 <= seconds <= plain * 1.2
    with pytest.raises(ConfigError, match="jitter"):
        Backoff(jitter=1.5)


# -- commits and notifications ----------------------------------------------------------------


def test_a_command_that_rolls_back_produces_no_notification(tmp_path):
    from supportflow.sqlstore import SQLStore, make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        store = SQLStore(connection)
        desk = Desk(store=store, clock=ManualClock(START), outbox=True, load_entry_points=False)
        desk.open_ticket(subject="VPN", requester=ALICE)
        connection.rollback()
    store = SQLStore(engine)
    inbox = RecordingNotifier()
    dispatcher = Dispatcher(store, [inbox], clock=ManualClock(START))
    assert dispatcher.drain().idle
    assert inbox.got == []
    engine.dispose()


def test_inline_delivery_never_rolls_back_a_command_when_the_notifier_raises(caplog):
    class Broken:
        name = "broken"
        channels = frozenset({"email"})

        def send(self, notification):
            raise OSError("connection refused")

        def close(self):
            pass

    clock = ManualClock(START)
    desk = Desk(store=MemoryStore(), clock=clock, outbox=True, load_entry_points=False)
    dispatcher = Dispatcher.for_desk(desk, [Broken()], rng=random.Random(0))
    dispatcher.inline(desk)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE)
    assert desk.store.load(ticket.id).version == 1
    assert dispatcher.store.delivery_counts() == {"pending": 1, "sent": 0, "dead": 0}
    (pending,) = dispatcher.store.deliveries()
    assert pending.error == "OSError: connection refused"


def test_inline_delivery_sends_right_after_the_commit():
    desk, dispatcher, inbox, _ = desk_and_dispatcher()
    dispatcher.inline(desk)
    desk.open_ticket(subject="VPN", requester=ALICE)
    assert [n.event_kind for n in inbox.got] == ["opened"]


def test_a_store_without_a_delivery_queue_is_refused():
    class Bare:
        pass

    with pytest.raises(ConfigError, match="not a delivery queue"):
        Dispatcher(Bare(), [RecordingNotifier()])
    with pytest.raises(ConfigError, match="outbox=True"):
        Dispatcher.for_desk(Desk(load_entry_points=False), [RecordingNotifier()])
    with pytest.raises(ConfigError, match="served by both"):
        Dispatcher(MemoryStore(), [RecordingNotifier(), RecordingNotifier()])


# -- the figure: 10,000 notifications through an unreliable backend --------------------------


class Unreliable:
    """Fails 30 % of sends and times out on 1 %, at random from a seeded generator.

    A timeout is the worst case for a sender: the receiver may have applied the
    message before the answer was lost, so a timed-out send counts as
    *delivered to the receiver* here, and the retry must not apply it twice.
    """

    name = "unreliable"
    channels = frozenset({"email"})

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.sends: Counter[str] = Counter()  # every call
        self.applied: Counter[str] = Counter()  # what the deduplicating receiver applied
        self.accepted: Counter[str] = Counter()  # answered with a receipt

    def send(self, notification):
        self.sends[notification.id] += 1
        roll = self.rng.random()
        if roll < 0.30:
            raise DeliveryFailed("HTTP 503 from the receiver")
        self._receive(notification.id)
        if roll < 0.31:
            raise TimeoutError("no answer from the receiver within 10 s")
        self.accepted[notification.id] += 1
        return Receipt(notification.id, self.name)

    def _receive(self, notification_id):
        if notification_id not in self.applied:  # deduplicates on the notification id
            self.applied[notification_id] += 1

    def close(self):
        pass


@pytest.mark.slow
def test_ten_thousand_notifications_through_an_unreliable_backend():
    produced = 10_000
    clock = ManualClock(START)
    desk = Desk(store=MemoryStore(), clock=clock, outbox=True, load_entry_points=False)
    for n in range(produced):
        desk.open_ticket(subject=f"Request {n}", requester=f"customer{n}@example.com")
    backend = Unreliable(seed=20261123)
    dispatcher = Dispatcher.for_desk(
        desk, [backend], max_attempts=10, batch=500, rng=random.Random(5)
    )
    for _ in range(10_000):
        report = dispatcher.run_once()
        if report.idle:
            pending = dispatcher.store.deliveries(status="pending", limit=1)
            if not pending and desk.store.outbox_backlog() == 0:
                break
            clock.advance(timedelta(minutes=1))
    counts = dispatcher.store.delivery_counts()
    sent = {d.notification.id for d in dispatcher.store.deliveries(status="sent")}
    dead = {d.notification.id for d in dispatcher.store.deliveries(status="dead")}
    assert counts["pending"] == 0
    assert counts["sent"] + counts["dead"] == produced
    assert len(sent) + len(dead) == produced
    assert not sent & dead
    # Each notification was accepted at most once: no duplicate sends without crashes.
    assert set(backend.accepted) == sent
    assert max(backend.accepted.values()) == 1
    # The deduplicating receiver applied each notification exactly once ...
    assert max(backend.applied.values()) == 1
    # ... and received every sent one (dead ones only if a timeout hid their success).
    assert sent <= set(backend.applied)
    assert max(backend.sends.values()) <= 10
    for delivery in dispatcher.store.deliveries(status="dead"):
        assert delivery.attempts == 10
    print(
        f"\n{produced} produced: {counts['sent']} delivered, {counts['dead']} dead-lettered; "
        f"{sum(backend.sends.values())} sends, max {max(backend.sends.values())} per notification"
    )


def test_a_batch_that_outlasts_its_lease_sends_nothing_late():
    clock = ManualClock(START)

    class Slow:
        """Each send takes four minutes of the dispatcher's clock."""

        name = "slow"
        channels = frozenset({"email"})

        def __init__(self):
            self.sent = []

        def send(self, notification):
            clock.advance(timedelta(minutes=4))
            self.sent.append(notification.id)
            return Receipt(notification.id, self.name)

        def close(self):
            pass

    desk = Desk(store=MemoryStore(), clock=clock, outbox=True, load_entry_points=False)
    for n in range(5):
        desk.open_ticket(subject=f"r{n}", requester=f"c{n}@example.com")
    slow = Slow()
    dispatcher = Dispatcher.for_desk(desk, [slow], lease=timedelta(minutes=10), batch=5)
    report = dispatcher.run_once()
    # Three sends fit in the lease (0, 4 and 8 minutes in); the other two are left.
    assert (report.sent, report.lost_claims) == (3, 2)
    assert dispatcher.store.delivery_counts() == {"pending": 2, "sent": 3, "dead": 0}
    dispatcher.drain()
    assert sorted(slow.sent) == sorted(d.notification.id for d in dispatcher.store.deliveries())
    assert len(slow.sent) == len(set(slow.sent)) == 5


def test_a_requeued_unrendered_notification_is_never_sent_empty():
    templates = Templates({("*", "en"): TextTemplate("[$ticket_id] $subject", "$comment")})
    templates.add("opened", _Exploding())
    desk, dispatcher, inbox, _ = desk_and_dispatcher(templates=templates)
    desk.open_ticket(subject="VPN", requester=ALICE)
    dispatcher.drain()
    (dead,) = dispatcher.dead_letters()
    assert dispatcher.requeue([dead.notification.id]) == 1
    dispatcher.drain()
    assert inbox.got == []
    (again,) = dispatcher.dead_letters()
    assert again.error.startswith("never rendered")
