"""A conformance kit for storage backends: does your :class:`~supportflow.store.Store` behave?

The kit is a set of abstract pytest test classes (mixins, in the style of
fsspec's abstract filesystem tests) that check the whole storage contract of
:class:`supportflow.store.Store`, plus a hypothesis state machine that drives
your store and the reference :class:`~supportflow.store.MemoryStore` with the
same random commits and insists they agree on everything observable. It needs
the ``testing`` extra (hypothesis and pytest).

Using it takes a few lines in one of your test modules: subclass
:class:`StoreContract`, override the ``store`` fixture (yield a fresh, empty
store; close it afterwards), and build the state machine's test case from a
factory:

.. code-block:: python

    import pytest

    from supportflow.testing.storage import StoreContract, store_machine_test
    from myplugin import MyStore


    class TestMyStore(StoreContract):
        capabilities = StoreContract.capabilities - {"concurrent_writers"}

        @pytest.fixture
        def store(self):
            store = MyStore(...)
            yield store
            store.close()


    TestMyStoreMachine = store_machine_test(lambda: MyStore(...))

``StoreContract`` is not collected by itself (its name does not start with
``Test``); your subclass is, and runs every test of the kit against your store.
To run only some areas, subclass the area classes instead
(:class:`TicketHistoryContract`, :class:`OptimisticConcurrencyContract`,
:class:`IdempotencyContract`, :class:`QueryContract`, :class:`SLAContract`,
:class:`TimerContract`, :class:`OutboxContract`, :class:`DeliveryQueueContract`,
:class:`ConcurrentWritersContract`, :class:`DeskRoundTripContract`).

Capabilities
------------

:attr:`ContractBase.capabilities` names the optional features the backend
supports; a test that needs a missing one is skipped, with the reason. The
default is :data:`ALL_CAPABILITIES`:

``"sla"``
    stores the :class:`~supportflow.sla.SLAProjection` of a change
    (:meth:`Store.sla_projection <supportflow.store.Store.sla_projection>`).
``"timers"``
    stores timer sets, hands out due timers once
    (:meth:`~supportflow.store.Store.pending_timers`,
    :meth:`~supportflow.store.Store.claim_due_timers`).
``"outbox"``
    writes outbox rows with the commit and leases them
    (:meth:`~supportflow.store.Store.claim_outbox`,
    :meth:`~supportflow.store.Store.complete_outbox`).
``"outbox_backlog"``
    has an ``outbox_backlog() -> int`` method counting undelivered messages
    (not part of the :class:`~supportflow.store.Store` protocol, but offered by
    :class:`~supportflow.store.MemoryStore`).
``"concurrent_writers"``
    is safe with several threads writing (and reading) at once. The kit's
    concurrency tests use threads in one process; each thread works on a
    handle from the ``worker_store`` fixture, which by default is the
    ``store`` itself. Override ``worker_store`` to give each thread its own
    connection to the same data, the way separate processes would.
``"deliveries"``
    is a :class:`~supportflow.store.DeliveryQueue` as well: outbox rows expand
    into notifications that are leased, finished and dead-lettered one by one
    (needs ``"outbox"``).

Helpers
-------

Small functions build commits without a :class:`~supportflow.Desk`:
:func:`open_change` (a new ticket), the event builders :func:`comment_event`,
:func:`transition_event`, :func:`assign_event`, :func:`priority_event`,
:func:`field_event`, then :func:`append_change` (events continuing a ticket),
:func:`comment_change` (one or more comments), :func:`link_commit` (a two-ticket
commit, like a merge), :func:`make_timer` and :func:`project_sla` (a real SLA
projection and its timers, from a history). :data:`START`, :data:`AGENT` and
:data:`SAMPLE_POLICY` are the instant, actor and SLA policy they default to.

What the kit checks, and what it leaves open
--------------------------------------------

Time never passes by itself: leases and due timers are tested with explicit
``now`` instants, so nothing sleeps. The kit pins what the
:class:`~supportflow.store.Store` docstrings promise and what the desk relies
on: atomic commits, optimistic concurrency, idempotency keys, ``find`` in id
order with paging, timers handed out once ever, outbox leases with
compare-and-set completion. It leaves open what they do not say: which of
:class:`~supportflow.errors.ConcurrencyConflict` and
:class:`~supportflow.errors.IdempotencyConflict` wins when a commit earns both,
the order of timers due at the same instant, outbox id values (only their
order), and ``ConcurrencyConflict.actual``.
"""

from __future__ import annotations

import itertools
import threading
import time
import unittest
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, cast

import attrs
import pytest
from hypothesis import event as note_event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from supportflow._calendar import BusinessCalendar
from supportflow._desk import OUTBOX_KINDS, Desk
from supportflow._lifecycle import Lifecycle
from supportflow._model import EMPTY_FIELDS, Actor, Channel, Priority, Ticket, new_ticket_id
from supportflow._sla import SLAPolicy, SLAProjection, Target, Timer
from supportflow._time import ManualClock
from supportflow.errors import (
    ConcurrencyConflict,
    IdempotencyConflict,
    StaleTimer,
    ValidationError,
)
from supportflow.events import (
    Assigned,
    CommentAdded,
    Event,
    FieldChanged,
    Linked,
    Merged,
    PriorityChanged,
    TicketOpened,
    Transitioned,
    apply,
    replay,
)
from supportflow.lifecycles import standard
from supportflow.notify._model import Notification, Recipient
from supportflow.store import (
    Commit,
    IdempotencyRecord,
    MemoryStore,
    OutboxClaim,
    Store,
    TicketChange,
    TicketQuery,
    TimerClaim,
)

__all__ = [
    "AGENT",
    "ALL_CAPABILITIES",
    "CONCURRENT_WRITERS",
    "ConcurrentWritersContract",
    "ContractBase",
    "DELIVERIES",
    "DeliveryQueueContract",
    "DeskRoundTripContract",
    "IdempotencyContract",
    "OUTBOX",
    "OUTBOX_BACKLOG",
    "OptimisticConcurrencyContract",
    "OutboxContract",
    "QueryContract",
    "SAMPLE_POLICY",
    "SLA",
    "SLAContract",
    "START",
    "StoreContract",
    "StoreStateMachine",
    "TIMERS",
    "TicketHistoryContract",
    "TimerContract",
    "append_change",
    "assign_event",
    "comment_change",
    "comment_event",
    "field_event",
    "link_commit",
    "make_timer",
    "open_change",
    "priority_event",
    "sample_notification",
    "project_sla",
    "store_machine_test",
    "transition_event",
]

# -- capabilities ---------------------------------------------------------------------------

#: The store keeps SLA projections.
SLA = "sla"
#: The store keeps timer sets and claims due timers.
TIMERS = "timers"
#: The store writes and leases outbox messages.
OUTBOX = "outbox"
#: The store has ``outbox_backlog() -> int``.
OUTBOX_BACKLOG = "outbox_backlog"
#: The store is safe with several threads (or processes) writing at once.
CONCURRENT_WRITERS = "concurrent_writers"
#: The store is a :class:`~supportflow.store.DeliveryQueue` (needs ``outbox``).
DELIVERIES = "deliveries"
#: Every capability the kit knows; the default of :attr:`ContractBase.capabilities`.
ALL_CAPABILITIES: frozenset[str] = frozenset(
    {SLA, TIMERS, OUTBOX, OUTBOX_BACKLOG, CONCURRENT_WRITERS, DELIVERIES}
)

# -- building commits ---------------------------------------------------------------------------

#: The instant the kit's scenarios start at: Monday 2026-03-02 09:00 UTC.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: The staff member who acts in the kit's commits unless told otherwise.
AGENT = Actor.agent("ann")

_CALENDAR = BusinessCalendar.always("UTC")
_LIFECYCLE = standard()

#: An SLA policy with first-response and resolution targets for every
#: priority (calendar time, warnings at 50 % and 75 %), used by
#: :func:`project_sla` and the desk round trip.
SAMPLE_POLICY = SLAPolicy(
    "conformance",
    {
        priority: {
            "first_response": Target(timedelta(hours=hours), business=False),
            "resolution": Target(timedelta(hours=8 * hours), business=False),
        }
        for priority, hours in (
            (Priority.URGENT, 1),
            (Priority.HIGH, 4),
            (Priority.MEDIUM, 8),
            (Priority.LOW, 24),
        )
    },
    warn_at=(0.5, 0.75),
)


def _finish(
    before: Ticket | None,
    events: Sequence[Event],
    *,
    sla: SLAProjection | None,
    timers: Iterable[Timer] | None,
    announce: bool,
) -> TicketChange:
    ticket = before
    for event in events:
        ticket = apply(ticket, event)
    if ticket is None:
        raise ValueError("a new ticket's change needs at least its TicketOpened event")
    return TicketChange(
        ticket=ticket,
        expected_version=0 if before is None else before.version,
        events=tuple(events),
        sla=sla,
        timers=None if timers is None else tuple(timers),
        outbox=tuple(events) if announce else (),
    )


def open_change(
    at: datetime = START,
    *,
    ticket_id: str | None = None,
    subject: str = "Printer on fire",
    requester: str = "alice@example.com",
    priority: Priority = Priority.MEDIUM,
    state: str = "new",
    channel: Channel = Channel.WEB,
    assignee: str | None = None,
    group: str | None = None,
    category: str | None = None,
    tags: tuple[str, ...] = (),
    description: str = "",
    fields: Mapping[str, Any] | None = None,
    by: Actor | None = None,
    sla: SLAProjection | None = None,
    timers: Iterable[Timer] | None = None,
    announce: bool = False,
) -> TicketChange:
    """The change that creates a ticket: one :class:`~supportflow.events.TicketOpened`
    at version 1, ``expected_version`` 0.

    Args:
        at: when it opens.
        ticket_id: a fresh time-ordered id (as the desk makes them) if ``None``.
        subject: the ticket's subject; ``requester``, ``priority``, ``state``,
            ``channel``, ``assignee``, ``group``, ``category``, ``tags``,
            ``description`` and ``fields`` likewise give the ticket's values.
        by: who opens it; the requester as a customer by default.
        sla: the SLA projection to store with it (see :func:`project_sla`).
        timers: its complete set of pending timers.
        announce: also write the event to the outbox.
    """
    event = TicketOpened(
        ticket_id=new_ticket_id(at) if ticket_id is None else ticket_id,
        version=1,
        at=at,
        by=Actor.customer(requester) if by is None else by,
        subject=subject,
        requester=requester,
        channel=channel,
        priority=priority,
        state=state,
        description=description,
        category=category,
        tags=tags,
        assignee=assignee,
        group=group,
        fields=MappingProxyType(dict(fields)) if fields else EMPTY_FIELDS,
    )
    return _finish(None, (event,), sla=sla, timers=timers, announce=announce)


def comment_event(
    ticket: Ticket,
    at: datetime,
    *,
    body: str = "Looking into it.",
    by: Actor = AGENT,
    public: bool = True,
) -> CommentAdded:
    """A comment continuing ``ticket`` (version ``ticket.version + 1``)."""
    return CommentAdded(
        ticket_id=ticket.id, version=ticket.version + 1, at=at, by=by, body=body, public=public
    )


def transition_event(
    ticket: Ticket,
    dest: str,
    at: datetime,
    *,
    event: str = "move",
    by: Actor = AGENT,
    data: Mapping[str, Any] | None = None,
    cause: str | None = None,
) -> Transitioned:
    """A move of ``ticket`` from its state to ``dest`` (the store does not check
    lifecycles, so any state names do)."""
    return Transitioned(
        ticket_id=ticket.id,
        version=ticket.version + 1,
        at=at,
        by=by,
        event=event,
        source=ticket.state,
        dest=dest,
        data=MappingProxyType(dict(data)) if data else EMPTY_FIELDS,
        cause=cause,
    )


def assign_event(
    ticket: Ticket,
    assignee: str | None,
    at: datetime,
    *,
    group: str | None = None,
    by: Actor = AGENT,
) -> Assigned:
    """A change of ``ticket``'s assignee and group (``None`` unassigns)."""
    return Assigned(
        ticket_id=ticket.id,
        version=ticket.version + 1,
        at=at,
        by=by,
        assignee=assignee,
        group=group,
        previous_assignee=ticket.assignee,
        previous_group=ticket.group,
    )


def priority_event(
    ticket: Ticket,
    priority: Priority,
    at: datetime,
    *,
    by: Actor = AGENT,
    reason: str | None = None,
) -> PriorityChanged:
    """A change of ``ticket``'s priority."""
    return PriorityChanged(
        ticket_id=ticket.id,
        version=ticket.version + 1,
        at=at,
        by=by,
        priority=priority,
        previous=ticket.priority,
        reason=reason,
    )


def field_event(
    ticket: Ticket, name: str, value: Any, at: datetime, *, by: Actor = AGENT
) -> FieldChanged:
    """A change of a descriptive field (``subject``, ``tags``, ...) or a custom field."""
    previous = getattr(ticket, name) if name in FieldChanged.BUILTIN else ticket.fields.get(name)
    return FieldChanged(
        ticket_id=ticket.id,
        version=ticket.version + 1,
        at=at,
        by=by,
        field=name,
        value=value,
        previous=previous,
    )


def append_change(
    ticket: Ticket,
    *events: Event,
    sla: SLAProjection | None = None,
    timers: Iterable[Timer] | None = None,
    announce: bool = False,
) -> TicketChange:
    """The change that continues ``ticket`` with ``events``.

    The events must be numbered from ``ticket.version + 1``; build a chain
    with the event builders and :func:`~supportflow.events.apply`::

        first = comment_event(ticket, at)
        second = transition_event(apply(ticket, first), "resolved", at)
        change = append_change(ticket, first, second)

    ``expected_version`` is ``ticket.version``: pass an old snapshot to build
    a stale change. No events at all is allowed too (the desk stores a new SLA
    projection that way).
    """
    return _finish(ticket, events, sla=sla, timers=timers, announce=announce)


