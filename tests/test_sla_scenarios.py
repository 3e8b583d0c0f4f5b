"""SLA scenarios as tables: a ticket's life at given local instants, and the
deadlines (in UTC) the engine must compute. Every expected instant is worked
out by hand in the comment beside it."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from supportflow import Actor, BusinessCalendar, Desk, ManualClock, SLAPolicy, Target
from supportflow.sla import ClockStatus

AGENT = Actor.agent("ann")
CUSTOMER = Actor.customer("alice@example.com")
SUPERVISOR = Actor.supervisor("sam")
OFFICE = "mon-fri 09:00-12:00,13:00-17:00"  # with a lunch break
H = timedelta(hours=1)

TARGETS = {
    "urgent": {"first_response": 1 * H, "resolution": 2 * H, "next_response": 1 * H},
    "high": {
        "first_response": 2 * H,
        "resolution": 8 * H,
        "next_response": 4 * H,
        "periodic_update": 4 * H,
    },
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def play(steps, *, hours=OFFICE, tz="Europe/Berlin", holidays=(), targets=TARGETS):
    """Open a high-priority ticket at steps[0]'s instant and replay the rest.

    A step is (local time "YYYY-MM-DD HH:MM", action); actions: "open",
    "agent reply", "customer reply", "note", "priority:<p>", or an event name.
    """
    zone = ZoneInfo(tz)
    calendar = BusinessCalendar.weekly(hours, tz=tz, holidays=list(holidays))
    policy = SLAPolicy("contract", targets, calendar=calendar)
    clock = ManualClock(datetime.fromisoformat(steps[0][0]).replace(tzinfo=zone))
    desk = Desk(clock=clock, sla=[policy], load_entry_points=False)
    ticket_id = None
    for when, action in steps:
        clock.set(datetime.fromisoformat(when).replace(tzinfo=zone))
        if action == "open":
            ticket_id = desk.open_ticket(subject="VPN", requester=CUSTOMER, priority="high").id
        elif action == "agent reply":
            desk.reply(ticket_id, "working on it", by=AGENT)
        elif action == "customer reply":
            desk.reply(ticket_id, "any news?", by=CUSTOMER)
        elif action == "note":
            desk.comment(ticket_id, "internal", by=AGENT)
        elif action.startswith("priority:"):
            desk.set_priority(ticket_id, action.split(":")[1], by=AGENT)
        elif action == "resolve":
            desk.transition(ticket_id, "resolve", by=AGENT, resolution="fixed")
        elif action == "cancel":
            desk.transition(ticket_id, "cancel", by=SUPERVISOR, reason="duplicate")
        else:
            desk.transition(ticket_id, action, by=AGENT)
    return desk, ticket_id, clock


# Berlin is UTC+1 until 29 March 2026, then UTC+2 until 25 October 2026.
DUE_SCENARIOS = [
    pytest.param(
        [("2026-03-02 07:00", "open")],
        "first_response",
        "2026-03-02 10:00",  # counting starts at 09:00, 2 h later is 11:00 CET
        id="before-hours",
    ),
    pytest.param(
        [("2026-03-02 18:00", "open")],
        "first_response",
        "2026-03-03 10:00",  # Tue 09:00-11:00 CET
        id="after-hours",
    ),
    pytest.param(
        [("2026-03-06 16:00", "open")],
        "first_response",
        "2026-03-09 09:00",  # 1 h on Friday, 1 h on Monday: Mon 10:00 CET
        id="over-the-weekend",
    ),
    pytest.param(
        [("2026-03-02 11:30", "open")],
        "first_response",
        "2026-03-02 13:30",  # 30 min before lunch, 90 min after: 14:30 CET
        id="lunch-break",
    ),
    pytest.param(
        [("2026-03-02 15:00", "open")],
        "first_response",
        "2026-03-02 16:00",  # uses the day's last business second: Mon 17:00 CET, not Tue
        id="closing-instant",
    ),
    pytest.param(
        [("2026-03-02 09:00", "open")],
        "resolution",
        "2026-03-03 09:00",  # the day holds 7 h (09-12, 13-17); the 8th is Tue 09-10 CET
        id="resolution-into-the-next-day",
    ),
    pytest.param(
        [("2026-03-27 16:00", "open")],
        "first_response",
        "2026-03-30 08:00",  # Fri 16-17 CET, Mon 09-10 CEST (DST began Sunday)
        id="dst-spring-week",
    ),
    pytest.param(
        [("2026-10-23 16:00", "open")],
        "first_response",
        "2026-10-26 09:00",  # Fri 16-17 CEST, Mon 09-10 CET (DST ended Sunday)
        id="dst-autumn-week",
    ),
]


@pytest.mark.parametrize(("steps", "metric", "due_utc"), DUE_SCENARIOS)
def test_deadlines(steps, metric, due_utc):
    desk, ticket_id, _ = play(steps)
    assert desk.sla(ticket_id)[metric].due_at == utc(due_utc)


def test_holidays_are_skipped():
    # Good Friday 3 April and Easter Monday 6 April 2026 are holidays.
    desk, ticket_id, _ = play(
        [("2026-04-02 16:00", "open")], holidays=[date(2026, 4, 3), date(2026, 4, 6)]
    )
    # 1 h on Thursday, 1 h on Tuesday 7 April: 10:00 CEST.
    assert desk.sla(ticket_id)["first_response"].due_at == utc("2026-04-07 08:00")


def test_overnight_shift_belongs_to_the_day_it_starts():
    desk, ticket_id, _ = play([("2026-03-02 23:00", "open")], hours="mon-fri 22:00-06:00")
    # Monday's shift runs 22:00-06:00; 2 h from 23:00 is Tue 01:00 CET.
    assert desk.sla(ticket_id)["first_response"].due_at == utc("2026-03-03 00:00")


def test_new_york_spring_forward():
    desk, ticket_id, _ = play(
        [("2026-03-06 16:00", "open")], hours="mon-fri 09:00-17:00", tz="America/New_York"
    )
    # Fri 16-17 EST (UTC-5), Mon 09-10 EDT (UTC-4, DST began Sunday 8 March).
    assert desk.sla(ticket_id)["first_response"].due_at == utc("2026-03-09 14:00")


def test_calendar_time_targets_ignore_business_hours():
    targets = {"high": {"first_response": Target(2 * H, business=False)}}
    desk, ticket_id, _ = play([("2026-03-06 16:00", "open")], targets=targets)
    assert desk.sla(ticket_id)["first_response"].due_at == utc("2026-03-06 17:00")


def test_pause_and_resume_across_a_weekend():
    desk, ticket_id, _ = play(
        [
            ("2026-03-06 09:00", "open"),
            ("2026-03-06 11:00", "triage"),
            ("2026-03-06 11:00", "wait_for_customer"),  # 2 h used
            ("2026-03-09 10:00", "customer reply"),  # resumes on Monday
        ]
    )
    resolution = desk.sla(ticket_id)["resolution"]
    assert resolution.status is ClockStatus.RUNNING
    # 6 h left from Mon 10:00: 10-12 and 13-17, the day's closing instant.
    assert resolution.due_at == utc("2026-03-09 16:00")
    assert [(start, end) for start, end in resolution.current.segments[:1]] == [
        (utc("2026-03-06 08:00"), utc("2026-03-06 10:00"))
    ]


def test_a_weekend_spent_waiting_pauses_nothing_more_than_business_time():
    desk, ticket_id, _ = play(
        [
            ("2026-03-06 16:00", "open"),
            ("2026-03-06 16:30", "triage"),
            ("2026-03-06 16:30", "wait_for_customer"),
            ("2026-03-09 09:00", "customer reply"),
        ]
    )
    assert desk.sla(ticket_id, at=utc("2026-03-09 08:00"))["resolution"].elapsed == H / 2


def test_resolving_while_paused_meets_resolution_with_the_time_used():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 10:00", "triage"),
            ("2026-03-02 10:00", "wait_for_customer"),
            ("2026-03-04 10:00", "resolve"),
        ]
    )
    resolution = desk.sla(ticket_id)["resolution"]
    assert resolution.status is ClockStatus.MET
    assert resolution.met_at == utc("2026-03-04 09:00")
    assert resolution.elapsed == H


def test_reopening_resumes_resolution_and_time_spent_resolved_is_paused():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 11:00", "resolve"),  # 2 h used
            ("2026-03-03 09:00", "customer reply"),  # reopens
        ]
    )
    resolution = desk.sla(ticket_id)["resolution"]
    assert resolution.status is ClockStatus.RUNNING
    assert resolution.met_at is None
    # 6 h left from Tue 09:00: 09-12, 13-16.
    assert resolution.due_at == utc("2026-03-03 15:00")
    assert len(resolution.cycles) == 1


def test_priority_change_recomputes_from_the_start_keeping_pauses():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 11:00", "triage"),
            ("2026-03-02 11:00", "wait_for_customer"),  # 2 h used
            ("2026-03-03 09:00", "customer reply"),
            ("2026-03-03 09:30", "priority:urgent"),  # 2.5 h used; urgent allows 2 h
        ]
    )
    resolution = desk.sla(ticket_id)["resolution"].current
    assert resolution.target.within == 2 * H
    assert resolution.target_version == 2
    # The new target was used up at Mon 11:00 CET; it breached when it took effect.
    assert resolution.due_at == utc("2026-03-02 10:00")
    assert resolution.breached_at == utc("2026-03-03 08:30")
    assert resolution.status is ClockStatus.BREACHED


def test_priority_lowered_gives_more_time():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 10:00", "priority:urgent"),  # 1 h used of urgent's 2 h
            ("2026-03-02 10:30", "priority:high"),  # back to 8 h
        ]
    )
    resolution = desk.sla(ticket_id)["resolution"].current
    assert resolution.target_version == 3
    assert resolution.due_at == utc("2026-03-03 09:00")  # 8 h from Mon 09:00 CET: Tue 10:00


def test_first_response_against_next_response_cycles():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 09:30", "agent reply"),  # meets first_response
            ("2026-03-02 10:00", "customer reply"),  # next_response cycle 1
            ("2026-03-02 10:30", "customer reply"),  # same cycle: still unanswered
            ("2026-03-02 11:00", "agent reply"),  # meets cycle 1
            ("2026-03-02 14:00", "customer reply"),  # cycle 2
        ]
    )
    report = desk.sla(ticket_id)
    assert report["first_response"].status is ClockStatus.MET
    assert report["first_response"].met_at == utc("2026-03-02 08:30")
    cycles = report["next_response"].cycles
    assert [c.status for c in cycles] == [ClockStatus.MET, ClockStatus.RUNNING]
    assert cycles[0].started_at == utc("2026-03-02 09:00")
    assert cycles[0].met_at == utc("2026-03-02 10:00")
    # 4 h from Mon 14:00: 14-17 and Tue 09-10 CET.
    assert cycles[1].due_at == utc("2026-03-03 09:00")


def test_internal_notes_and_customer_messages_never_count_as_a_response():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 09:10", "note"),
            ("2026-03-02 09:20", "customer reply"),
        ]
    )
    report = desk.sla(ticket_id)
    assert report["first_response"].status is ClockStatus.RUNNING
    assert report["next_response"].status is ClockStatus.NOT_STARTED


def test_a_breach_is_sticky_when_met_paused_or_resolved_later():
    desk, ticket_id, clock = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 12:00", "agent reply"),  # 2 h target passed at 11:00
        ]
    )
    first = desk.sla(ticket_id)["first_response"]
    assert first.status is ClockStatus.BREACHED
    assert first.breached_at == utc("2026-03-02 10:00")
    assert first.met_at == utc("2026-03-02 11:00")
    desk.transition(ticket_id, "wait_for_customer", by=AGENT)
    desk.transition(ticket_id, "resolve", by=AGENT, resolution="done")
    clock.advance(timedelta(days=10))
    assert desk.sla(ticket_id)["first_response"].breached_at == utc("2026-03-02 10:00")


def test_warnings_pass_at_their_fraction_of_the_target():
    desk, ticket_id, _ = play([("2026-03-02 09:00", "open")])
    report = desk.sla(ticket_id, at=utc("2026-03-02 08:00") + 2 * H)
    # 75 % of 2 h is 90 min: Mon 10:30 CET.
    assert report["first_response"].warnings == ((0.75, utc("2026-03-02 09:30")),)


def test_periodic_updates_are_due_while_active_and_restart_with_each_update():
    desk, ticket_id, _ = play(
        [
            ("2026-03-02 09:00", "open"),
            ("2026-03-02 09:00", "triage"),  # active: first update due in 4 h
            ("2026-03-02 11:00", "agent reply"),  # meets it, next one due 4 h later
            ("2026-03-02 14:00", "wait_for_customer"),  # nothing due while waiting
        ]
    )
    cycles = desk.sla(ticket_id)["periodic_update"].cycles
    assert [c.status for c in cycles] == [ClockStatus.MET, ClockStatus.STOPPED]
    assert cycles[0].due_at == utc("2026-03-02 13:00")  # 09-12, 13-14 CET
    assert cycles[1].started_at == utc("2026-03-02 10:00")


def test_cancelling_stops_the_clocks():
    desk, ticket_id, _ = play([("2026-03-02 09:00", "open"), ("2026-03-02 09:30", "cancel")])
    report = desk.sla(ticket_id)
    assert report["first_response"].status is ClockStatus.STOPPED
    assert report["resolution"].status is ClockStatus.STOPPED


def test_explain_lists_what_was_counted():
    desk, ticket_id, _ = play(
        [
            ("2026-03-06 16:00", "open"),
            ("2026-03-09 10:30", "agent reply"),
        ]
    )
    text = desk.sla(ticket_id)["first_response"].explain()
    assert "policy 'contract': 2h00m00s of business time" in text
    assert "ran 2026-03-06 15:00:00 UTC -> 2026-03-09 09:30:00 UTC: counted 2h30m00s" in text
    assert "due 2026-03-09 09:00:00 UTC" in text
    assert "breached 2026-03-09 09:00:00 UTC" in text


def test_a_ticket_without_a_matching_policy_has_clocks_without_targets():
    calendar = BusinessCalendar.always("UTC")
    policy = SLAPolicy(
        "vip", {"high": {"first_response": H}}, applies_to=lambda ticket: "vip" in ticket.tags
    )
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    desk = Desk(clock=clock, sla=[policy], calendar=calendar, load_entry_points=False)
    plain = desk.open_ticket(subject="x", requester=CUSTOMER, priority="high")
    vip = desk.open_ticket(subject="x", requester=CUSTOMER, priority="high", tags=["vip"])
    assert desk.sla(plain.id)["first_response"].due_at is None
    assert desk.sla(plain.id).policy is None
    assert desk.sla(vip.id)["first_response"].due_at == utc("2026-03-02 10:00")
