"""Auto-close and reminders on a ManualClock: when they fall due, what they do,
what cancels them, and what a desk refuses to be configured with."""

from datetime import UTC, datetime, timedelta

import pytest

from supportflow import (
    Actor,
    AutoClose,
    BusinessCalendar,
    ConfigError,
    Desk,
    ManualClock,
    Reminder,
)
from supportflow.events import CommentAdded, Transitioned
from supportflow.lifecycles import simple

H = timedelta(hours=1)
DAY = timedelta(days=1)
ANN = Actor.agent("ann")
ALICE = "alice@example.com"
CUSTOMER = Actor.customer(ALICE)
OFFICE = BusinessCalendar.weekly("mon-fri 09:00-18:00", tz="Europe/Berlin")
FRIDAY_4PM = datetime(2026, 3, 6, 16, 0, tzinfo=UTC) - H  # 16:00 in Berlin (UTC+1)


def make_desk(*rules, clock=None, **options):
    clock = clock or ManualClock(FRIDAY_4PM - H)
    desk = Desk(
        clock=clock,
        calendar=OFFICE,
        follow_ups=rules,
        load_entry_points=False,
        **options,
    )
    return desk, clock


def resolved_ticket(desk, clock, at):
    ticket = desk.open_ticket(subject="VPN down", requester=ALICE, priority="high")
    desk.reply(ticket.id, "On it.", by=ANN)
    clock.set(at)
    return desk.transition(ticket.id, "resolve", by=ANN, resolution="Reset the token.")


def waiting_ticket(desk, clock):
    ticket = desk.open_ticket(subject="Printer", requester=ALICE, priority="medium")
    desk.reply(ticket.id, "Which model is it?", by=ANN)
    desk.transition(ticket.id, "wait_for_customer", by=ANN)
    return desk.get(ticket.id)


def closings(desk, ticket_id):
    return [
        e for e in desk.history(ticket_id) if isinstance(e, Transitioned) and e.by.id == "system"
    ]


def reminders(desk, ticket_id):
    return [
        e for e in desk.history(ticket_id) if isinstance(e, CommentAdded) and e.by.id == "system"
    ]


# -- auto-close ---------------------------------------------------------------------------


def test_a_resolved_ticket_closes_after_three_business_days_of_quiet():
    desk, clock = make_desk(AutoClose(after=27 * H))  # three 9-hour business days
    ticket = resolved_ticket(desk, clock, FRIDAY_4PM)
    # Friday 2 h + Monday 9 h + Tuesday 9 h + Wednesday 7 h: Wednesday 16:00 Berlin.
    due = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
    (timer,) = [t for t in desk.store.pending_timers(ticket.id) if t.kind == "followup"]
    assert timer.at == due
    assert desk.run_due(now=due - timedelta(microseconds=1)) == []
    assert [t.kind for t in desk.run_due(now=due)] == ["followup"]
    assert desk.get(ticket.id).state == "closed"
    (closed,) = closings(desk, ticket.id)
    assert (closed.event, closed.source, closed.dest, closed.at) == (
        "close",
        "resolved",
        "closed",
        due,
    )
    assert desk.run_due(now=due + 30 * DAY) == []


def test_a_reopened_ticket_is_not_closed_and_resolving_again_starts_afresh():
    desk, clock = make_desk(AutoClose(after=27 * H))
    ticket = resolved_ticket(desk, clock, FRIDAY_4PM)
    first_due = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))  # Monday: the customer says it is not fixed
    desk.reply(ticket.id, "Still broken.", by=CUSTOMER)
    assert desk.get(ticket.id).state == "in_progress"
    assert desk.run_due(now=first_due) == []
    assert desk.get(ticket.id).state == "in_progress"
    clock.set(datetime(2026, 3, 11, 16, 0, tzinfo=UTC))  # Wednesday 17:00 Berlin
    desk.transition(ticket.id, "resolve", by=ANN, resolution="Replaced the token.")
    # Wednesday 1 h + Thursday 9 h + Friday 9 h + Monday 8 h: Monday 17:00 Berlin.
    second_due = datetime(2026, 3, 16, 16, 0, tzinfo=UTC)
    assert desk.run_due(now=second_due - timedelta(microseconds=1)) == []
    assert len(desk.run_due(now=second_due)) == 1
    assert [e.at for e in closings(desk, ticket.id)] == [second_due]


def test_a_customer_confirming_closes_at_once_and_nothing_fires_later():
    desk, clock = make_desk(AutoClose(after=27 * H))
    ticket = resolved_ticket(desk, clock, FRIDAY_4PM)
    desk.transition(ticket.id, "close", by=CUSTOMER)
    assert [t for t in desk.store.pending_timers(ticket.id) if t.kind == "followup"] == []
    assert desk.run_due(now=FRIDAY_4PM + 30 * DAY) == []
    assert closings(desk, ticket.id) == []


def test_plain_time_ignores_the_calendar():
    desk, clock = make_desk(AutoClose(after=2 * DAY, business=False))
    ticket = resolved_ticket(desk, clock, FRIDAY_4PM)
    assert desk.run_due(now=FRIDAY_4PM + 2 * DAY - timedelta(seconds=1)) == []
    assert len(desk.run_due(now=FRIDAY_4PM + 2 * DAY)) == 1
    assert desk.get(ticket.id).state == "closed"