def comment_change(
    ticket: Ticket,
    at: datetime = START,
    *,
    count: int = 1,
    body: str = "Looking into it.",
    by: Actor = AGENT,
    public: bool = True,
    sla: SLAProjection | None = None,
    timers: Iterable[Timer] | None = None,
    announce: bool = False,
) -> TicketChange:
    """The change that adds ``count`` comments to ``ticket``."""
    events: list[Event] = []
    current = ticket
    for _ in range(count):
        event = comment_event(current, at, body=body, by=by, public=public)
        current = apply(current, event)
        events.append(event)
    return _finish(ticket, events, sla=sla, timers=timers, announce=announce)


def link_commit(
    first: Ticket,
    second: Ticket,
    at: datetime = START,
    *,
    relation: str = "related",
    inverse: str = "related",
    idempotency: IdempotencyRecord | None = None,
    announce: bool = False,
) -> Commit:
    """A two-ticket commit, the shape of a link or a merge: each ticket records
    a :class:`~supportflow.events.Linked` to the other. Stale snapshots make a
    stale commit."""

    def link(ticket: Ticket, other: Ticket, name: str) -> Linked:
        return Linked(
            ticket_id=ticket.id,
            version=ticket.version + 1,
            at=at,
            by=AGENT,
            other=other.id,
            relation=name,
        )

    return Commit(
        (
            append_change(first, link(first, second, relation), announce=announce),
            append_change(second, link(second, first, inverse), announce=announce),
        ),
        idempotency,
    )


def make_timer(
    ticket_id: str,
    at: datetime,
    *,
    metric: str = "first_response",
    cycle: int = 1,
    kind: str = "breach",
    threshold: float | None = None,
    target_version: int = 1,
    policy_set: int = 1,
) -> Timer:
    """A timer with a key in the desk's format
    (``ticket/metric/cycle/kind[@threshold]/g<policy_set>v<target_version>``)."""
    suffix = kind if threshold is None else f"{kind}@{threshold:g}"
    return Timer(
        key=f"{ticket_id}/{metric}/{cycle}/{suffix}/g{policy_set}v{target_version}",
        ticket_id=ticket_id,
        at=at,
        metric=metric,
        cycle=cycle,
        kind=kind,
        threshold=threshold,
        target_version=target_version,
        policy_set=policy_set,
    )


def project_sla(
    history: Iterable[Event],
    *,
    policies: Sequence[SLAPolicy] = (SAMPLE_POLICY,),
    lifecycle: Lifecycle | None = None,
    calendar: BusinessCalendar | None = None,
    policy_set: int = 1,
) -> tuple[SLAProjection, tuple[Timer, ...]]:
    """The SLA projection of a whole ``history`` and its timers, as a desk
    would compute them (standard lifecycle, 24×7 UTC calendar by default).

    The history's states must be states of ``lifecycle``.
    """
    calendar = _CALENDAR if calendar is None else calendar
    projection = SLAProjection.empty(policy_set).fold(
        history,
        lifecycle=_LIFECYCLE if lifecycle is None else lifecycle,
        policies=policies,
        calendar=calendar,
    )
    return projection, projection.timers(policies=policies, calendar=calendar)


# -- small internals ----------------------------------------------------------------------------


class _Backlogged(Protocol):
    def outbox_backlog(self) -> int: ...


def _backlog(store: Store) -> int:
    return cast(_Backlogged, store).outbox_backlog()


_HOUR = timedelta(hours=1)


def _take(store: Store, now: datetime, limit: int = 1000) -> list[Timer]:
    """Claim the timers due at ``now`` and record them as fired straight away
    (what a runner does with a timer whose only effect is a hook)."""
    claims = store.claim_due_timers(now, lease=timedelta(hours=1), limit=limit)
    done = store.complete_timers(claims, now)
    assert done == [claim.timer for claim in claims], "a fresh claim completes"
    return done


def _commit(store: Store, *changes: TicketChange, key: IdempotencyRecord | None = None) -> None:
    store.commit(Commit(tuple(changes), key))


def _open(store: Store, at: datetime = START, **values: Any) -> Ticket:
    change = open_change(at, **values)
    store.commit(Commit((change,)))
    return change.ticket


def _drain(
    store: Store, now: datetime, *, lease: timedelta = timedelta(minutes=5), limit: int = 1000
) -> list[OutboxClaim]:
    claims: list[OutboxClaim] = []
    while batch := store.claim_outbox(now, lease=lease, limit=limit):
        claims.extend(batch)
    return claims


def _assert_consistent(store: Store, ticket_id: str) -> None:
    history = tuple(store.history(ticket_id))
    ticket = store.load(ticket_id)
    assert ticket is not None, f"ticket {ticket_id} is missing"
    assert [e.version for e in history] == list(range(1, len(history) + 1)), (
        f"history of {ticket_id} is not numbered 1..n without gaps"
    )
    assert ticket.version == len(history), (
        f"ticket {ticket_id} is at version {ticket.version} but has {len(history)} events"
    )
    assert replay(history) == ticket, f"replaying {ticket_id}'s history gives another snapshot"


