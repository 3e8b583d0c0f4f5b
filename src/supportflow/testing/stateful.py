"""A hypothesis state machine that checks a lifecycle's invariants through a Desk.

Subclass :class:`LifecycleStateMachine` with your lifecycle (and, if you like,
your own store) and hypothesis drives random actors through random commands:

.. code-block:: python

    from supportflow.testing import LifecycleStateMachine
    from myapp.desk import my_lifecycle

    class MyDeskMachine(LifecycleStateMachine):
        lifecycle = my_lifecycle()

    TestMyDesk = MyDeskMachine.TestCase

After every step it checks that each ticket's state is a declared state,
``version == len(history)``, the snapshot equals the replay of the history,
and every transition in the history is one the acting role was allowed to
make (or a configured reaction). Every command is also checked against an
independent model of the rules: it must succeed exactly when the rules allow
it, and a refused command must leave state, version and history untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from supportflow._desk import Desk
from supportflow._lifecycle import BUILTIN_GUARDS, GuardContext, Lifecycle
from supportflow._model import Actor, Category, Role, Ticket
from supportflow._time import ManualClock
from supportflow.errors import InvalidTransition, NotFound, PermissionDenied, SupportflowError
from supportflow.events import CommentAdded, Transitioned, replay
from supportflow.lifecycles import standard
from supportflow.testing.strategies import priority_inputs, ticket_data

__all__ = ["LifecycleStateMachine"]

_REQUESTERS = ("alice@example.com", "bob@example.com")
_STAFF = (
    Actor.agent("ann"),
    Actor.agent("raj", tier="senior"),
    Actor.supervisor("sam"),
    Actor.system(),
)


class LifecycleStateMachine(RuleBasedStateMachine):
    """Random commands by random actors against one desk, with invariants.

    Override :attr:`lifecycle` (a :class:`~supportflow.Lifecycle`) and, to test
    a storage backend, :meth:`make_desk`.
    """

    #: The lifecycle under test.
    lifecycle: ClassVar[Lifecycle] = standard()

    tickets = Bundle("tickets")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        self.desk = self.make_desk()
        self.opened: list[str] = []

    def make_desk(self) -> Desk:
        """The desk under test; override to use your own store or plugins."""
        return Desk(lifecycle=self.lifecycle, clock=self.clock, load_entry_points=False)

    # -- actors -----------------------------------------------------------------------

    def _actor(self, data: st.DataObject, ticket: Ticket) -> Actor:
        choice = data.draw(
            st.sampled_from(["staff", "staff", "staff", "requester", "stranger"]), label="who"
        )
        if choice == "staff":
            return data.draw(st.sampled_from(_STAFF), label="staff")
        if choice == "requester":
            return Actor.customer(ticket.requester)
        return Actor.customer("mallory@example.com")

    # -- rules --------------------------------------------------------------------------

    @initialize(target=tickets, requester=st.sampled_from(_REQUESTERS), priority=priority_inputs())
    def open_first_ticket(self, requester: str, priority: Any) -> str:
        return self._open(requester, priority)

    @rule(target=tickets, requester=st.sampled_from(_REQUESTERS), priority=priority_inputs())
    def open_ticket(self, requester: str, priority: Any) -> str:
        return self._open(requester, priority)

    def _open(self, requester: str, priority: Any) -> str:
        ticket = self.desk.open_ticket(
            subject="Something broke", requester=requester, priority=priority
        )
        assert ticket.state == self.lifecycle.initial
        assert ticket.version == 1
        self.opened.append(ticket.id)
        return ticket.id

    @rule(ticket_id=tickets, data=st.data())
    def fire_event(self, ticket_id: str, data: st.DataObject) -> None:
        before = self.desk.get(ticket_id)
        actor = self._actor(data, before)
        # Mostly events possible from here, so runs get deep into the lifecycle;
        # sometimes any event, so refusals are exercised too.
        possible = self.lifecycle.events_from(before.state)
        biased = bool(possible) and data.draw(st.integers(0, 3), label="bias") > 0
        pool = possible if biased else self.lifecycle.event_names
        event = data.draw(st.sampled_from(pool), label="event")
        payload = data.draw(ticket_data(self.lifecycle), label="data")
        route = self.lifecycle.transition_for(event, before.state)
        if route is not None and data.draw(st.integers(0, 3), label="complete data"):
            payload.update({name: f"{name} given" for name in route.requires})
        expected = self._expected_outcome(before, event, actor, payload)
        self.clock.advance(timedelta(minutes=data.draw(st.integers(0, 600), label="minutes")))
        self._run(
            ticket_id,
            expected,
            lambda: self.desk.transition(ticket_id, event, by=actor, **payload),
        )

    @rule(ticket_id=tickets, data=st.data(), public=st.booleans())
    def add_comment(self, ticket_id: str, data: st.DataObject, public: bool) -> None:
        before = self.desk.get(ticket_id)
        actor = self._actor(data, before)
        # Refusals that depend only on the role come before looking the ticket up.
        if actor.role is Role.CUSTOMER and not public:
            expected: type[Exception] | None = PermissionDenied
        elif actor.role is Role.CUSTOMER and actor.id != before.requester:
            expected = NotFound
        elif self.lifecycle.category(before.state) is Category.CLOSED:
            expected = InvalidTransition
        else:
            expected = None
        self.clock.advance(timedelta(minutes=data.draw(st.integers(0, 600), label="minutes")))
        after = self._run(
            ticket_id,
            expected,
            lambda: self.desk.comment(ticket_id, "a message", by=actor, public=public),
        )
        if after is not None:
            added = self.desk.history(ticket_id)[before.version]
            assert isinstance(added, CommentAdded)
            assert added.public is public

    @rule(ticket_id=tickets, data=st.data(), priority=priority_inputs())
    def reprioritise(self, ticket_id: str, data: st.DataObject, priority: Any) -> None:
        before = self.desk.get(ticket_id)
        actor = self._actor(data, before)
        expected: type[Exception] | None = None
        if actor.role is Role.CUSTOMER:
            expected = PermissionDenied
        elif self.lifecycle.category(before.state) is Category.CLOSED:
            expected = InvalidTransition
        self._run(
            ticket_id,
            expected,
            lambda: self.desk.set_priority(ticket_id, priority, by=actor),
        )

    @rule(ticket_id=tickets, data=st.data())
    def assign(self, ticket_id: str, data: st.DataObject) -> None:
        before = self.desk.get(ticket_id)
        actor = self._actor(data, before)
        assignee = data.draw(st.sampled_from([None, "ann", "raj"]), label="assignee")
        expected: type[Exception] | None = None
        if actor.role is Role.CUSTOMER:
            expected = PermissionDenied
        elif self.lifecycle.category(before.state) is Category.CLOSED:
            expected = InvalidTransition
        self._run(ticket_id, expected, lambda: self.desk.assign(ticket_id, assignee, by=actor))

    # -- checking ---------------------------------------------------------------------

    def _run(self, ticket_id: str, expected: type[Exception] | None, command: Any) -> Ticket | None:
        before = self.desk.get(ticket_id)
        history_before = self.desk.history(ticket_id)
        try:
            after: Ticket = command()
        except SupportflowError as exc:
            if expected is None or not isinstance(exc, expected):
                wanted = "success" if expected is None else expected.__name__
                raise AssertionError(
                    f"command refused with {type(exc).__name__}: {exc}; expected {wanted}"
                ) from exc
            if self.desk.get(ticket_id) != before:
                raise AssertionError("a refused command changed the ticket") from exc
            if self.desk.history(ticket_id) != history_before:
                raise AssertionError("a refused command wrote history") from exc
            return None
        assert expected is None, f"command succeeded, expected {expected.__name__}"
        assert after == self.desk.get(ticket_id)
        note_event(f"reached state {after.state}")
        return after

    def _expected_outcome(
        self, ticket: Ticket, event: str, actor: Actor, payload: dict[str, Any]
    ) -> type[Exception] | None:
        """An independent reading of the rules: what should happen?"""
        if actor.role is Role.CUSTOMER and actor.id != ticket.requester:
            return NotFound
        route = self.lifecycle.transition_for(event, ticket.state)
        if route is None:
            return InvalidTransition
        if actor.role not in route.by:
            return PermissionDenied
        for name in route.requires:
            value = payload.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                return InvalidTransition
        guards = {**BUILTIN_GUARDS, **self.lifecycle.guards}
        context = GuardContext(ticket, actor, event, payload, self.clock.now())
        if any(guards[name](context) is not None for name in route.guards):
            return InvalidTransition
        return None

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def histories_are_consistent(self) -> None:
        declared = set(self.lifecycle.state_names)
        for ticket_id in self.opened:
            ticket = self.desk.get(ticket_id)
            history = self.desk.history(ticket_id)
            assert ticket.state in declared
            assert ticket.version == len(history)
            assert [e.version for e in history] == list(range(1, len(history) + 1))
            assert replay(history) == ticket
            for event in history:
                if isinstance(event, Transitioned):
                    route = self.lifecycle.transition_for(event.event, event.source)
                    assert route is not None, f"history holds an impossible {event}"
                    assert route.dest == event.dest
                    if event.cause is None:
                        assert event.by.role in route.by, f"{event.by} was not allowed {event}"
                    else:
                        kind = event.cause.removeprefix("reaction:")
                        assert self.lifecycle.reaction(kind, event.source) == event.event
