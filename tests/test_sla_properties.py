"""Properties of SLA clocks over random ticket histories."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportflow import (
    Actor,
    BusinessCalendar,
    Desk,
    InvalidTransition,
    ManualClock,
    SLAPolicy,
)
from supportflow.sla import ClockStatus

H = timedelta(hours=1)
AGENT = Actor.agent("ann")
SUPERVISOR = Actor.supervisor("sam")
CUSTOMER = Actor.customer("alice@example.com")
CALENDAR = BusinessCalendar.weekly("mon-fri 09:00-12:00,13:00-17:00", tz="Europe/Berlin")
POLICY = SLAPolicy(
    "p",
    {
        "urgent": {
            "first_response": H,
            "resolution": 4 * H,
            "next_response": H,
            "periodic_update": 2 * H,
        },
        "high": {
            "first_response": 2 * H,
            "resolution": 8 * H,
            "next_response": 2 * H,
            "periodic_update": 4 * H,
        },
        "medium": {"first_response": 4 * H, "resolution": 16 * H},
    },
    calendar=CALENDAR,
    warn_at=(0.5, 0.75),
)

ACTIONS = st.sampled_from(
    [
        "agent reply",
        "customer reply",
        "note",
        "priority:urgent",
        "priority:high",
        "priority:medium",
        "priority:low",
        "triage",
        "start",
        "wait_for_customer",
        "wait_for_third_party",
        "resume",
        "resolve",
        "reopen",
        "close",
    ]
)
HISTORIES = st.lists(
    st.tuples(ACTIONS, st.integers(min_value=0, max_value=60 * 30)), min_size=1, max_size=25
)
START = datetime(2026, 3, 26, 8, 0, tzinfo=UTC)  # the week DST starts in Berlin


def play(history):
    clock = ManualClock(START)
    desk = Desk(clock=clock, sla=[POLICY], load_entry_points=False)
    ticket = desk.open_ticket(subject="x", requester=CUSTOMER, priority="high")
    for action, minutes in history:
        clock.advance(timedelta(minutes=minutes))
        try:
            if action == "agent reply":
                desk.reply(ticket.id, "update", by=AGENT)
            elif action == "customer reply":
                desk.reply(ticket.id, "question", by=CUSTOMER)
            elif action == "note":
                desk.comment(ticket.id, "note", by=AGENT)
            elif action.startswith("priority:"):
                desk.set_priority(ticket.id, action.split(":")[1], by=AGENT)
            elif action == "resolve":
                desk.transition(ticket.id, "resolve", by=AGENT, resolution="done")
            else:
                desk.transition(ticket.id, action, by=AGENT)
        except InvalidTransition:
            pass  # not possible from the current state: the history just goes on
    return desk, ticket.id, clock


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(HISTORIES, st.integers(min_value=0, max_value=60 * 24 * 10))
def test_stored_projection_equals_fresh_replay(history, later_minutes):
    desk, ticket_id, clock = play(history)
    at = clock.now() + timedelta(minutes=later_minutes)
    assert desk.sla(ticket_id, at=at) == desk.sla(ticket_id, at=at, fresh=True)


@SETTINGS
@given(HISTORIES)
def test_replaying_the_same_history_gives_the_same_deadlines(history):
    first, first_id, clock = play(history)
    second, second_id, _ = play(history)
    one = first.sla(first_id, at=clock.now())
    two = second.sla(second_id, at=clock.now())
    for name in one:
        assert [c.due_at for c in one[name].cycles] == [c.due_at for c in two[name].cycles]
        assert [c.status for c in one[name].cycles] == [c.status for c in two[name].cycles]


@SETTINGS
@given(HISTORIES, st.lists(st.integers(min_value=0, max_value=60 * 24 * 5), min_size=2, max_size=4))
def test_breaches_are_sticky_and_elapsed_time_never_shrinks(history, offsets):
    desk, ticket_id, clock = play(history)
    instants = sorted(clock.now() + timedelta(minutes=m) for m in offsets)
    reports = [desk.sla(ticket_id, at=at) for at in instants]
    for earlier, later in itertools.pairwise(reports):
        for name in earlier:
            for a, b in zip(earlier[name].cycles, later[name].cycles, strict=True):
                assert b.elapsed >= a.elapsed
                if a.status is ClockStatus.BREACHED:
                    assert b.status is ClockStatus.BREACHED
                    assert b.breached_at == a.breached_at


@SETTINGS
@given(HISTORIES)
def test_a_running_clock_is_due_exactly_when_its_target_is_used_up(history):
    desk, ticket_id, clock = play(history)
    report = desk.sla(ticket_id, at=clock.now())
    for name in report:
        for cycle in report[name].cycles:
            if cycle.status is not ClockStatus.RUNNING or cycle.target is None:
                continue
            now = clock.now()
            # The running segment ends at the report's instant; a clock that
            # started at that very instant has none yet.
            running = cycle.segments and cycle.segments[-1][1] == now
            start = cycle.segments[-1][0] if running else now
            used_before = cycle.elapsed - CALENDAR.elapsed(start, now)
            assert used_before + CALENDAR.elapsed(start, cycle.due_at) == cycle.target.within
            assert cycle.remaining == cycle.target.within - cycle.elapsed


@SETTINGS
@given(HISTORIES)
def test_timer_keys_are_unique_and_name_their_clock(history):
    desk, ticket_id, _ = play(history)
    timers = desk.store.pending_timers(ticket_id)
    keys = [timer.key for timer in timers]
    assert len(keys) == len(set(keys))
    for timer in timers:
        assert timer.key == (
            f"{ticket_id}/{timer.metric}/{timer.cycle}/"
            f"{timer.kind if timer.threshold is None else f'{timer.kind}@{timer.threshold:g}'}"
            f"/g{timer.policy_set}v{timer.target_version}"
        )


@SETTINGS
@given(HISTORIES)
def test_run_due_never_fires_a_key_twice(history):
    desk, _, clock = play(history)
    fired = []
    for step in range(6):
        fired += [timer.key for timer in desk.run_due(now=clock.now() + step * 8 * H)]
    assert len(fired) == len(set(fired))


@SETTINGS
@given(HISTORIES)
def test_every_fired_timer_describes_what_the_report_says(history):
    desk, ticket_id, clock = play(history)
    for step in range(6):
        now = clock.now() + step * 8 * H
        for timer in desk.run_due(now=now):
            clock_report = desk.sla(ticket_id, at=now)[timer.metric].cycles[timer.cycle - 1]
            if timer.kind == "breach":
                assert clock_report.status is ClockStatus.BREACHED
                assert clock_report.breached_at <= now
            else:
                assert (timer.threshold, timer.at) in clock_report.warnings or (
                    clock_report.status is not ClockStatus.RUNNING
                )
