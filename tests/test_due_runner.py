"""Desk.run_due on a ManualClock: leased claims, batches, renewal, retries,
and timers that a later command cancels while they are held."""

from datetime import UTC, datetime, timedelta

import pytest

from supportflow import (
    Actor,
    ConfigError,
    Desk,
    EscalationPolicy,
    ManualClock,
    MemoryStore,
    SLAPolicy,
    ValidationError,
    hookimpl,
)
from supportflow.escalation import Action, Level, Trigger
from supportflow.events import Escalated

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor.agent("ann")
SLA = SLAPolicy("standard", {"high": {"first_response": H, "resolution": 8 * H}}, warn_at=())
TAG_AT_BREACH = EscalationPolicy(
    "tag", [Level(Trigger.at_breach(), Action.add_tag("late"))], metric="first_response"
)
DUE = START + H + timedelta(microseconds=1)  # the first-response breach of a ticket opened at START


def make_desk(store=None, *, plugins=(), clock=None, **options):
    return Desk(
        store=store if store is not None else MemoryStore(),
        clock=clock or ManualClock(START),
        sla=[SLA],
        escalation=[TAG_AT_BREACH],
        plugins=plugins,
        load_entry_points=False,
        **options,
    )


def open_tickets(desk, count):
    return [
        desk.open_ticket(subject=f"t{n}", requester="c@example.com", priority="high").id
        for n in range(count)
    ]


def escalations(desk, ticket_ids):
    return [e for t in ticket_ids for e in desk.history(t) if isinstance(e, Escalated)]


def test_more_timers_than_one_batch_are_all_carried_out():
    desk = make_desk()
    ids = open_tickets(desk, 130)  # a step and a breach each: 260 timers, three batches
    fired = desk.run_due(now=DUE)
    assert len(fired) == 260
    assert len(escalations(desk, ids)) == 130
    assert desk.run_due(now=DUE + H) == []


def test_a_limit_bounds_the_timers_claimed():
    desk = make_desk()
    open_tickets(desk, 5)
    assert len(desk.run_due(now=DUE, limit=3)) == 3
    assert len(desk.run_due(now=DUE, limit=100)) == 7
    with pytest.raises(ValidationError, match="limit"):
        desk.run_due(now=DUE, limit=0)


def test_timers_held_by_another_runner_are_left_alone_until_their_lease_ends():
    store = MemoryStore()
    desk = make_desk(store)
    ids = open_tickets(desk, 3)
    held = store.claim_due_timers(DUE, lease=5 * MINUTE, limit=100, worker="other")
    assert len(held) == 6
    assert desk.run_due(now=DUE + 5 * MINUTE - timedelta(microseconds=1)) == []
    assert len(desk.run_due(now=DUE + 5 * MINUTE)) == 6
    assert len(escalations(desk, ids)) == 3
    # The other runner comes back late: its claims are no longer its own.
    assert store.complete_timers(held, DUE + H) == []


class _SlowHook:
    """Each step takes three minutes of the desk's clock; halfway through the
    batch a second runner looks for work just after the first lease would end."""

    def __init__(self, clock, rival):
        self.clock = clock
        self.rival = rival
        self.seen = 0
        self.rival_got = None

    @hookimpl
    def supportflow_escalated(self, ticket, event):
        self.seen += 1
        self.clock.advance(3 * MINUTE)
        if self.seen == 2:
            self.rival_got = self.rival.run_due(now=DUE + 5 * MINUTE + MINUTE, lease=5 * MINUTE)


def test_leases_are_renewed_while_a_batch_is_worked_on():
    store = MemoryStore()
    clock = ManualClock(START)
    rival = make_desk(store)
    hook = _SlowHook(clock, rival)
    desk = make_desk(store, plugins=[hook], clock=clock)
    ids = open_tickets(desk, 4)
    clock.set(DUE)
    fired = desk.run_due(lease=5 * MINUTE)
    # Without renewal the rival would have found the later steps' leases run out.
    assert hook.rival_got == []
    assert len([t for t in fired if t.kind == "escalation"]) == 4
    assert len(escalations(desk, ids)) == 4


class _FailingStore(MemoryStore):
    """A store whose commits of escalation steps fail ``failures`` times."""

    def __init__(self, failures):
        super().__init__()
        self.failures = failures

    def commit(self, commit):
        if self.failures and any(change.fired for change in commit.changes):
            self.failures -= 1
            raise OSError("the disk is full")
        super().commit(commit)