def _run_threads(count: int, work: Callable[[int], None], *, timeout: float = 60.0) -> None:
    """Run ``work(i)`` in ``count`` threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout)
            work(index)
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(i,), name=f"store-contract-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if failures:
        if stuck:
            failures[0].add_note(f"threads {stuck} were still running")
        raise failures[0]
    if stuck:
        pytest.fail(f"threads {stuck} did not finish within {timeout}s: a deadlock?")


# -- the contract ----------------------------------------------------------------------------------


class ContractBase:
    """What every contract class shares: the ``store`` fixture to override,
    the capability flags, and the ``worker_store`` fixture for thread tests."""

    #: The optional features the backend supports (see the module docs); tests
    #: needing a missing one are skipped.
    capabilities: ClassVar[frozenset[str]] = ALL_CAPABILITIES

    #: How many threads the concurrency tests start.
    threads: ClassVar[int] = 6
    #: How many read-modify-commit operations each of them makes.
    operations_per_thread: ClassVar[int] = 40

    @pytest.fixture
    def store(self) -> Store:
        """The store under test. Override it: yield a fresh, empty store and
        close it afterwards."""
        pytest.fail(
            f"{type(self).__name__} must override the `store` fixture: "
            "yield a fresh, empty store and close it afterwards"
        )

    @pytest.fixture
    def worker_store(self, store: Store) -> Callable[[], Store]:
        """Hands each worker thread of the concurrency tests a store handle on
        the same data as ``store``: ``store`` itself unless overridden (return
        a callable opening e.g. a new connection; the kit closes the handles
        that are not ``store``)."""
        return lambda: store

    def require(self, *needed: str) -> None:
        """Skip the running test unless the backend declares every capability in ``needed``."""
        missing = sorted(set(needed) - self.capabilities)
        if missing:
            names = " and ".join(repr(name) for name in missing)
            pytest.skip(
                f"needs the {names} capabilit{'y' if len(missing) == 1 else 'ies'}, which "
                f"{type(self).__name__}.capabilities does not declare"
            )


class TicketHistoryContract(ContractBase):
    """Tickets and their histories: what is committed loads back equal."""

    def test_capabilities_are_known(self) -> None:
        unknown = sorted(self.capabilities - ALL_CAPABILITIES)
        assert not unknown, f"unknown capabilities {unknown}; the kit knows {ALL_CAPABILITIES}"

    def test_store_implements_the_protocol(self, store: Store) -> None:
        assert isinstance(store, Store)

    def test_unknown_ticket_has_nothing(self, store: Store) -> None:
        assert store.load("no-such-ticket") is None
        assert list(store.history("no-such-ticket")) == []

    def test_new_ticket_loads_back_equal(self, store: Store) -> None:
        change = open_change(START)
        store.commit(Commit((change,)))
        assert store.load(change.ticket.id) == change.ticket
        assert tuple(store.history(change.ticket.id)) == change.events
        _assert_consistent(store, change.ticket.id)

    def test_appended_events_continue_the_history(self, store: Store) -> None:
        ticket = _open(store)
        events: list[Event] = list(store.history(ticket.id))
        for count in (1, 2, 3):
            change = comment_change(ticket, START + timedelta(minutes=count), count=count)
            store.commit(Commit((change,)))
            events.extend(change.events)
            ticket = change.ticket
            assert store.load(ticket.id) == ticket
            assert tuple(store.history(ticket.id)) == tuple(events)
            _assert_consistent(store, ticket.id)
        assert ticket.version == 7

    def test_a_new_ticket_may_start_with_several_events(self, store: Store) -> None:
        opening = open_change(START)
        first = opening.ticket
        comment = comment_event(first, START)
        change = TicketChange(
            ticket=apply(first, comment),
            expected_version=0,
            events=(*opening.events, comment),
        )
        store.commit(Commit((change,)))
        assert tuple(store.history(first.id)) == change.events
        _assert_consistent(store, first.id)

    def test_a_change_without_events_keeps_the_history(self, store: Store) -> None:
        ticket = _open(store)
        store.commit(Commit((append_change(ticket),)))
        assert store.load(ticket.id) == ticket
        assert len(store.history(ticket.id)) == 1

    def test_tickets_have_separate_histories(self, store: Store) -> None:
        first = _open(store, requester="alice@example.com")
        second = _open(store, requester="bob@example.com")
        _commit(store, comment_change(first, count=2))
        assert len(store.history(first.id)) == 3
        assert len(store.history(second.id)) == 1
        assert store.load(second.id) == second

    def test_every_event_kind_round_trips(self, store: Store) -> None:
        """Every event type, every field, unicode, microseconds, actors with
        tiers and groups, custom fields of several types, tuples kept tuples."""
        other = _open(store, requester="bob@example.com")
        at = START.replace(microsecond=123456)
        alice = Actor.customer("alice@example.com", name="Alice Ünal", organization="ACME")
        raj = Actor.agent("raj", name="Raj", tier="senior", groups=["network"], skills=["vpn"])
        opening = open_change(
            at,
            subject="VPN ☃ down — again",
            requester="alice@example.com",
            priority=Priority.HIGH,
            channel=Channel.EMAIL,
            assignee="ann",
            group="network",
            category="network",
            tags=("urgent", "vpn"),
            description="line one\nline two\ttabbed",
            fields={"region": "emea", "seats": 12, "ratio": 0.25, "vip": True},
            by=alice,
        )
        ticket = opening.ticket
        chain: list[Event] = []

        def add(event: Event) -> None:
            nonlocal ticket
            chain.append(event)
            ticket = apply(ticket, event)

        later = at + timedelta(seconds=1, microseconds=1)
        add(comment_event(ticket, later, body="internal ✓", by=raj, public=False))
        add(comment_event(ticket, later, body="Hi Alice", by=Actor.supervisor("sam")))
        add(
            transition_event(
                ticket,
                "acknowledged",
                later,
                event="acknowledge",
                data={"note": "seen"},
                cause="reaction:agent_reply",
            )
        )
        add(assign_event(ticket, "raj", later, group="hardware", by=Actor.system()))
        add(assign_event(ticket, None, later, group=None))
        add(priority_event(ticket, Priority.URGENT, later, reason="VIP customer"))
        add(field_event(ticket, "subject", "VPN fixed?", later))
        add(field_event(ticket, "tags", ("a", "b"), later))
        add(field_event(ticket, "category", None, later))
        add(field_event(ticket, "region", None, later))
        add(field_event(ticket, "seats", 13, later))
        add(field_event(ticket, "team", "blue", later))
        add(
            Linked(
                ticket_id=ticket.id,
                version=ticket.version + 1,
                at=later,
                by=AGENT,
                other=other.id,
                relation="related",
            )
        )
        add(
            Merged(
                ticket_id=ticket.id, version=ticket.version + 1, at=later, by=AGENT, into=other.id
            )
        )
        store.commit(Commit((opening,)))
        store.commit(Commit((append_change(opening.ticket, *chain),)))
        history = tuple(store.history(ticket.id))
        assert history == (*opening.events, *chain)
        for stored, original in zip(history, (*opening.events, *chain), strict=True):
            assert type(stored) is type(original)
            assert stored.at == original.at
        loaded = store.load(ticket.id)
        assert loaded == ticket
        assert loaded is not None
        assert isinstance(loaded.tags, tuple)
        assert dict(loaded.fields) == {"seats": 13, "ratio": 0.25, "vip": True, "team": "blue"}
        _assert_consistent(store, ticket.id)


class OptimisticConcurrencyContract(ContractBase):
    """``expected_version`` guards every change; a refused commit writes nothing."""

    def test_stale_expected_version_conflicts_and_writes_nothing(self, store: Store) -> None:
        ticket = _open(store)
        winner = comment_change(ticket, body="first")
        store.commit(Commit((winner,)))
        loser = comment_change(ticket, body="second")  # built from the same read
        with pytest.raises(ConcurrencyConflict) as caught:
            store.commit(Commit((loser,)))
        assert caught.value.ticket_id == ticket.id
        assert caught.value.expected == 1
        assert store.load(ticket.id) == winner.ticket
        assert tuple(store.history(ticket.id))[1:] == winner.events

    def test_expected_version_ahead_conflicts(self, store: Store) -> None:
        ticket = _open(store)
        ahead = apply(ticket, comment_event(ticket, START))
        with pytest.raises(ConcurrencyConflict):
            store.commit(Commit((comment_change(ahead),)))
        assert store.load(ticket.id) == ticket
        assert len(store.history(ticket.id)) == 1

    def test_appending_to_a_missing_ticket_conflicts(self, store: Store) -> None:
        phantom = open_change(START).ticket  # never committed
        with pytest.raises(ConcurrencyConflict):
            store.commit(Commit((comment_change(phantom),)))
        assert store.load(phantom.id) is None
        assert list(store.history(phantom.id)) == []

    def test_duplicate_new_ticket_id_conflicts(self, store: Store) -> None:
        first = open_change(START, subject="first")
        store.commit(Commit((first,)))
        again = open_change(START, ticket_id=first.ticket.id, subject="impostor")
        with pytest.raises(ConcurrencyConflict):
            store.commit(Commit((again,)))
        assert store.load(first.ticket.id) == first.ticket
        assert tuple(store.history(first.ticket.id)) == first.events

    def test_a_multi_ticket_commit_writes_both(self, store: Store) -> None:
        first = _open(store)
        second = _open(store)
        commit = link_commit(first, second)
        store.commit(commit)
        for change in commit.changes:
            assert store.load(change.ticket.id) == change.ticket
            _assert_consistent(store, change.ticket.id)

    def test_a_stale_second_change_writes_neither(self, store: Store) -> None:
        first = _open(store)
        second = _open(store)
        _commit(store, comment_change(second))  # second moves on; our read is stale
        with pytest.raises(ConcurrencyConflict) as caught:
            store.commit(link_commit(first, second))
        assert caught.value.ticket_id == second.id
        assert store.load(first.id) == first
        assert len(store.history(first.id)) == 1
        assert len(store.history(second.id)) == 2

    def test_a_stale_first_change_writes_neither(self, store: Store) -> None:
        first = _open(store)
        second = _open(store)
        _commit(store, comment_change(first))
        with pytest.raises(ConcurrencyConflict):
            store.commit(link_commit(first, second))
        assert len(store.history(first.id)) == 2
        assert store.load(second.id) == second
        assert len(store.history(second.id)) == 1

    def test_a_multi_ticket_commit_with_a_new_ticket_id_taken_writes_neither(
        self, store: Store
    ) -> None:
        existing = _open(store)
        other = _open(store)
        duplicate = open_change(START, ticket_id=existing.id)
        with pytest.raises(ConcurrencyConflict):
            _commit(store, comment_change(other), duplicate)
        assert store.load(other.id) == other
        assert store.load(existing.id) == existing

    def test_a_refused_commit_writes_no_sla_timers_or_outbox(self, store: Store) -> None:
        first = _open(store)
        second = _open(store)
        _commit(store, comment_change(second))
        sla, timers = project_sla(store.history(first.id))
        fresh = append_change(
            first, comment_event(first, START), sla=sla, timers=timers, announce=True
        )
        stale = comment_change(second, announce=True, timers=[make_timer(second.id, START)])
        with pytest.raises(ConcurrencyConflict):
            _commit(store, fresh, stale)
        if SLA in self.capabilities:
            assert store.sla_projection(first.id) is None
        if TIMERS in self.capabilities:
            assert store.pending_timers(first.id) == ()
            assert store.pending_timers(second.id) == ()
            assert _take(store, START + timedelta(days=30)) == []
        if OUTBOX in self.capabilities:
            assert store.claim_outbox(START, lease=timedelta(minutes=1), limit=10) == []
        if OUTBOX_BACKLOG in self.capabilities:
            assert _backlog(store) == 0


class IdempotencyContract(ContractBase):
    """Idempotency records are written with their commit, once per key."""

    def test_unknown_key_has_no_record(self, store: Store) -> None:
        assert store.idempotency("no-such-key") is None

    def test_record_is_stored_with_its_commit(self, store: Store) -> None:
        change = open_change(START)
        record = IdempotencyRecord("key-1", "open_ticket:abc", change.ticket.id, 1)
        store.commit(Commit((change,), record))
        assert store.idempotency("key-1") == record
        assert store.load(change.ticket.id) == change.ticket

    def test_the_same_key_again_conflicts_and_writes_nothing(self, store: Store) -> None:
        first = open_change(START)
        record = IdempotencyRecord("key-1", "fp-1", first.ticket.id, 1)
        store.commit(Commit((first,), record))
        second = open_change(START)
        with pytest.raises(IdempotencyConflict):
            store.commit(Commit((second,), IdempotencyRecord("key-1", "fp-2", second.ticket.id, 1)))
        assert store.load(second.ticket.id) is None
        assert store.idempotency("key-1") == record

    def test_the_same_key_on_an_existing_ticket_conflicts(self, store: Store) -> None:
        ticket = _open(store)
        _commit(store, comment_change(ticket), key=IdempotencyRecord("k", "fp", ticket.id, 2))
        current = store.load(ticket.id)
        assert current is not None
        with pytest.raises(IdempotencyConflict):
            _commit(store, comment_change(current), key=IdempotencyRecord("k", "fp", ticket.id, 3))
        assert len(store.history(ticket.id)) == 2

    def test_a_multi_ticket_commit_with_a_used_key_writes_neither(self, store: Store) -> None:
        first = _open(store)
        second = _open(store)
        _commit(store, comment_change(first), key=IdempotencyRecord("k", "fp", first.id, 2))
        current = store.load(first.id)
        assert current is not None
        with pytest.raises(IdempotencyConflict):
            store.commit(
                link_commit(
                    current, second, idempotency=IdempotencyRecord("k", "other", second.id, 2)
                )
            )
        assert len(store.history(first.id)) == 2
        assert len(store.history(second.id)) == 1

    def test_a_conflicting_commit_records_no_key(self, store: Store) -> None:
        ticket = _open(store)
        _commit(store, comment_change(ticket))
        with pytest.raises(ConcurrencyConflict):
            _commit(store, comment_change(ticket), key=IdempotencyRecord("k", "fp", ticket.id, 2))
        assert store.idempotency("k") is None

    def test_stale_and_used_key_together_write_nothing(self, store: Store) -> None:
        """Which of the two errors wins is not specified; nothing is written either way."""
        ticket = _open(store)
        _commit(store, comment_change(ticket), key=IdempotencyRecord("k", "fp", ticket.id, 2))
        with pytest.raises((ConcurrencyConflict, IdempotencyConflict)):
            _commit(store, comment_change(ticket), key=IdempotencyRecord("k", "x", ticket.id, 2))
        assert len(store.history(ticket.id)) == 2
        assert store.idempotency("k") == IdempotencyRecord("k", "fp", ticket.id, 2)

    def test_keys_are_independent(self, store: Store) -> None:
        records = []
        for n in range(3):
            change = open_change(START)
            record = IdempotencyRecord(f"key-{n}", f"fp-{n}", change.ticket.id, 1)
            store.commit(Commit((change,), record))
            records.append(record)
        assert [store.idempotency(r.key) for r in records] == records


_QUERY_SPECS: tuple[dict[str, Any], ...] = (
    dict(requester="alice@example.com", priority=Priority.URGENT, state="new"),
    dict(requester="bob@example.com", priority=Priority.HIGH, state="new", assignee="ann"),
    dict(
        requester="alice@example.com",
        priority=Priority.LOW,
        state="in_progress",
        assignee="raj",
        group="network",
    ),
    dict(
        requester="carol@example.com",
        priority=Priority.MEDIUM,
        state="resolved",
        assignee="ann",
        group="network",
    ),
    dict(
        requester="bob@example.com",
        priority=Priority.URGENT,
        state="in_progress",
        assignee="ann",
        group="billing",
    ),
    dict(requester="alice@example.com", priority=Priority.MEDIUM, state="closed", group="billing"),
    dict(
        requester="dave@example.com",
        priority=Priority.HIGH,
        state="waiting_on_customer",
        assignee="raj",
    ),
    dict(requester="carol@example.com", priority=Priority.LOW, state="new", group="network"),
    dict(
        requester="alice@example.com",
        priority=Priority.HIGH,
        state="resolved",
        assignee="raj",
        group="billing",
    ),
    dict(requester="erin@example.com", priority=Priority.MEDIUM, state="new"),
    dict(
        requester="bob@example.com",
        priority=Priority.MEDIUM,
        state="in_progress",
        assignee="ann",
        group="network",
    ),
)

_QUERIES: tuple[TicketQuery, ...] = (
    TicketQuery(),
    TicketQuery(states=frozenset({"new"})),
    TicketQuery(states=frozenset({"in_progress", "waiting_on_customer", "resolved"})),
    TicketQuery(states=frozenset({"no_such_state"})),
    TicketQuery(assignee="ann"),
    TicketQuery(assignee="raj"),
    TicketQuery(assignee="nobody"),
    TicketQuery(requester="alice@example.com"),
    TicketQuery(priority=Priority.URGENT),
    TicketQuery(priority=Priority.MEDIUM),
    TicketQuery(group="network"),
    TicketQuery(group="billing", priority=Priority.MEDIUM),
    TicketQuery(states=frozenset({"new", "in_progress"}), assignee="ann", group="network"),
    TicketQuery(requester="bob@example.com", states=frozenset({"in_progress"})),
)


def _matches(ticket: Ticket, query: TicketQuery) -> bool:
    """An independent reading of :class:`TicketQuery`: every given criterion holds."""
    checks = (
        query.states is None or ticket.state in query.states,
        query.assignee is None or ticket.assignee == query.assignee,
        query.requester is None or ticket.requester == query.requester,
        query.priority is None or ticket.priority == query.priority,
        query.group is None or ticket.group == query.group,
    )
    return all(checks)


class QueryContract(ContractBase):
    """``find``: every criterion must hold, results in id order, paging covers all once."""

    def _populate(self, store: Store) -> list[Ticket]:
        """Eleven tickets, some changed after opening; the snapshots in id order."""
        tickets = [
            _open(store, START + timedelta(minutes=n), **spec)
            for n, spec in enumerate(_QUERY_SPECS)
        ]
        at = START + timedelta(hours=1)
        changes = [
            append_change(tickets[0], assign_event(tickets[0], "raj", at, group="network")),
            append_change(tickets[1], transition_event(tickets[1], "in_progress", at)),
            append_change(tickets[9], priority_event(tickets[9], Priority.URGENT, at)),
            append_change(tickets[4], assign_event(tickets[4], None, at, group="billing")),
        ]
        for change in changes:
            store.commit(Commit((change,)))
        latest = {t.id: t for t in tickets} | {c.ticket.id: c.ticket for c in changes}
        return sorted(latest.values(), key=lambda t: t.id)

    def test_empty_store_finds_nothing(self, store: Store) -> None:
        assert store.find(TicketQuery()) == []

    def test_find_returns_the_latest_snapshots_in_id_order(self, store: Store) -> None:
        tickets = self._populate(store)
        assert store.find(TicketQuery()) == tickets

    def test_every_criterion_must_hold(self, store: Store) -> None:
        tickets = self._populate(store)
        for query in _QUERIES:
            expected = [t for t in tickets if _matches(t, query)]
            assert store.find(query) == expected, f"wrong result for {query}"

    def test_criteria_see_changes_after_opening(self, store: Store) -> None:
        tickets = self._populate(store)
        ids = [t.id for t in store.find(TicketQuery(assignee="raj"))]
        assert tickets[0].id in ids  # reassigned to raj after opening
        assert tickets[4].id not in [t.id for t in store.find(TicketQuery(assignee="ann"))]
        urgent = store.find(TicketQuery(priority=Priority.URGENT))
        assert any(t.requester == "erin@example.com" for t in urgent)

    def test_an_empty_state_set_finds_nothing(self, store: Store) -> None:
        self._populate(store)
        assert store.find(TicketQuery(states=frozenset())) == []

    def test_id_order_is_not_insertion_order(self, store: Store) -> None:
        ids = [new_ticket_id(START) for _ in range(4)]
        for ticket_id in (ids[2], ids[0], ids[3], ids[1]):
            _open(store, ticket_id=ticket_id)
        assert [t.id for t in store.find(TicketQuery())] == ids

    def test_paging_covers_every_ticket_exactly_once(self, store: Store) -> None:
        tickets = self._populate(store)
        for query in _QUERIES:
            expected = [t for t in tickets if _matches(t, query)]
            for limit in (1, 2, 3, 5, 50):
                seen: list[Ticket] = []
                after: str | None = None
                for _ in range(len(tickets) + 2):
                    page = store.find(attrs.evolve(query, after=after, limit=limit))
                    assert len(page) <= limit
                    if not page:
                        break
                    seen.extend(page)
                    after = page[-1].id
                assert seen == expected, f"paging {query} by {limit}"

    def test_limit_takes_the_first_in_id_order(self, store: Store) -> None:
        tickets = self._populate(store)
        assert store.find(TicketQuery(limit=3)) == tickets[:3]
        assert store.find(TicketQuery(limit=100)) == tickets

    def test_after_may_name_a_ticket_that_does_not_match(self, store: Store) -> None:
        tickets = self._populate(store)
        query = TicketQuery(requester="alice@example.com")
        pivot = next(t for t in tickets if not _matches(t, query))
        expected = [t for t in tickets if _matches(t, query) and t.id > pivot.id]
        assert store.find(attrs.evolve(query, after=pivot.id)) == expected

    def test_after_the_last_ticket_finds_nothing(self, store: Store) -> None:
        tickets = self._populate(store)
        assert store.find(TicketQuery(after=tickets[-1].id)) == []


class SLAContract(ContractBase):
    """The SLA projection stored with a change loads back equal."""

    def test_unknown_ticket_has_no_projection(self, store: Store) -> None:
        self.require(SLA)
        assert store.sla_projection("no-such-ticket") is None

    def test_projection_round_trips(self, store: Store) -> None:
        self.require(SLA)
        opening = open_change(START, priority=Priority.URGENT)
        sla, _ = project_sla(opening.events)
        store.commit(Commit((attrs.evolve(opening, sla=sla),)))
        assert store.sla_projection(opening.ticket.id) == sla

    def test_a_rich_projection_round_trips(self, store: Store) -> None:
        """Cycles met, paused, resumed, breached, with warnings: as a desk stores them."""
        self.require(SLA)
        ticket = _open(store, priority=Priority.URGENT)
        history: list[Event] = list(store.history(ticket.id))
        steps: list[Callable[[Ticket, datetime], Event]] = [
            lambda t, at: transition_event(t, "in_progress", at, event="start"),
            lambda t, at: transition_event(t, "waiting_on_customer", at),
            lambda t, at: comment_event(t, at, by=Actor.customer(t.requester)),
            lambda t, at: transition_event(t, "in_progress", at, event="resume"),
            lambda t, at: comment_event(t, at),
            lambda t, at: priority_event(t, Priority.LOW, at),
            lambda t, at: transition_event(t, "resolved", at, event="resolve"),
            lambda t, at: transition_event(t, "in_progress", at, event="reopen"),
        ]
        for n, step in enumerate(steps, start=1):
            event = step(ticket, START + timedelta(minutes=50 * n, microseconds=n))
            history.append(event)
            sla, _ = project_sla(history)
            change = append_change(ticket, event, sla=sla)
            store.commit(Commit((change,)))
            ticket = change.ticket
            assert store.sla_projection(ticket.id) == sla

    def test_no_projection_leaves_the_stored_one(self, store: Store) -> None:
        self.require(SLA)
        opening = open_change(START)
        sla, _ = project_sla(opening.events)
        store.commit(Commit((attrs.evolve(opening, sla=sla),)))
        _commit(store, comment_change(opening.ticket))
        assert store.sla_projection(opening.ticket.id) == sla

    def test_a_later_projection_replaces_the_stored_one(self, store: Store) -> None:
        self.require(SLA)
        opening = open_change(START)
        first, _ = project_sla(opening.events)
        store.commit(Commit((attrs.evolve(opening, sla=first),)))
        comment = comment_event(opening.ticket, START + timedelta(minutes=5))
        second, _ = project_sla((*opening.events, comment))
        _commit(store, append_change(opening.ticket, comment, sla=second))
        assert second != first
        assert store.sla_projection(opening.ticket.id) == second

    def test_projections_are_per_ticket(self, store: Store) -> None:
        self.require(SLA)
        first = open_change(START, priority=Priority.URGENT)
        second = open_change(START, priority=Priority.LOW)
        first_sla, _ = project_sla(first.events)
        second_sla, _ = project_sla(second.events)
        _commit(store, attrs.evolve(first, sla=first_sla), attrs.evolve(second, sla=second_sla))
        assert store.sla_projection(first.ticket.id) == first_sla
        assert store.sla_projection(second.ticket.id) == second_sla


class TimerContract(ContractBase):
    """Timer sets replace each other; due timers are claimed once, oldest first, ever."""

    def _with_timers(self, store: Store, *offsets: int, ticket: Ticket | None = None) -> Ticket:
        """A ticket (new unless given) whose timer set is one timer per minute offset."""
        if ticket is None:
            ticket = _open(store)
        timers = [
            make_timer(ticket.id, START + timedelta(minutes=m), metric=f"m{m}") for m in offsets
        ]
        _commit(store, append_change(ticket, timers=timers))
        return ticket

    def test_unknown_ticket_has_no_timers(self, store: Store) -> None:
        self.require(TIMERS)
        assert store.pending_timers("no-such-ticket") == ()

    def test_pending_timers_come_in_due_order(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        timers = [
            make_timer(ticket.id, START + timedelta(minutes=m), metric=f"m{m}")
            for m in (30, 5, 90, 1, 60)
        ]
        _commit(store, append_change(ticket, timers=timers))
        pending = store.pending_timers(ticket.id)
        assert isinstance(pending, tuple)
        assert list(pending) == sorted(timers, key=lambda t: t.at)

    def test_timers_round_trip_every_field(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store, priority=Priority.URGENT)
        _, timers = project_sla(store.history(ticket.id))
        assert timers, "the sample policy gives an urgent ticket timers"
        _commit(store, append_change(ticket, timers=timers))
        assert store.pending_timers(ticket.id) == timers
        assert _take(store, START + timedelta(days=30)) == list(timers)

    def test_a_new_timer_set_replaces_the_old(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = self._with_timers(store, 10, 20, 30)
        current = store.load(ticket.id)
        assert current is not None
        self._with_timers(store, 20, 40, ticket=current)
        assert [t.metric for t in store.pending_timers(ticket.id)] == ["m20", "m40"]

    def test_a_changed_instant_under_the_same_key_replaces_the_timer(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        early = make_timer(ticket.id, START + timedelta(minutes=10))
        _commit(store, append_change(ticket, timers=[early]))
        late = attrs.evolve(early, at=START + timedelta(hours=3))
        _commit(store, append_change(ticket, timers=[late]))
        assert store.pending_timers(ticket.id) == (late,)
        assert _take(store, START + timedelta(hours=1)) == []

    def test_no_timer_set_leaves_the_stored_one_and_an_empty_set_clears_it(
        self, store: Store
    ) -> None:
        self.require(TIMERS)
        ticket = self._with_timers(store, 10, 20)
        current = store.load(ticket.id)
        assert current is not None
        _commit(store, comment_change(current))
        assert len(store.pending_timers(ticket.id)) == 2
        current = store.load(ticket.id)
        assert current is not None
        _commit(store, append_change(current, timers=()))
        assert store.pending_timers(ticket.id) == ()
        assert _take(store, START + timedelta(days=1)) == []

    def test_timer_sets_are_per_ticket(self, store: Store) -> None:
        self.require(TIMERS)
        first = self._with_timers(store, 10)
        second = self._with_timers(store, 20)
        current = store.load(first.id)
        assert current is not None
        _commit(store, append_change(current, timers=()))
        assert store.pending_timers(first.id) == ()
        assert len(store.pending_timers(second.id)) == 1

    def test_claim_returns_only_due_timers_oldest_first(self, store: Store) -> None:
        self.require(TIMERS)
        first = self._with_timers(store, 30, 120, 5)
        second = self._with_timers(store, 60, 10, 240)
        due = _take(store, START + timedelta(minutes=60))
        assert [(t.ticket_id, t.metric) for t in due] == [
            (first.id, "m5"),
            (second.id, "m10"),
            (first.id, "m30"),
            (second.id, "m60"),
        ]
        assert [t.metric for t in store.pending_timers(first.id)] == ["m120"]
        assert [t.metric for t in store.pending_timers(second.id)] == ["m240"]

    def test_a_timer_is_due_at_its_instant(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = self._with_timers(store, 10)
        assert _take(store, START + timedelta(minutes=10, microseconds=-1)) == []
        assert [t.ticket_id for t in _take(store, START + timedelta(minutes=10))] == [ticket.id]

    def test_claim_respects_the_limit_oldest_first(self, store: Store) -> None:
        self.require(TIMERS)
        self._with_timers(store, 40, 10, 30, 20, 50)
        now = START + timedelta(hours=2)
        assert [t.metric for t in _take(store, now, 2)] == ["m10", "m20"]
        assert [t.metric for t in _take(store, now, 2)] == ["m30", "m40"]
        assert [t.metric for t in _take(store, now)] == ["m50"]
        assert _take(store, now) == []

    def test_each_key_is_claimed_once(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = self._with_timers(store, 10, 20)
        later = START + timedelta(days=1)
        assert len(_take(store, later)) == 2
        assert _take(store, later) == []
        assert _take(store, later + timedelta(days=100)) == []
        assert store.pending_timers(ticket.id) == ()

    def test_a_fired_key_is_never_stored_again(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        fired = make_timer(ticket.id, START + timedelta(minutes=10))
        other = make_timer(ticket.id, START + timedelta(minutes=20), kind="warning")
        _commit(store, append_change(ticket, timers=[fired]))
        assert _take(store, START + timedelta(minutes=15)) == [fired]
        # A later commit recomputes the set with the fired key in it (even moved later).
        moved = attrs.evolve(fired, at=START + timedelta(hours=5))
        _commit(store, append_change(ticket, timers=[moved, other]))
        assert store.pending_timers(ticket.id) == (other,)
        assert _take(store, START + timedelta(days=1)) == [other]
        _commit(store, append_change(ticket, timers=[moved, other]))
        assert store.pending_timers(ticket.id) == ()

    def test_nothing_due_claims_nothing(self, store: Store) -> None:
        self.require(TIMERS)
        self._with_timers(store, 10)
        assert _take(store, START) == []
        assert _take(store, START - timedelta(days=1), 5) == []

    # -- leases: a claimed timer is held, not taken ---------------------------------------------

    def test_a_claimed_timer_stays_pending_and_is_not_handed_out_again(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = self._with_timers(store, 10)
        now = START + timedelta(minutes=10)
        (claim,) = store.claim_due_timers(now, lease=timedelta(minutes=5), limit=10)
        assert isinstance(claim, TimerClaim)
        assert (claim.attempts, claim.lease_until) == (1, now + timedelta(minutes=5))
        assert store.pending_timers(ticket.id) == (claim.timer,)
        later = now + timedelta(minutes=5, microseconds=-1)
        assert store.claim_due_timers(later, lease=timedelta(minutes=5), limit=10) == []
        assert store.complete_timers([claim], later) == [claim.timer]
        assert store.pending_timers(ticket.id) == ()
        assert store.claim_due_timers(now + timedelta(days=1), lease=_HOUR, limit=10) == []

    def test_an_expired_lease_is_taken_over_with_a_new_token(self, store: Store) -> None:
        self.require(TIMERS)
        self._with_timers(store, 10)
        now = START + timedelta(minutes=10)
        lease = timedelta(minutes=5)
        (first,) = store.claim_due_timers(now, lease=lease, limit=10, worker="a")
        (second,) = store.claim_due_timers(now + lease, lease=lease, limit=10, worker="b")
        assert second.timer == first.timer
        assert second.token != first.token
        assert second.attempts == 2
        assert second.lease_until == now + 2 * lease
        # The late holder's completion is refused; the new holder's is taken.
        assert store.complete_timers([first], now + lease) == []
        assert store.complete_timers([second], now + lease) == [second.timer]
        assert store.complete_timers([second], now + lease) == []

    def test_an_expired_lease_nobody_took_over_still_completes(self, store: Store) -> None:
        self.require(TIMERS)
        self._with_timers(store, 10)
        now = START + timedelta(minutes=10)
        (claim,) = store.claim_due_timers(now, lease=timedelta(minutes=1), limit=1)
        assert store.complete_timers([claim], now + timedelta(hours=1)) == [claim.timer]

    def test_renewing_extends_only_the_leases_still_held(self, store: Store) -> None:
        self.require(TIMERS)
        self._with_timers(store, 10, 20)
        now = START + timedelta(minutes=20)
        lease = timedelta(minutes=5)
        kept, lost = store.claim_due_timers(now, lease=lease, limit=10)
        (taken,) = store.claim_due_timers(now + lease, lease=lease, limit=1)
        assert taken.timer == kept.timer  # oldest first: m10 was taken over
        kept, lost = lost, kept
        renewed = store.renew_timers([kept, lost], now + lease, lease=lease)
        assert [(c.timer, c.token) for c in renewed] == [(kept.timer, kept.token)]
        assert renewed[0].lease_until == now + 2 * lease
        # Renewed: nobody may take it before the new expiry.
        almost = now + 2 * lease - timedelta(microseconds=1)
        assert store.claim_due_timers(almost, lease=lease, limit=10) == []

    def test_claims_refuse_a_bad_lease_or_limit(self, store: Store) -> None:
        self.require(TIMERS)
        for lease in (timedelta(0), timedelta(seconds=-1)):
            with pytest.raises(ValidationError, match="lease"):
                store.claim_due_timers(START, lease=lease, limit=1)
        with pytest.raises(ValidationError, match="limit"):
            store.claim_due_timers(START, lease=_HOUR, limit=-1)

    def test_a_commit_keeps_the_lease_of_every_timer_it_keeps(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = self._with_timers(store, 10, 20)
        now = START + timedelta(minutes=30)
        held, _ = store.claim_due_timers(now, lease=_HOUR, limit=10)
        current = store.load(ticket.id)
        assert current is not None
        # Another command recomputes the set: m10 stays, m20 goes, m25 comes.
        self._with_timers(store, 10, 25, ticket=current)
        (fresh,) = store.claim_due_timers(now, lease=_HOUR, limit=10)
        assert fresh.timer.metric == "m25", "m10 is still held; m20 is gone"
        assert store.complete_timers([held], now) == [held.timer]

    def test_a_commit_that_fires_a_timer_records_it_in_the_same_transaction(
        self, store: Store
    ) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        step = make_timer(ticket.id, START + timedelta(minutes=10), kind="escalation")
        other = make_timer(ticket.id, START + timedelta(minutes=20), metric="m20")
        _commit(store, append_change(ticket, timers=[step, other]))
        now = START + timedelta(minutes=10)
        (claim,) = store.claim_due_timers(now, lease=_HOUR, limit=10)
        current = store.load(ticket.id)
        assert current is not None
        # The step's commit recomputes the ticket's timers, the fired one among them.
        fire = attrs.evolve(
            append_change(current, comment_event(current, now), timers=[step, other]),
            fired=(claim.timer,),
        )
        _commit(store, fire)
        assert store.pending_timers(ticket.id) == (other,)
        assert store.complete_timers([claim], now) == [], "it is done already"
        assert _take(store, now + timedelta(days=1)) == [other]

    def test_firing_a_timer_twice_is_refused_and_writes_nothing(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        step = make_timer(ticket.id, START + timedelta(minutes=10), kind="escalation")
        _commit(store, append_change(ticket, timers=[step]))
        current = store.load(ticket.id)
        assert current is not None
        now = START + timedelta(minutes=10)
        _commit(
            store, attrs.evolve(append_change(current, comment_event(current, now)), fired=(step,))
        )
        current = store.load(ticket.id)
        assert current is not None
        history = tuple(store.history(ticket.id))
        again = attrs.evolve(append_change(current, comment_event(current, now)), fired=(step,))
        with pytest.raises(StaleTimer) as refused:
            _commit(store, again)
        assert step.key in str(refused.value)
        assert store.load(ticket.id) == current
        assert tuple(store.history(ticket.id)) == history

    def test_firing_a_timer_that_was_moved_later_is_refused(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        step = make_timer(ticket.id, START + timedelta(minutes=10), kind="escalation")
        _commit(store, append_change(ticket, timers=[step]))
        (claim,) = store.claim_due_timers(START + timedelta(minutes=10), lease=_HOUR, limit=1)
        current = store.load(ticket.id)
        assert current is not None
        # A pause moved the deadline: same key, later instant.
        moved = attrs.evolve(step, at=START + timedelta(hours=2))
        _commit(store, append_change(current, timers=[moved]))
        current = store.load(ticket.id)
        assert current is not None
        late = attrs.evolve(append_change(current), fired=(claim.timer,))
        with pytest.raises(StaleTimer):
            _commit(store, late)
        assert store.complete_timers([claim], START + timedelta(minutes=10)) == []
        assert store.pending_timers(ticket.id) == (moved,)
        # Due again at its new instant, and only then.
        assert _take(store, START + timedelta(hours=2)) == [moved]

    def test_firing_a_cancelled_timer_is_refused(self, store: Store) -> None:
        self.require(TIMERS)
        ticket = _open(store)
        step = make_timer(ticket.id, START + timedelta(minutes=10), kind="escalation")
        _commit(store, append_change(ticket, timers=[step]))
        current = store.load(ticket.id)
        assert current is not None
        _commit(store, append_change(current, timers=()))
        current = store.load(ticket.id)
        assert current is not None
        with pytest.raises(StaleTimer):
            _commit(store, attrs.evolve(append_change(current), fired=(step,)))
        assert store.load(ticket.id) == current


class OutboxContract(ContractBase):
    """Outbox rows are written with their commit and leased to one claimant at a time."""

    lease: ClassVar[timedelta] = timedelta(seconds=30)

    def _announce(self, store: Store, count: int) -> list[Event]:
        """``count`` tickets opened with their event announced; the events, in commit order."""
        events: list[Event] = []
        for n in range(count):
            change = open_change(START + timedelta(seconds=n), announce=True)
            store.commit(Commit((change,)))
            events.extend(change.outbox)
        return events

    def test_nothing_announced_nothing_to_claim(self, store: Store) -> None:
        self.require(OUTBOX)
        _open(store)
        assert store.claim_outbox(START, lease=self.lease, limit=10) == []

    def test_rows_come_in_commit_order_with_increasing_ids(self, store: Store) -> None:
        self.require(OUTBOX)
        first = open_change(START, announce=True)
        second = open_change(START, announce=True)
        store.commit(Commit((first,)))
        store.commit(Commit((second,)))
        more = comment_change(first.ticket, count=2, announce=True)
        store.commit(Commit((more,)))
        quiet = comment_change(second.ticket)  # not announced
        store.commit(Commit((quiet,)))
        linked = link_commit(more.ticket, quiet.ticket, announce=True)
        store.commit(linked)
        expected = [
            *first.events,
            *second.events,
            *more.events,
            *linked.changes[0].events,
            *linked.changes[1].events,
        ]
        claims = store.claim_outbox(START, lease=self.lease, limit=100)
        assert [c.message.event for c in claims] == expected
        ids = [c.message.id for c in claims]
        assert ids == sorted(set(ids)), "ids increase in commit order"
        for claim in claims:
            assert claim.message.ticket_id == claim.message.event.ticket_id
            assert claim.attempts == 1
            assert claim.lease_until == START + self.lease
            assert isinstance(claim.token, str)
            assert claim.token
        assert len({c.token for c in claims}) == len(claims)

    def test_outbox_may_hold_a_subset_of_the_events(self, store: Store) -> None:
        self.require(OUTBOX)
        ticket = _open(store)
        change = comment_change(ticket, count=3)
        change = attrs.evolve(change, outbox=(change.events[1],))
        store.commit(Commit((change,)))
        claims = store.claim_outbox(START, lease=self.lease, limit=10)
        assert [c.message.event for c in claims] == [change.events[1]]

    def test_a_refused_commit_writes_no_rows(self, store: Store) -> None:
        self.require(OUTBOX)
        ticket = _open(store)
        _commit(store, comment_change(ticket))
        with pytest.raises(ConcurrencyConflict):
            _commit(store, comment_change(ticket, announce=True))
        first = open_change(START, announce=True)
        _commit(store, first, key=IdempotencyRecord("k", "fp", first.ticket.id, 1))
        second = open_change(START, announce=True)
        with pytest.raises(IdempotencyConflict):
            _commit(store, second, key=IdempotencyRecord("k", "fp", second.ticket.id, 1))
        claims = store.claim_outbox(START, lease=self.lease, limit=10)
        assert [c.message.event for c in claims] == list(first.events)

    def test_claim_respects_the_limit_oldest_first(self, store: Store) -> None:
        self.require(OUTBOX)
        events = self._announce(store, 5)
        first = store.claim_outbox(START, lease=self.lease, limit=2, worker="a")
        second = store.claim_outbox(START, lease=self.lease, limit=2, worker="b")
        third = store.claim_outbox(START, lease=self.lease, limit=2, worker="c")
        assert [c.message.event for c in (*first, *second, *third)] == events
        assert [len(first), len(second), len(third)] == [2, 2, 1]

    def test_a_second_claimant_gets_nothing_while_the_lease_runs(self, store: Store) -> None:
        self.require(OUTBOX)
        self._announce(store, 3)
        held = store.claim_outbox(START, lease=self.lease, limit=10, worker="a")
        assert len(held) == 3
        for seconds in (0, 1, 29):
            later = START + timedelta(seconds=seconds)
            assert store.claim_outbox(later, lease=self.lease, limit=10, worker="b") == []

    def test_an_expired_lease_is_claimed_again_with_a_new_token(self, store: Store) -> None:
        self.require(OUTBOX)
        self._announce(store, 2)
        (first, _) = store.claim_outbox(START, lease=self.lease, limit=10, worker="a")
        later = START + self.lease + timedelta(seconds=1)
        again = store.claim_outbox(later, lease=timedelta(minutes=2), limit=10, worker="b")
        assert [c.message for c in again][:1] == [first.message]
        retaken = again[0]
        assert retaken.token != first.token
        assert retaken.attempts == first.attempts + 1 == 2
        assert retaken.lease_until == later + timedelta(minutes=2)
        third = later + timedelta(minutes=2, seconds=1)
        once_more = store.claim_outbox(third, lease=self.lease, limit=1, worker="c")
        assert [c.attempts for c in once_more] == [3]
        assert once_more[0].token not in (first.token, retaken.token)

    def test_a_leased_message_is_skipped_for_later_free_ones(self, store: Store) -> None:
        self.require(OUTBOX)
        events = self._announce(store, 3)
        held = store.claim_outbox(START, lease=self.lease, limit=1)
        rest = store.claim_outbox(START, lease=self.lease, limit=10)
        assert [c.message.event for c in held] == events[:1]
        assert [c.message.event for c in rest] == events[1:]

    def test_completion_is_a_compare_and_set_on_the_token(self, store: Store) -> None:
        self.require(OUTBOX)
        self._announce(store, 1)
        (late,) = store.claim_outbox(START, lease=self.lease, limit=1, worker="slow")
        later = START + self.lease + timedelta(seconds=1)
        (current,) = store.claim_outbox(later, lease=self.lease, limit=1, worker="fast")
        assert store.complete_outbox(late, later) is False
        assert store.complete_outbox(current, later) is True
        assert store.complete_outbox(current, later) is False  # already delivered
        assert store.complete_outbox(late, later) is False

    def test_a_late_holder_may_complete_while_nobody_else_claimed(self, store: Store) -> None:
        """The protocol compares tokens, not clocks: an expired claim that no one
        has replaced is still the current one."""
        self.require(OUTBOX)
        self._announce(store, 1)
        (claim,) = store.claim_outbox(START, lease=self.lease, limit=1)
        assert store.complete_outbox(claim, START + timedelta(hours=1)) is True

    def test_completed_messages_are_never_claimed_again(self, store: Store) -> None:
        self.require(OUTBOX)
        events = self._announce(store, 3)
        claims = store.claim_outbox(START, lease=self.lease, limit=2)
        assert all(store.complete_outbox(c, START) for c in claims)
        far = START + timedelta(days=365)
        remaining = store.claim_outbox(far, lease=self.lease, limit=10)
        assert [c.message.event for c in remaining] == events[2:]
        assert store.complete_outbox(remaining[0], far)
        assert store.claim_outbox(far + timedelta(days=1), lease=self.lease, limit=10) == []

    def test_a_forged_token_is_refused(self, store: Store) -> None:
        self.require(OUTBOX)
        self._announce(store, 1)
        (claim,) = store.claim_outbox(START, lease=self.lease, limit=1)
        forged = attrs.evolve(claim, token=claim.token + "x")
        assert store.complete_outbox(forged, START) is False
        assert store.complete_outbox(claim, START) is True

    def test_backlog_counts_undelivered_messages(self, store: Store) -> None:
        self.require(OUTBOX, OUTBOX_BACKLOG)
        assert _backlog(store) == 0
        self._announce(store, 4)
        assert _backlog(store) == 4
        claims = store.claim_outbox(START, lease=self.lease, limit=3)
        assert _backlog(store) == 4, "claimed is not delivered"
        store.complete_outbox(claims[0], START)
        store.complete_outbox(claims[1], START)
        assert _backlog(store) == 2
        later = START + timedelta(hours=1)
        for claim in store.claim_outbox(later, lease=self.lease, limit=10):
            store.complete_outbox(claim, later)
        assert _backlog(store) == 0


def sample_notification(event: Event, recipient: str = "alice@example.com") -> Notification:
    """A notification of ``event`` to ``recipient`` by e-mail, id'd by both."""
    return Notification(
        id=f"{event.ticket_id}-{event.version}-{recipient}",
        ticket_id=event.ticket_id,
        event_kind=event.kind,
        event_version=event.version,
        at=event.at,
        recipient=Recipient(recipient, "email", "requester", language="en"),
        subject=f"[{event.ticket_id}] {event.kind}",
        text="Hello — ünïcode survives.",
        thread=event.ticket_id,
        data={"kind": event.kind, "tags": ["a", "b"], "count": 2, "none": None},
    )