# -- reminders ----------------------------------------------------------------------------


def test_a_waiting_customer_is_reminded_then_the_ticket_resumes():
    rule = Reminder(after=2 * DAY, times=2, then="resume", business=False)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    desk, clock = make_desk(rule, clock=ManualClock(start))
    ticket = waiting_ticket(desk, clock)
    due = [start + 2 * DAY, start + 4 * DAY, start + 6 * DAY]
    assert [t.at for t in desk.store.pending_timers(ticket.id) if t.kind == "followup"] == due
    for n, at in enumerate(due[:2], 1):
        assert desk.run_due(now=at - timedelta(microseconds=1)) == []
        assert len(desk.run_due(now=at)) == 1
        assert len(reminders(desk, ticket.id)) == n
        assert desk.get(ticket.id).state == "waiting_on_customer"
    (first, _) = reminders(desk, ticket.id)
    assert first.public
    assert first.body == rule.message
    assert first.by == Actor.system()
    assert len(desk.run_due(now=due[2])) == 1
    assert desk.get(ticket.id).state == "in_progress"
    (resumed,) = closings(desk, ticket.id)
    assert (resumed.event, resumed.at) == ("resume", due[2])


def test_a_customer_reply_stops_the_reminders():
    rule = Reminder(after=2 * DAY, times=3, business=False)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    desk, clock = make_desk(rule, clock=ManualClock(start))
    ticket = waiting_ticket(desk, clock)
    assert len(desk.run_due(now=start + 2 * DAY)) == 1
    clock.set(start + 3 * DAY)
    desk.reply(ticket.id, "It is an HP LaserJet.", by=CUSTOMER)
    assert desk.get(ticket.id).state == "in_progress"
    assert desk.run_due(now=start + 30 * DAY) == []
    assert len(reminders(desk, ticket.id)) == 1


def test_reminders_are_not_responses_and_are_sent_to_the_requester():
    rule = Reminder(after=DAY, business=False, message="Any news on the printer?")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    desk, clock = make_desk(rule, clock=ManualClock(start), outbox=True)
    waiting_ticket(desk, clock)
    desk.store.claim_outbox(start, lease=30 * DAY, limit=100)  # what the agent's work announced
    desk.run_due(now=start + DAY)
    (claim,) = desk.store.claim_outbox(start + DAY, lease=H, limit=100)
    assert isinstance(claim.message.event, CommentAdded)
    assert claim.message.event.body == "Any news on the printer?"
    assert not claim.message.event.is_response


def test_follow_ups_survive_a_restart_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    rule = AutoClose(after=27 * H)
    desk, clock = make_desk(rule, store=url)
    ticket = resolved_ticket(desk, clock, FRIDAY_4PM)
    desk.store.close()
    later, _ = make_desk(rule, clock=ManualClock(FRIDAY_4PM), store=url)
    assert len(later.run_due(now=datetime(2026, 3, 11, 15, 0, tzinfo=UTC))) == 1
    assert later.get(ticket.id).state == "closed"
    later.store.close()


def test_a_lifecycle_of_your_own_works_when_the_system_may_close():
    desk, clock = make_desk(
        AutoClose(after=DAY, business=False, states="solved"), lifecycle=simple()
    )
    ticket = desk.open_ticket(subject="Q", requester=ALICE)
    desk.transition(ticket.id, "solve", by=ANN, resolution="Answered.")
    assert len(desk.run_due(now=clock.now() + DAY)) == 1
    assert desk.get(ticket.id).state == "closed"


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (AutoClose(after=H, states="done"), "names state 'done', which lifecycle 'standard'"),
        (
            Reminder(after=H, then="resolve"),
            "fires 'resolve' from 'waiting_on_customer', which the system role may not do",
        ),
        (AutoClose(after=H, event="reopen"), "fires 'reopen' from 'resolved'"),
    ],
)
def test_a_rule_the_lifecycle_cannot_carry_out_is_refused(rule, message):
    with pytest.raises(ConfigError, match=message):
        make_desk(rule)


def test_follow_up_names_must_be_unique():
    with pytest.raises(ConfigError, match="follow-up names must be unique: auto_close"):
        make_desk(AutoClose(after=H), AutoClose(after=2 * H))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AutoClose(after=timedelta(0)), "AutoClose after must be a positive timedelta"),
        (lambda: Reminder(after=H, times=0), "times must be a whole number of at least 1"),
        (lambda: Reminder(after=H, every=-H), "Reminder every must be a positive timedelta"),
        (lambda: Reminder(after=H, message=" "), "message must be non-empty"),
        (lambda: AutoClose(after=H, name="a/b"), "without '/', ':' or spaces"),
    ],
)
def test_bad_rule_values_are_refused_with_the_value_named(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_new_rules_apply_through_set_sla():
    desk, clock = make_desk()
    ticket = resolved_ticket(desk, clock, FRIDAY_4PM)
    assert desk.run_due(now=FRIDAY_4PM + 30 * DAY) == []
    desk.set_sla([], open_tickets="recompute", follow_ups=[AutoClose(after=DAY, business=False)])
    assert len(desk.run_due(now=FRIDAY_4PM + 30 * DAY)) == 1
    assert desk.get(ticket.id).state == "closed"