def test_a_failing_step_is_retried_after_its_lease(caplog):
    store = _FailingStore(failures=1)
    desk = make_desk(store)
    (ticket,) = open_tickets(desk, 1)
    lease = 5 * MINUTE
    fired = desk.run_due(now=DUE, lease=lease)
    assert [t.kind for t in fired] == ["breach"], "the step failed; the breach hook ran"
    assert "failed (attempt 1 of 5)" in caplog.text
    assert desk.run_due(now=DUE + lease - timedelta(microseconds=1), lease=lease) == []
    (retried,) = desk.run_due(now=DUE + lease, lease=lease)
    assert retried.kind == "escalation"
    assert len(escalations(desk, [ticket])) == 1


def test_a_step_that_keeps_failing_is_given_up_after_timer_attempts(caplog):
    store = _FailingStore(failures=100)
    desk = make_desk(store, timer_attempts=2)
    (ticket,) = open_tickets(desk, 1)
    lease = 5 * MINUTE
    desk.run_due(now=DUE, lease=lease)
    (given_up,) = desk.run_due(now=DUE + lease, lease=lease)
    assert given_up.kind == "escalation"
    assert "recorded as fired, given up" in caplog.text
    assert escalations(desk, [ticket]) == []
    assert desk.run_due(now=DUE + 2 * H, lease=lease) == []


def test_timer_attempts_must_be_at_least_one():
    with pytest.raises(ConfigError, match="timer_attempts must be a whole number"):
        make_desk(timer_attempts=0)


class _ReplyToTheOther:
    """When the first ticket's warning is announced, an agent answers the second
    ticket, whose warning is later in the same claimed batch."""

    def __init__(self):
        self.desk = None
        self.ids = ()
        self.warned = []

    @hookimpl
    def supportflow_sla_warning(self, ticket, clock, threshold):
        self.warned.append(ticket.id)
        if len(self.warned) == 1:
            other = next(t for t in self.ids if t != ticket.id)
            self.desk.reply(other, "Looking at it now.", by=ANN)


def test_a_timer_cancelled_while_held_is_not_carried_out():
    hook = _ReplyToTheOther()
    warned = SLAPolicy("warned", {"high": {"first_response": H}}, warn_at=(0.75,))
    desk = Desk(clock=ManualClock(START), sla=[warned], plugins=[hook], load_entry_points=False)
    hook.desk = desk
    hook.ids = open_tickets(desk, 2)
    # Both warnings are claimed in one batch; the first hook's reply meets the
    # second ticket's first response in time, which cancels its warning.
    desk.clock.set(START + 45 * MINUTE)
    fired = desk.run_due()
    assert len(hook.warned) == 1
    assert [(t.ticket_id, t.kind) for t in fired] == [(hook.warned[0], "warning")]
    later = desk.run_due(now=START + 2 * H)
    assert [(t.ticket_id, t.kind) for t in later] == [(hook.warned[0], "breach")], (
        "the unanswered ticket breaches; the answered one does not"
    )


def test_a_desk_without_the_policies_leaves_the_timers_to_one_that_has_them():
    store = MemoryStore()
    configured = make_desk(store)
    (ticket,) = open_tickets(configured, 1)
    bare = Desk(store=store, clock=ManualClock(DUE), load_entry_points=False)
    assert bare.run_due(now=DUE) == []
    assert [t.kind for t in configured.run_due(now=DUE)] == ["breach", "escalation"]
    assert len(escalations(configured, [ticket])) == 1


def test_a_step_of_a_policy_this_desk_does_not_know_is_left_for_another_runner(caplog):
    store = MemoryStore()
    configured = make_desk(store)
    (ticket,) = open_tickets(configured, 1)
    other = EscalationPolicy(
        "other", [Level(Trigger.at_breach(), Action.add_tag("x"))], metric="first_response"
    )
    stranger = Desk(
        store=store, clock=ManualClock(DUE), sla=[SLA], escalation=[other], load_entry_points=False
    )
    lease = 5 * MINUTE
    assert [t.kind for t in stranger.run_due(now=DUE, lease=lease)] == ["breach"]
    assert "left for another runner" in caplog.text
    assert escalations(configured, [ticket]) == []
    (step,) = configured.run_due(now=DUE + lease, lease=lease)
    assert step.kind == "escalation"
    assert len(escalations(configured, [ticket])) == 1