class DeliveryQueueContract(ContractBase):
    """Outbox rows expand into notifications that are leased, finished and
    dead-lettered one by one (the :class:`~supportflow.store.DeliveryQueue`)."""

    lease: ClassVar[timedelta] = timedelta(seconds=30)

    def _expand_one(
        self, store: Any, recipients: Sequence[str] = ("alice@example.com",)
    ) -> list[Notification]:
        change = open_change(START, announce=True)
        store.commit(Commit((change,)))
        (claim,) = store.claim_outbox(START, lease=self.lease, limit=10)
        notifications = [sample_notification(claim.message.event, r) for r in recipients]
        assert store.expand_outbox(claim, START, notifications) is True
        return notifications

    def test_expanding_completes_the_outbox_row_and_queues_each_notification(
        self, store: Any
    ) -> None:
        self.require(OUTBOX, DELIVERIES)
        queued = self._expand_one(store, ("alice@example.com", "ann@example.com"))
        assert store.claim_outbox(START + timedelta(hours=1), lease=self.lease, limit=10) == []
        assert store.delivery_counts() == {"pending": 2, "sent": 0, "dead": 0}
        listed = store.deliveries()
        assert [d.notification for d in listed] == sorted(queued, key=lambda n: n.id)
        assert {(d.status, d.attempts, d.next_at) for d in listed} == {("pending", 0, START)}

    def test_a_stale_outbox_claim_expands_nothing(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        store.commit(Commit((open_change(START, announce=True),)))
        (stale,) = store.claim_outbox(START, lease=self.lease, limit=10)
        later = START + 2 * self.lease
        (current,) = store.claim_outbox(later, lease=self.lease, limit=10)
        event = stale.message.event
        assert store.expand_outbox(stale, later, [sample_notification(event)]) is False
        assert store.delivery_counts() == {"pending": 0, "sent": 0, "dead": 0}
        assert store.expand_outbox(current, later, [sample_notification(event)]) is True
        assert store.expand_outbox(current, later, [sample_notification(event)]) is False

    def test_failed_notifications_are_stored_as_dead_letters(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        store.commit(Commit((open_change(START, announce=True),)))
        (claim,) = store.claim_outbox(START, lease=self.lease, limit=10)
        good = sample_notification(claim.message.event, "a@example.com")
        bad = sample_notification(claim.message.event, "b@example.com")
        assert store.expand_outbox(claim, START, [good], [(bad, "template: no such name")])
        (dead,) = store.deliveries(status="dead")
        assert (dead.notification, dead.error, dead.finished_at) == (
            bad,
            "template: no such name",
            START,
        )
        assert [
            c.notification for c in store.claim_deliveries(START, lease=self.lease, limit=9)
        ] == [good]

    def test_an_id_listed_twice_is_refused(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        store.commit(Commit((open_change(START, announce=True),)))
        (claim,) = store.claim_outbox(START, lease=self.lease, limit=10)
        twice = sample_notification(claim.message.event)
        with pytest.raises(ValidationError, match="twice"):
            store.expand_outbox(claim, START, [twice, twice])
        assert store.outbox_backlog() == 1 if OUTBOX_BACKLOG in self.capabilities else True

    def test_claims_lease_each_notification_to_one_claimant(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        queued = self._expand_one(store, [f"r{n}@example.com" for n in range(5)])
        first = store.claim_deliveries(START, lease=self.lease, limit=3, worker="w1")
        second = store.claim_deliveries(START, lease=self.lease, limit=3, worker="w2")
        assert len(first) == 3
        assert len(second) == 2
        got = [c.notification for c in first + second]
        assert sorted(got, key=lambda n: n.id) == sorted(queued, key=lambda n: n.id)
        assert {c.attempts for c in first + second} == {1}
        assert store.claim_deliveries(START, lease=self.lease, limit=9) == []
        # An expired lease hands the notification out again, one attempt later.
        again = store.claim_deliveries(START + self.lease, lease=self.lease, limit=9)
        assert {c.attempts for c in again} == {2}
        assert len(again) == 5

    def test_not_due_before_its_time(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        self._expand_one(store)
        assert (
            store.claim_deliveries(START - timedelta(microseconds=1), lease=self.lease, limit=9)
            == []
        )

    def test_finishing_is_a_compare_and_set_on_the_claim(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        self._expand_one(store)
        (late,) = store.claim_deliveries(START, lease=self.lease, limit=1)
        later = START + self.lease
        (current,) = store.claim_deliveries(later, lease=self.lease, limit=1)
        assert store.finish_delivery(late, later, "sent") is False
        assert store.finish_delivery(current, later, "sent", detail="250 OK") is True
        assert store.finish_delivery(current, later, "sent") is False
        (sent,) = store.deliveries(status="sent")
        assert (sent.attempts, sent.detail, sent.finished_at, sent.next_at) == (
            2,
            "250 OK",
            later,
            None,
        )
        assert store.claim_deliveries(later + self.lease, lease=self.lease, limit=9) == []

    def test_a_retry_waits_for_its_time_and_keeps_the_error(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        self._expand_one(store)
        (claim,) = store.claim_deliveries(START, lease=self.lease, limit=1)
        retry_at = START + timedelta(minutes=2)
        assert store.finish_delivery(claim, START, "retry", retry_at=retry_at, error="HTTP 503")
        assert (
            store.claim_deliveries(retry_at - timedelta(seconds=1), lease=self.lease, limit=1) == []
        )
        (pending,) = store.deliveries(status="pending")
        assert (pending.next_at, pending.error, pending.attempts) == (retry_at, "HTTP 503", 1)
        (again,) = store.claim_deliveries(retry_at, lease=self.lease, limit=1)
        assert again.attempts == 2

    def test_dead_letters_are_listed_and_can_be_requeued(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        queued = self._expand_one(store, ["a@example.com", "b@example.com", "c@example.com"])
        for claim in store.claim_deliveries(START, lease=self.lease, limit=9):
            store.finish_delivery(claim, START, "dead", error="550 no such user")
        assert store.delivery_counts() == {"pending": 0, "sent": 0, "dead": 3}
        page = store.deliveries(status="dead", limit=2)
        rest = store.deliveries(status="dead", after=page[-1].notification.id)
        assert [d.notification.id for d in page + rest] == sorted(n.id for n in queued)
        assert {d.error for d in page + rest} == {"550 no such user"}
        later = START + timedelta(hours=1)
        assert store.requeue_deliveries([queued[0].id, queued[0].id, "no-such-id"], later) == 1
        assert store.requeue_deliveries([queued[0].id], later) == 0  # pending now, not dead
        (claim,) = store.claim_deliveries(later, lease=self.lease, limit=9)
        assert (claim.notification, claim.attempts) == (queued[0], 1)

    def test_bad_arguments_are_refused(self, store: Any) -> None:
        self.require(OUTBOX, DELIVERIES)
        self._expand_one(store)
        with pytest.raises(ValidationError, match="status"):
            store.deliveries(status="lost")
        (claim,) = store.claim_deliveries(START, lease=self.lease, limit=1)
        with pytest.raises(ValidationError, match="retry_at"):
            store.finish_delivery(claim, START, "retry")
        with pytest.raises(ValidationError, match="outcome"):
            store.finish_delivery(claim, START, "maybe")
        with pytest.raises(ValidationError, match="lease"):
            store.claim_deliveries(START, lease=timedelta(0), limit=1)
        assert store.delivery_counts()["pending"] == 1


class ConcurrentWritersContract(ContractBase):
    """Several threads writing at once: nothing lost, nothing doubled.

    Needs the ``concurrent_writers`` capability. Each thread works on a handle
    from the ``worker_store`` fixture (``store`` itself by default).
    """

    def _handles(self, worker_store: Callable[[], Store], count: int) -> list[Store]:
        return [worker_store() for _ in range(count)]

    def _close(self, handles: Iterable[Store], store: Store) -> None:
        for handle in handles:
            if handle is not store:
                handle.close()

    def test_read_modify_commit_with_retries_loses_nothing(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        """Threads comment on a few shared tickets (sometimes two at once, like a
        link), retrying on ConcurrencyConflict: every success is in the
        histories exactly once, versions stay contiguous."""
        self.require(CONCURRENT_WRITERS)
        announce = OUTBOX in self.capabilities
        shared = [_open(store, announce=announce).id for _ in range(3)]
        handles = self._handles(worker_store, self.threads)
        done: list[list[tuple[str, str]]] = [[] for _ in handles]
        conflicts = Counter[int]()

        def work(index: int) -> None:
            handle = handles[index]
            for n in range(self.operations_per_thread):
                body = f"thread {index} op {n}"
                first = shared[(index + n) % len(shared)]
                second = shared[(index + n + 1) % len(shared)]
                pair = n % 5 == 4
                for _attempt in range(10_000):
                    a = handle.load(first)
                    assert a is not None
                    changes = [comment_change(a, body=body, announce=announce)]
                    if pair:
                        b = handle.load(second)
                        assert b is not None
                        changes.append(comment_change(b, body=body, announce=announce))
                    try:
                        handle.commit(Commit(tuple(changes)))
                    except ConcurrencyConflict:
                        conflicts[index] += 1
                        continue
                    break
                else:
                    raise AssertionError(f"{body} never got through")
                done[index].append((first, body))
                if pair:
                    done[index].append((second, body))

        try:
            _run_threads(len(handles), work)
        finally:
            self._close(handles, store)
        expected = Counter(item for items in done for item in items)
        found: Counter[tuple[str, str]] = Counter()
        for ticket_id in shared:
            _assert_consistent(store, ticket_id)
            for event in store.history(ticket_id)[1:]:
                assert isinstance(event, CommentAdded)
                found[(ticket_id, event.body)] += 1
        assert found == expected, "every successful commit appears exactly once"
        total = sum(len(items) for items in done)
        assert sum(len(store.history(t)) - 1 for t in shared) == total
        if announce:
            claims = _drain(store, START)
            ids = [c.message.id for c in claims]
            assert ids == sorted(set(ids))
            assert len(claims) == total + len(shared)
            for ticket_id in shared:
                mine = [c.message.event for c in claims if c.message.ticket_id == ticket_id]
                assert mine == list(store.history(ticket_id)), "outbox follows commit order"

    def test_new_tickets_from_many_threads_are_all_kept(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        self.require(CONCURRENT_WRITERS)
        handles = self._handles(worker_store, self.threads)
        opened: list[list[str]] = [[] for _ in handles]

        def work(index: int) -> None:
            for _ in range(self.operations_per_thread):
                opened[index].append(_open(handles[index], requester=f"t{index}@example.com").id)

        try:
            _run_threads(len(handles), work)
        finally:
            self._close(handles, store)
        everything = sorted(i for ids in opened for i in ids)
        assert [t.id for t in store.find(TicketQuery())] == everything
        for index in range(len(handles)):
            mine = store.find(TicketQuery(requester=f"t{index}@example.com"))
            assert [t.id for t in mine] == sorted(opened[index])

    def test_concurrent_duplicate_ids_and_keys_admit_one_winner(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        self.require(CONCURRENT_WRITERS)
        handles = self._handles(worker_store, self.threads)
        rounds = 10
        ids = [new_ticket_id(START) for _ in range(rounds)]
        wins: list[list[int]] = [[] for _ in handles]

        def work(index: int) -> None:
            for n, ticket_id in enumerate(ids):
                change = open_change(START, ticket_id=ticket_id, subject=f"by {index}")
                record = IdempotencyRecord(f"key-{n}", f"fp-{index}", ticket_id, 1)
                try:
                    handles[index].commit(Commit((change,), record))
                except (ConcurrencyConflict, IdempotencyConflict):
                    continue
                wins[index].append(n)

        try:
            _run_threads(len(handles), work)
        finally:
            self._close(handles, store)
        winners = Counter(n for won in wins for n in won)
        assert winners == Counter(range(rounds)), "each id and key has exactly one winner"
        for n, ticket_id in enumerate(ids):
            (winner,) = [i for i, won in enumerate(wins) if n in won]
            loaded = store.load(ticket_id)
            assert loaded is not None
            assert loaded.subject == f"by {winner}"
            record = store.idempotency(f"key-{n}")
            assert record is not None
            assert record.fingerprint == f"fp-{winner}"

    def test_concurrent_outbox_claims_never_overlap(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        self.require(CONCURRENT_WRITERS, OUTBOX)
        ticket = _open(store)
        total = 150
        for n in range(0, total, 10):
            change = comment_change(ticket, count=10, body=f"batch {n}", announce=True)
            store.commit(Commit((change,)))
            ticket = change.ticket
        handles = self._handles(worker_store, self.threads)
        got: list[list[OutboxClaim]] = [[] for _ in handles]
        lease = timedelta(hours=1)

        def claim(index: int) -> None:
            while batch := handles[index].claim_outbox(
                START, lease=lease, limit=3, worker=f"w{index}"
            ):
                got[index].extend(batch)

        completed: list[list[bool]] = [[] for _ in handles]

        def complete(index: int) -> None:
            for held in got[index]:
                completed[index].append(handles[index].complete_outbox(held, START))

        try:
            _run_threads(len(handles), claim)
            _run_threads(len(handles), complete)
        finally:
            self._close(handles, store)
        ids = [c.message.id for claims in got for c in claims]
        assert len(ids) == len(set(ids)), "no message was handed to two claimants"
        assert len(ids) == total, "together they received every message"
        assert all(ok for results in completed for ok in results)
        assert store.claim_outbox(START + timedelta(days=1), lease=lease, limit=10) == []

    def test_concurrent_timer_claims_hand_out_each_key_once(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        self.require(CONCURRENT_WRITERS, TIMERS)
        keys: set[str] = set()
        for _ in range(30):
            ticket = _open(store)
            timers = [
                make_timer(ticket.id, START + timedelta(minutes=m), metric=f"m{m}")
                for m in range(1, 6)
            ]
            keys.update(t.key for t in timers)
            _commit(store, append_change(ticket, timers=timers))
        handles = self._handles(worker_store, self.threads)
        got: list[list[TimerClaim]] = [[] for _ in handles]
        completed: list[list[Timer]] = [[] for _ in handles]
        now = START + timedelta(hours=1)

        def claim(index: int) -> None:
            store = handles[index]
            while batch := store.claim_due_timers(now, lease=_HOUR, limit=4, worker=str(index)):
                got[index].extend(batch)
                completed[index].extend(store.complete_timers(batch, now))

        try:
            _run_threads(len(handles), claim)
        finally:
            self._close(handles, store)
        claimed = [c.timer.key for claims in got for c in claims]
        assert len(claimed) == len(set(claimed)), "no key was handed out twice"
        assert set(claimed) == keys, "together they received every due timer"
        assert sorted(t.key for done in completed for t in done) == sorted(claimed)
        assert _take(store, now + timedelta(days=1)) == []

    def test_commits_and_outbox_delivery_run_side_by_side(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        """Writers announce while couriers claim and complete: every message is
        delivered exactly once."""
        self.require(CONCURRENT_WRITERS, OUTBOX)
        writers = max(1, self.threads // 2)
        couriers = max(1, self.threads - writers)
        handles = self._handles(worker_store, writers + couriers)
        writing = threading.Event()
        writing.set()
        finished = Counter[int]()
        delivered: list[list[int]] = [[] for _ in handles]
        lock = threading.Lock()

        def work(index: int) -> None:
            handle = handles[index]
            if index < writers:
                try:
                    for _ in range(self.operations_per_thread):
                        _open(handle, announce=True)
                finally:
                    with lock:
                        finished[index] = 1
                        if len(finished) == writers:
                            writing.clear()
                return
            while True:
                still_writing = writing.is_set()
                batch = handle.claim_outbox(START, lease=timedelta(hours=1), limit=5)
                for held in batch:
                    assert handle.complete_outbox(held, START)
                    delivered[index].append(held.message.id)
                if not batch and not still_writing:
                    return

        try:
            _run_threads(len(handles), work)
        finally:
            self._close(handles, store)
        ids = [i for mine in delivered for i in mine]
        assert len(ids) == len(set(ids)), "a message was delivered twice"
        assert len(ids) == writers * self.operations_per_thread
        if OUTBOX_BACKLOG in self.capabilities:
            assert _backlog(store) == 0

    def test_reads_during_concurrent_writes_are_consistent(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        """Readers never see a torn history or an error while writers commit."""
        self.require(CONCURRENT_WRITERS)
        shared = [_open(store).id for _ in range(2)]
        handles = self._handles(worker_store, self.threads)
        writers = max(1, self.threads // 2)
        writing = threading.Event()
        writing.set()
        finished = Counter[int]()
        lock = threading.Lock()

        def work(index: int) -> None:
            handle = handles[index]
            if index < writers:
                try:
                    for n in range(self.operations_per_thread):
                        while True:
                            current = handle.load(shared[n % 2])
                            assert current is not None
                            try:
                                handle.commit(Commit((comment_change(current),)))
                            except ConcurrencyConflict:
                                continue
                            break
                        _open(handle)
                finally:
                    with lock:
                        finished[index] = 1
                        if len(finished) == writers:
                            writing.clear()
                return
            while writing.is_set():
                for ticket_id in shared:
                    history = list(handle.history(ticket_id))
                    assert [e.version for e in history] == list(range(1, len(history) + 1))
                    loaded = handle.load(ticket_id)
                    assert loaded is not None
                    assert loaded.version >= 1
                found = handle.find(TicketQuery())
                assert [t.id for t in found] == sorted(t.id for t in found)
                if TIMERS in self.capabilities:
                    handle.pending_timers(shared[0])
                if SLA in self.capabilities:
                    handle.sla_projection(shared[0])

        try:
            _run_threads(len(handles), work)
        finally:
            self._close(handles, store)
        for ticket_id in shared:
            _assert_consistent(store, ticket_id)

    def test_outbox_backlog_during_concurrent_commits(
        self, store: Store, worker_store: Callable[[], Store]
    ) -> None:
        """``outbox_backlog()`` may be called while other threads commit."""
        self.require(CONCURRENT_WRITERS, OUTBOX, OUTBOX_BACKLOG)
        handles = self._handles(worker_store, 2)
        writing = threading.Event()
        writing.set()
        seen: list[int] = []
        # A backlog that is large already (written in a few big commits) keeps
        # readers busy long enough for the commits below to overlap them.
        backlog = 1000
        for _ in range(0, backlog, 250):
            store.commit(Commit(tuple(open_change(START, announce=True) for _ in range(250))))
        commits = self.operations_per_thread * self.threads

        def work(index: int) -> None:
            handle = handles[index]
            if index == 0:
                try:
                    for _ in range(commits):
                        _open(handle, announce=True)
                finally:
                    writing.clear()
                return
            while writing.is_set():
                seen.append(_backlog(handle))

        try:
            _run_threads(2, work)
        finally:
            self._close(handles, store)
        assert seen == sorted(seen), "the backlog only grows while nothing is delivered"
        assert _backlog(store) == backlog + commits


class DeskRoundTripContract(ContractBase):
    """A real :class:`~supportflow.Desk` on the store: realistic commits of every command."""

    def test_a_desk_scenario_round_trips(self, store: Store) -> None:
        clock = ManualClock(START)
        with_sla = {SLA, TIMERS} <= self.capabilities
        outbox = OUTBOX in self.capabilities
        desk = Desk(
            store=store,
            clock=clock,
            load_entry_points=False,
            sla=[SAMPLE_POLICY] if with_sla else [],
            outbox=outbox,
        )
        ann, sam = Actor.agent("ann"), Actor.supervisor("sam")
        opening: dict[str, Any] = dict(
            subject="VPN down",
            requester="alice@example.com",
            priority="P1",
            tags=["vpn", "remote"],
            idempotency_key="open-vpn",
            region="emea",
        )
        vpn = desk.open_ticket(**opening)
        assert desk.open_ticket(**opening) == vpn, "an idempotent retry answers the same"
        clock.advance(timedelta(minutes=10))
        desk.reply(vpn.id, "On it.", by=ann)
        printer = desk.open_ticket(
            subject="Printer", requester="bob@example.com", priority="P3", channel="phone"
        )
        fax = desk.open_ticket(
            subject="Fax", requester="bob@example.com", impact="low", urgency="high"
        )
        clock.advance(timedelta(minutes=30))
        desk.assign(printer.id, "raj", group="hardware", by=sam)
        desk.set_priority(fax.id, "P2", by=ann)
        desk.update(fax.id, by=ann, subject="Fax machine", tags=["legacy"], floor=3)
        desk.comment(vpn.id, "internal note", by=ann)
        desk.reply(vpn.id, "Still down", by=Actor.customer("alice@example.com"))
        clock.advance(timedelta(hours=2))
        desk.transition(vpn.id, "resolve", by=ann, resolution="Restarted the concentrator")
        desk.link(printer.id, fax.id, by=ann, relation="blocks")
        desk.merge(fax.id, printer.id, by=ann)
        ids = [vpn.id, printer.id, fax.id]
        assert [t.id for t in store.find(TicketQuery())] == sorted(ids)
        for ticket_id in ids:
            _assert_consistent(store, ticket_id)
            assert store.load(ticket_id) == desk.get(ticket_id)
        record = store.idempotency("open-vpn")
        assert record is not None
        assert (record.ticket_id, record.version) == (vpn.id, 1)
        timers: dict[str, tuple[Timer, ...]] = {}
        if with_sla:
            for ticket_id in ids:
                expected, expected_timers = project_sla(store.history(ticket_id))
                assert store.sla_projection(ticket_id) == expected
                assert store.pending_timers(ticket_id) == expected_timers
                timers[ticket_id] = expected_timers
            late = START + timedelta(days=30)
            fired = desk.run_due(now=late)
            assert sorted(t.key for t in fired) == sorted(
                t.key for ts in timers.values() for t in ts
            )
            assert [t.at for t in fired] == sorted(t.at for t in fired)
            assert desk.run_due(now=late) == []
        if outbox:
            claims = _drain(store, clock.now())
            announced = [e for t in ids for e in store.history(t) if e.kind in OUTBOX_KINDS]
            assert sorted((c.message.ticket_id, c.message.event.version) for c in claims) == sorted(
                (e.ticket_id, e.version) for e in announced
            )
            by_id = {(e.ticket_id, e.version): e for e in announced}
            for claim in claims:
                assert (
                    claim.message.event
                    == by_id[(claim.message.ticket_id, claim.message.event.version)]
                )


class StoreContract(
    TicketHistoryContract,
    OptimisticConcurrencyContract,
    IdempotencyContract,
    QueryContract,
    SLAContract,
    TimerContract,
    OutboxContract,
    DeliveryQueueContract,
    ConcurrentWritersContract,
    DeskRoundTripContract,
):
    """The whole storage contract: subclass it as ``Test...`` and override the
    ``store`` fixture (yield a fresh, empty store; close it afterwards), as the
    module's example shows.

    Set :attr:`~ContractBase.capabilities` to what the backend supports, and
    :attr:`~ContractBase.threads` / :attr:`~ContractBase.operations_per_thread`
    to size the concurrency tests. Override ``worker_store`` if threads should
    not share one store object.
    """


# -- the state machine --------------------------------------------------------------------------

_REQUESTERS = ("alice@example.com", "bob@example.com", "carol@example.com")
_ASSIGNEES = (None, "ann", "raj")
_GROUPS = (None, "network", "billing")
_STATES = ("new", "acknowledged", "in_progress", "waiting_on_customer", "resolved", "closed")
_KEYS = ("key-a", "key-b", "key-c", "key-d")
_EVENT_KINDS = ("comment", "note", "transition", "assign", "priority", "field")
#: Offsets from the version a command read: mostly fresh, sometimes stale or ahead.
_DELTAS = st.sampled_from((0, 0, 0, 0, -1, 1))
_TIMER_SETS = st.one_of(
    st.none(),
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(-30, 300)),
        max_size=4,
        unique_by=lambda pair: pair[0],
    ),
)


def _imported_id(number: int) -> str:
    """An id from an "import": it sorts before every id made now."""
    return f"00000000-0000-7000-8000-{number:012x}"


def _fresh_token(handed_out: dict[Any, set[str]], key: Any, token: str) -> None:
    """Record ``token`` as handed out for ``key``; it must not have been before."""
    tokens = handed_out.setdefault(key, set())
    assert token not in tokens, "a re-claim must get a new token"
    tokens.add(token)


def _outcome(action: Callable[[], None]) -> BaseException | None:
    try:
        action()
    except (ConcurrencyConflict, IdempotencyConflict, StaleTimer) as exc:
        return exc
    return None


class StoreStateMachine(RuleBasedStateMachine):
    """Random commits, claims and queries against a store and a
    :class:`~supportflow.store.MemoryStore`; after every step they must agree
    on everything observable.

    Override :meth:`make_store` (a fresh, empty store each run) and, if the
    backend lacks some, :attr:`capabilities`; then use ``.TestCase``:

    .. code-block:: python

        class MyStoreMachine(StoreStateMachine):
            def make_store(self):
                return MyStore(...)

        TestMyStoreMachine = MyStoreMachine.TestCase

    or in one line, ``TestMyStoreMachine = store_machine_test(lambda: MyStore(...))``.

    The steps: opening tickets (fresh ids, and "imported" ids that sort
    first and sometimes collide), appending events of every kind, stale and
    ahead-of-time commits, two-ticket commits, idempotency keys from a small
    pool (so they get reused), SLA projections, timer sets (including keys
    already fired), claiming due timers, claiming and completing outbox
    messages with leases, advancing the clock, and queries with paging.
    Outbox ids are compared by their order, not their values (a database
    sequence may skip numbers).
    """

    #: The optional features the backend supports (see the module docs).
    capabilities: ClassVar[frozenset[str]] = ALL_CAPABILITIES

    tickets = Bundle("tickets")
    claims = Bundle("claims")
    timer_claims = Bundle("timer_claims")

    def __init__(self) -> None:
        super().__init__()
        self.reference = MemoryStore()
        self.store: Store = self.make_store()
        self.now = START
        self.ids: list[str] = []
        self.ticks = itertools.count(1)
        self.outbox_ids: dict[int, int] = {}  # reference message id -> store message id
        self.tokens: dict[int, set[str]] = {}  # store message id -> tokens handed out
        self.fired: set[str] = set()  # timer keys recorded as fired so far
        self.timer_tokens: dict[str, set[str]] = {}  # timer key -> tokens handed out

    def make_store(self) -> Store:
        """The store under test: override to return a fresh, empty one."""
        raise NotImplementedError(
            f"{type(self).__name__} must override make_store() to return a fresh, empty store"
        )

    def teardown(self) -> None:
        self.store.close()
        self.reference.close()

    # -- building commits ----------------------------------------------------------------------

    def _tick(self) -> datetime:
        """``now`` plus a few microseconds: every instant the machine makes is distinct."""
        return self.now + timedelta(microseconds=next(self.ticks))

    def _timers(
        self, ticket_id: str, spec: list[tuple[int, int]] | None
    ) -> tuple[Timer, ...] | None:
        if spec is None or TIMERS not in self.capabilities:
            return None
        return tuple(
            make_timer(ticket_id, self._tick() + timedelta(minutes=minutes), metric=f"m{slot}")
            for slot, minutes in spec
        )

    def _sla(self, history: Sequence[Event], wanted: bool) -> SLAProjection | None:
        if not wanted or SLA not in self.capabilities:
            return None
        return project_sla(history)[0]

    def _events(self, ticket: Ticket, kinds: Sequence[str], data: st.DataObject) -> list[Event]:
        events: list[Event] = []
        current = ticket
        for kind in kinds:
            at = self._tick()
            event: Event
            if kind == "comment":
                event = comment_event(current, at, body=f"reply {at.microsecond}")
            elif kind == "note":
                event = comment_event(current, at, public=False, by=Actor.supervisor("sam"))
            elif kind == "transition":
                dest = data.draw(st.sampled_from(_STATES), label="dest")
                event = transition_event(current, dest, at)
            elif kind == "assign":
                event = assign_event(
                    current,
                    data.draw(st.sampled_from(_ASSIGNEES), label="assignee"),
                    at,
                    group=data.draw(st.sampled_from(_GROUPS), label="group"),
                )
            elif kind == "priority":
                event = priority_event(
                    current, data.draw(st.sampled_from(Priority), label="priority"), at
                )
            else:
                event = field_event(
                    current, "team", data.draw(st.sampled_from([None, "red", "blue"])), at
                )
            current = apply(current, event)
            events.append(event)
        return events

    def _read_at(self, ticket_id: str, delta: int) -> tuple[Ticket | None, list[Event]]:
        """What a command read, and the history behind it: the current
        snapshot, an older one (delta -1; ``None`` before the first event), or
        one from the future (delta +1, with a phantom event never committed)."""
        current = self.reference.load(ticket_id)
        assert current is not None
        history = list(self.reference.history(ticket_id))
        if delta < 0:
            history = history[: current.version - 1]
        elif delta > 0:
            history.append(comment_event(current, self._tick(), body="phantom"))
        return replay(history), history

    def _append(
        self,
        ticket_id: str,
        delta: int,
        kinds: Sequence[str],
        data: st.DataObject,
        *,
        with_sla: bool,
        timers: list[tuple[int, int]] | None,
        announce: bool,
    ) -> TicketChange:
        announce = announce and OUTBOX in self.capabilities
        read, history = self._read_at(ticket_id, delta)
        if read is None:  # a stale read of a ticket that did not exist yet: its opening
            change = open_change(self._tick(), ticket_id=ticket_id, announce=announce)
            return attrs.evolve(
                change,
                sla=self._sla(change.events, with_sla),
                timers=self._timers(ticket_id, timers),
            )
        events = self._events(read, kinds, data)
        return append_change(
            read,
            *events,
            sla=self._sla([*history, *events], with_sla),
            timers=self._timers(ticket_id, timers),
            announce=announce,
        )

    def _record(self, key: str | None, change: TicketChange) -> IdempotencyRecord | None:
        if key is None:
            return None
        return IdempotencyRecord(
            key, f"fp-{next(self.ticks)}", change.ticket.id, change.ticket.version
        )

    def _commit_both(self, commit: Commit) -> bool:
        """Commit to both stores; they must succeed or fail alike. Returns success."""
        stale = any(
            change.expected_version != getattr(self.reference.load(change.ticket.id), "version", 0)
            for change in commit.changes
        )
        used = commit.idempotency is not None and (
            self.reference.idempotency(commit.idempotency.key) is not None
        )
        offered = {t.key for change in commit.changes for t in change.timers or ()}
        if offered & self.fired:
            note_event("commit offers a fired timer key again")
        expected = _outcome(lambda: self.reference.commit(commit))
        actual = _outcome(lambda: self.store.commit(commit))
        note_event(f"commit: {type(expected).__name__ if expected else 'written'}")
        if expected is None:
            assert actual is None, f"the store refused a commit the reference took: {actual!r}"
            return True
        allowed = (
            (ConcurrencyConflict,) * stale
            + (IdempotencyConflict,) * used
            + (StaleTimer,) * isinstance(expected, StaleTimer)
        )
        assert isinstance(actual, allowed), (
            f"the store answered {actual!r}; expected {' or '.join(a.__name__ for a in allowed)}"
        )
        return False

    # -- rules --------------------------------------------------------------------------------

    @initialize(
        target=tickets, priorities=st.lists(st.sampled_from(Priority), min_size=2, max_size=2)
    )
    def open_first_tickets(self, priorities: list[Priority]) -> MultipleResults[str]:
        opened: list[str] = []
        for priority in priorities:
            change = open_change(self._tick(), priority=priority)
            change = attrs.evolve(change, sla=self._sla(change.events, True))
            assert self._commit_both(Commit((change,)))
            opened.append(change.ticket.id)
            self.ids.append(change.ticket.id)
        return multiple(*opened)

    @rule(
        target=tickets,
        requester=st.sampled_from(_REQUESTERS),
        priority=st.sampled_from(Priority),
        state=st.sampled_from(_STATES),
        assignee=st.sampled_from(_ASSIGNEES),
        group=st.sampled_from(_GROUPS),
        imported=st.one_of(st.none(), st.integers(0, 3)),
        key=st.one_of(st.none(), st.sampled_from(_KEYS)),
        announce=st.booleans(),
        with_sla=st.booleans(),
        timers=_TIMER_SETS,
    )
    def open_ticket(
        self,
        requester: str,
        priority: Priority,
        state: str,
        assignee: str | None,
        group: str | None,
        imported: int | None,
        key: str | None,
        announce: bool,
        with_sla: bool,
        timers: list[tuple[int, int]] | None,
    ) -> MultipleResults[str]:
        at = self._tick()
        ticket_id = new_ticket_id(at) if imported is None else _imported_id(imported)
        change = open_change(
            at,
            ticket_id=ticket_id,
            requester=requester,
            priority=priority,
            state=state,
            assignee=assignee,
            group=group,
            announce=announce and OUTBOX in self.capabilities,
        )
        change = attrs.evolve(
            change, sla=self._sla(change.events, with_sla), timers=self._timers(ticket_id, timers)
        )
        if self._commit_both(Commit((change,), self._record(key, change))):
            self.ids.append(ticket_id)
            return multiple(ticket_id)
        return multiple()

    @rule(
        ticket_id=tickets,
        kinds=st.lists(st.sampled_from(_EVENT_KINDS), max_size=3),
        delta=_DELTAS,
        key=st.one_of(st.none(), st.sampled_from(_KEYS)),
        announce=st.booleans(),
        with_sla=st.booleans(),
        timers=_TIMER_SETS,
        data=st.data(),
    )
    def append_events(
        self,
        ticket_id: str,
        kinds: list[str],
        delta: int,
        key: str | None,
        announce: bool,
        with_sla: bool,
        timers: list[tuple[int, int]] | None,
        data: st.DataObject,
    ) -> None:
        change = self._append(
            ticket_id, delta, kinds, data, with_sla=with_sla, timers=timers, announce=announce
        )
        self._commit_both(Commit((change,), self._record(key, change)))

    @rule(
        first=tickets,
        second=tickets,
        first_delta=_DELTAS,
        second_delta=_DELTAS,
        key=st.one_of(st.none(), st.sampled_from(_KEYS)),
        announce=st.booleans(),
        data=st.data(),
    )
    def change_two_tickets(
        self,
        first: str,
        second: str,
        first_delta: int,
        second_delta: int,
        key: str | None,
        announce: bool,
        data: st.DataObject,
    ) -> None:
        if first == second:
            return
        changes = tuple(
            self._append(
                ticket_id,
                delta,
                ["comment"],
                data,
                with_sla=False,
                timers=None,
                announce=announce,
            )
            for ticket_id, delta in ((first, first_delta), (second, second_delta))
        )
        self._commit_both(Commit(changes, self._record(key, changes[0])))

    @rule(minutes=st.integers(0, 240))
    def advance_clock(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @precondition(lambda self: TIMERS in self.capabilities)
    @rule(
        target=timer_claims,
        lease=st.integers(1, 120),
        limit=st.integers(1, 4),
        worker=st.sampled_from(["w1", "w2"]),
    )
    def claim_due_timers(
        self, lease: int, limit: int, worker: str
    ) -> MultipleResults[tuple[TimerClaim, TimerClaim]]:
        now = self._tick()
        duration = timedelta(minutes=lease)
        expected = self.reference.claim_due_timers(now, lease=duration, limit=limit, worker=worker)
        actual = self.store.claim_due_timers(now, lease=duration, limit=limit, worker=worker)
        note_event(f"claimed {min(len(expected), 2)}{'+' * (len(expected) >= 2)} timers")
        assert [(c.timer, c.attempts, c.lease_until) for c in actual] == [
            (c.timer, c.attempts, c.lease_until) for c in expected
        ]
        for claim in actual:
            _fresh_token(self.timer_tokens, claim.timer.key, claim.token)
        return multiple(*zip(expected, actual, strict=True))

    @precondition(lambda self: TIMERS in self.capabilities)
    @rule(pair=timer_claims, later=st.booleans())
    def complete_timers(self, pair: tuple[TimerClaim, TimerClaim], later: bool) -> None:
        want, got = pair
        now = self._tick() + (timedelta(hours=3) if later else timedelta(0))
        expected = self.reference.complete_timers([want], now)
        note_event(f"timer completion {bool(expected)}")
        assert self.store.complete_timers([got], now) == expected
        self.fired.update(timer.key for timer in expected)

    @precondition(lambda self: TIMERS in self.capabilities)
    @rule(pair=timer_claims, lease=st.integers(1, 120))
    def renew_timers(self, pair: tuple[TimerClaim, TimerClaim], lease: int) -> None:
        want, got = pair
        now, duration = self._tick(), timedelta(minutes=lease)
        expected = self.reference.renew_timers([want], now, lease=duration)
        actual = self.store.renew_timers([got], now, lease=duration)
        note_event(f"timer renewal {bool(expected)}")
        assert [(c.timer, c.lease_until) for c in actual] == [
            (c.timer, c.lease_until) for c in expected
        ]

    @precondition(lambda self: TIMERS in self.capabilities)
    @rule(
        pair=timer_claims,
        delta=_DELTAS,
        timers=_TIMER_SETS,
        data=st.data(),
    )
    def fire_timer_in_a_commit(
        self,
        pair: tuple[TimerClaim, TimerClaim],
        delta: int,
        timers: list[tuple[int, int]] | None,
        data: st.DataObject,
    ) -> None:
        timer = pair[0].timer
        change = self._append(
            timer.ticket_id, delta, ["comment"], data, with_sla=False, timers=timers, announce=False
        )
        if self._commit_both(Commit((attrs.evolve(change, fired=(timer,)),))):
            self.fired.add(timer.key)

    @precondition(lambda self: OUTBOX in self.capabilities)
    @rule(
        target=claims,
        lease=st.integers(1, 120),
        limit=st.integers(1, 4),
        worker=st.sampled_from(["w1", "w2"]),
    )
    def claim_outbox(
        self, lease: int, limit: int, worker: str
    ) -> MultipleResults[tuple[OutboxClaim, OutboxClaim]]:
        now = self._tick()
        duration = timedelta(minutes=lease)
        expected = self.reference.claim_outbox(now, lease=duration, limit=limit, worker=worker)
        actual = self.store.claim_outbox(now, lease=duration, limit=limit, worker=worker)
        assert len(actual) == len(expected), (
            f"the store handed out {len(actual)} messages, the reference {len(expected)}"
        )
        ids = [claim.message.id for claim in actual]
        assert ids == sorted(set(ids)), "claims come oldest first"
        for want, got in zip(expected, actual, strict=True):
            known = self.outbox_ids.setdefault(want.message.id, got.message.id)
            assert got.message.id == known, "a message changed its id"
            assert got.message.event == want.message.event
            assert (got.attempts, got.lease_until) == (want.attempts, want.lease_until)
            _fresh_token(self.tokens, got.message.id, got.token)
            note_event(f"outbox claim attempt {min(got.attempts, 3)}")
        return multiple(*zip(expected, actual, strict=True))

    @precondition(lambda self: OUTBOX in self.capabilities)
    @rule(pair=claims, later=st.booleans())
    def complete_outbox(self, pair: tuple[OutboxClaim, OutboxClaim], later: bool) -> None:
        want, got = pair
        now = self._tick() + (timedelta(hours=3) if later else timedelta(0))
        expected = self.reference.complete_outbox(want, now)
        note_event(f"outbox completion {expected}")
        assert self.store.complete_outbox(got, now) is expected

    @rule(
        states=st.one_of(st.none(), st.frozensets(st.sampled_from(_STATES))),
        assignee=st.sampled_from(_ASSIGNEES),
        requester=st.one_of(st.none(), st.sampled_from(_REQUESTERS)),
        priority=st.one_of(st.none(), st.sampled_from(Priority)),
        group=st.sampled_from(_GROUPS),
        limit=st.one_of(st.none(), st.integers(1, 4)),
        data=st.data(),
    )
    def find(
        self,
        states: frozenset[str] | None,
        assignee: str | None,
        requester: str | None,
        priority: Priority | None,
        group: str | None,
        limit: int | None,
        data: st.DataObject,
    ) -> None:
        after = None
        if len(self.ids) > 0 and data.draw(st.booleans(), label="page"):
            after = data.draw(st.sampled_from(self.ids), label="after")
        query = TicketQuery(
            states=states,
            assignee=assignee,
            requester=requester,
            priority=priority,
            group=group,
            after=after,
            limit=limit,
        )
        assert self.store.find(query) == self.reference.find(query), f"find({query})"

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def stores_agree(self) -> None:
        for ticket_id in (*self.ids, "no-such-ticket"):
            assert self.store.load(ticket_id) == self.reference.load(ticket_id)
            assert tuple(self.store.history(ticket_id)) == tuple(self.reference.history(ticket_id))
            if SLA in self.capabilities:
                assert self.store.sla_projection(ticket_id) == self.reference.sla_projection(
                    ticket_id
                )
            if TIMERS in self.capabilities:
                assert self.store.pending_timers(ticket_id) == self.reference.pending_timers(
                    ticket_id
                )
        for ticket_id in self.ids:
            _assert_consistent(self.store, ticket_id)
        for key in (*_KEYS, "no-such-key"):
            assert self.store.idempotency(key) == self.reference.idempotency(key)
        assert self.store.find(TicketQuery()) == self.reference.find(TicketQuery())
        if OUTBOX_BACKLOG in self.capabilities:
            assert _backlog(self.store) == _backlog(self.reference)

    @invariant()
    def outbox_ids_keep_their_order(self) -> None:
        pairs = sorted(self.outbox_ids.items())
        assert [mine for _, mine in pairs] == sorted(mine for _, mine in pairs)


def store_machine_test(
    factory: Callable[[], Store],
    *,
    capabilities: frozenset[str] = ALL_CAPABILITIES,
    settings: hypothesis_settings | None = None,
    name: str = "StoreMachine",
) -> type[unittest.TestCase]:
    """The :class:`StoreStateMachine` test case for stores made by ``factory``.

    Assign the result to a ``Test...`` name in a test module::

        TestMyStoreMachine = store_machine_test(
            lambda: MyStore(...), settings=settings(max_examples=50, deadline=None)
        )

    ``factory`` is called once per hypothesis example and must return a fresh,
    empty store; the machine closes it at the end of the example.
    """

    def make_store(self: StoreStateMachine) -> Store:
        return factory()

    machine: type[StoreStateMachine] = type(
        name,
        (StoreStateMachine,),
        {"make_store": make_store, "capabilities": capabilities, "__module__": __name__},
    )
    case: type[unittest.TestCase] = machine.TestCase
    if settings is not None:
        case.settings = settings  # type: ignore[attr-defined]
    return case
