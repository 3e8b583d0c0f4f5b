"""SLA in the Desk: stored projections, timers, run_due, hooks and policy edits."""

from datetime import UTC, datetime, timedelta

import pytest

from supportflow import (
    Actor,
    BusinessCalendar,
    ConfigError,
    Desk,
    ManualClock,
    Match,
    NotFound,
    SLAPolicy,
    ValidationError,
    hookimpl,
)
from supportflow.sla import ClockStatus

H = timedelta(hours=1)
AGENT = Actor.agent("ann")
CUSTOMER = Actor.customer("alice@example.com")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = SLAPolicy(
    "standard",
    {
        "high": {"first_response": 2 * H, "resolution": 8 * H},
        "urgent": {"first_response": H, "resolution": 4 * H},
    },
    warn_at=(0.5, 0.75),
)


class SLAEvents:
    def __init__(self):
        self.seen = []

    @hookimpl
    def supportflow_sla_met(self, ticket, clock):
        self.seen.append(("met", clock.metric, clock.cycle, clock.met_at))

    @hookimpl
    def supportflow_sla_warning(self, ticket, clock, threshold):
        self.seen.append(("warning", clock.metric, threshold, clock.status))

    @hookimpl
    def supportflow_sla_breached(self, ticket, clock):
        self.seen.append(("breached", clock.metric, clock.breached_at))


@pytest.fixture
def clock():
    return ManualClock(START)


@pytest.fixture
def events():
    return SLAEvents()


@pytest.fixture
def desk(clock, events):
    return Desk(
        clock=clock,
        sla=[POLICY],
        calendar=BusinessCalendar.always("UTC"),
        plugins=[events],
        load_entry_points=False,
    )


def open_high(desk):
    return desk.open_ticket(subject="VPN", requester=CUSTOMER, priority="high")


def test_the_stored_projection_and_a_fresh_replay_agree(desk, clock):
    t = open_high(desk)
    clock.advance(H)
    desk.reply(t.id, "on it", by=AGENT)
    desk.transition(t.id, "wait_for_customer", by=AGENT)
    clock.advance(5 * H)
    desk.reply(t.id, "logs", by=CUSTOMER)
    for later in (timedelta(0), H, 30 * H):
        at = clock.now() + later
        assert desk.sla(t.id, at=at) == desk.sla(t.id, at=at, fresh=True)


def test_sla_needs_an_existing_ticket_and_an_aware_instant(desk):
    with pytest.raises(NotFound):
        desk.sla("nope")
    t = open_high(desk)
    with pytest.raises(ValidationError, match="naive"):
        desk.sla(t.id, at=datetime(2026, 3, 2, 12, 0))
    with pytest.raises(ValidationError, match="at or after it"):
        desk.sla(t.id, at=START - H)


def test_each_command_stores_the_next_timer_instants_with_stable_keys(desk):
    t = open_high(desk)
    timers = {timer.key: timer.at for timer in desk.store.pending_timers(t.id)}
    after = timedelta(microseconds=1)  # the deadline itself is still on time
    assert timers == {
        f"{t.id}/first_response/1/warning@0.5/g1v1": START + H,
        f"{t.id}/first_response/1/warning@0.75/g1v1": START + 1.5 * H,
        f"{t.id}/first_response/1/breach/g1v1": START + 2 * H + after,
        f"{t.id}/resolution/1/warning@0.5/g1v1": START + 4 * H,
        f"{t.id}/resolution/1/warning@0.75/g1v1": START + 6 * H,
        f"{t.id}/resolution/1/breach/g1v1": START + 8 * H + after,
    }


def test_run_due_fires_each_step_once_at_its_instant(desk, clock, events):
    t = open_high(desk)
    clock.advance(H - timedelta(seconds=1))
    assert desk.run_due() == []
    clock.advance(timedelta(seconds=1))
    fired = desk.run_due()
    assert [timer.key for timer in fired] == [f"{t.id}/first_response/1/warning@0.5/g1v1"]
    assert desk.run_due() == []
    clock.advance(2 * H)
    assert [timer.kind for timer in desk.run_due()] == ["warning", "breach"]
    assert desk.run_due(now=clock.now() + timedelta(days=1)) != []  # resolution's, later
    assert events.seen[:3] == [
        ("warning", "first_response", 0.5, ClockStatus.RUNNING),
        ("warning", "first_response", 0.75, ClockStatus.BREACHED),
        ("breached", "first_response", START + 2 * H),
    ]


def test_meeting_a_clock_cancels_its_pending_steps_and_fires_met(desk, clock, events):
    t = open_high(desk)
    clock.advance(H / 2)
    desk.reply(t.id, "on it", by=AGENT)
    keys = [timer.key for timer in desk.store.pending_timers(t.id)]
    assert not any("first_response" in key for key in keys)
    assert events.seen == [("met", "first_response", 1, START + H / 2)]
    clock.advance(3 * H)
    assert all(timer.metric == "resolution" for timer in desk.run_due())


def test_a_breach_detected_late_still_fires_exactly_once(desk, clock, events):
    t = open_high(desk)
    clock.advance(3 * H)
    desk.reply(t.id, "sorry for the wait", by=AGENT)  # breached at +2 h, then met
    fired = desk.run_due()
    assert [(timer.metric, timer.kind) for timer in fired if timer.kind == "breach"] == [
        ("first_response", "breach")
    ]
    assert ("breached", "first_response", START + 2 * H) in events.seen
    assert desk.run_due() == []


def test_a_priority_change_voids_the_old_timers(desk, clock):
    t = open_high(desk)
    clock.advance(H / 4)
    desk.set_priority(t.id, "urgent", by=AGENT)
    keys = [timer.key for timer in desk.store.pending_timers(t.id)]
    assert all(key.endswith("/g1v2") for key in keys)
    breach = next(
        timer
        for timer in desk.store.pending_timers(t.id)
        if timer.metric == "first_response" and timer.kind == "breach"
    )
    assert breach.at == START + H + timedelta(microseconds=1)  # urgent: 1 h from the start
    clock.advance(2 * H)
    fired = [timer.key for timer in desk.run_due()]
    assert not any(key.endswith("v1") for key in fired)


def test_set_sla_recompute_changes_open_tickets_but_never_closed_ones(desk, clock):
    open_ticket = open_high(desk)
    closed = open_high(desk)
    desk.transition(closed.id, "resolve", by=AGENT, resolution="done")
    desk.transition(closed.id, "close", by=AGENT)
    closed_before = desk.sla(closed.id, at=clock.now())
    stricter = SLAPolicy("stricter", {"high": {"first_response": H / 2, "resolution": 2 * H}})
    desk.set_sla([stricter], open_tickets="recompute")
    assert desk.sla(open_ticket.id)["first_response"].due_at == START + H / 2
    assert desk.sla(open_ticket.id).policy == "stricter"
    assert desk.sla(closed.id, at=clock.now()) == closed_before
    assert desk.sla_policies == (stricter,)


def test_set_sla_keep_leaves_open_tickets_on_their_policies(desk, clock):
    kept = open_high(desk)
    stricter = SLAPolicy("stricter", {"high": {"first_response": H / 2}})
    desk.set_sla([stricter], open_tickets="keep")
    new = open_high(desk)
    assert desk.sla(kept.id)["first_response"].due_at == START + 2 * H
    assert desk.sla(new.id)["first_response"].due_at == START + H / 2
    clock.advance(H)
    desk.reply(kept.id, "hello", by=AGENT)  # still follows the kept policy
    assert desk.sla(kept.id).policy == "standard"
    assert desk.sla(kept.id) == desk.sla(kept.id, fresh=True)


def test_set_sla_needs_an_explicit_choice(desk):
    with pytest.raises(ConfigError, match="'recompute' or 'keep'"):
        desk.set_sla([POLICY], open_tickets="maybe")


def test_policies_are_validated_against_the_desks_metrics():
    bad = SLAPolicy("typo", {"high": {"first_respones": H}})
    with pytest.raises(ConfigError, match="unknown metrics first_respones"):
        Desk(sla=[bad], load_entry_points=False)
    with pytest.raises(ConfigError, match="names must be unique: standard"):
        Desk(sla=[POLICY, POLICY], load_entry_points=False)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SLAPolicy("x", {"P9": {"resolution": H}}), "unknown priority 'P9'"),
        (lambda: SLAPolicy("x", {"high": {"resolution": -H}}), "positive timedelta"),
        (lambda: SLAPolicy("x", {"high": {"resolution": H}}, warn_at=(1.5,)), "between 0 and 1"),
        (lambda: Match(channel="fax"), "unknown channel 'fax'"),
    ],
)
def test_bad_policy_values_are_refused_with_the_value_named(build, message):
    with pytest.raises((ConfigError, ValidationError), match=message):
        build()


def test_the_first_matching_policy_applies_and_is_re_evaluated(clock):
    vip = SLAPolicy("vip", {"high": {"first_response": H / 2}}, applies_to=Match(tags="vip"))
    email = SLAPolicy(
        "email", {"high": {"first_response": 4 * H}}, applies_to=Match(channel="email")
    )
    desk = Desk(clock=clock, sla=[vip, email, POLICY], load_entry_points=False)
    t = desk.open_ticket(subject="x", requester=CUSTOMER, priority="high", channel="email")
    assert desk.sla(t.id).policy == "email"
    desk.update(t.id, by=AGENT, tags=["vip"])
    report = desk.sla(t.id)
    assert report.policy == "vip"
    assert report["first_response"].current.target_version == 2
    assert report["first_response"].due_at == START + H / 2


def test_desks_without_policies_keep_no_clocks(clock):
    desk = Desk(clock=clock, load_entry_points=False)
    t = desk.open_ticket(subject="x", requester=CUSTOMER)
    assert desk.store.sla_projection(t.id) is None
    assert desk.store.pending_timers(t.id) == ()
    assert desk.sla(t.id)["first_response"].due_at is None


def test_a_new_default_calendar_never_changes_closed_tickets(desk, clock):
    open_ticket = open_high(desk)
    closed = open_high(desk)
    desk.transition(closed.id, "resolve", by=AGENT, resolution="done")
    desk.transition(closed.id, "close", by=AGENT)
    before = desk.sla(closed.id, at=clock.now())
    office = BusinessCalendar.weekly("mon-fri 12:00-13:00", tz="UTC")
    desk.set_sla([POLICY], calendar=office, open_tickets="recompute")
    assert desk.calendar is office
    assert desk.sla(closed.id, at=clock.now()) == before
    # 2 h of first response at one hour a day: Tuesday 13:00.
    assert desk.sla(open_ticket.id)["first_response"].due_at == START + timedelta(days=1, hours=4)


def test_nothing_breaches_at_the_deadline_itself(desk, clock, events):
    t = open_high(desk)
    clock.set(START + 2 * H)
    assert [timer.kind for timer in desk.run_due()] == ["warning", "warning"]
    desk.reply(t.id, "just in time", by=AGENT)
    assert desk.sla(t.id)["first_response"].status is ClockStatus.MET
    clock.advance(H)
    assert all(timer.metric != "first_response" for timer in desk.run_due())
    assert not any(seen[0] == "breached" for seen in events.seen)


def test_a_breach_is_announced_once_even_after_a_priority_change(clock, events):
    policy = SLAPolicy("p", {"high": {"first_response": H}, "low": {"first_response": 8 * H}})
    desk = Desk(clock=clock, sla=[policy], plugins=[events], load_entry_points=False)
    t = open_high(desk)
    clock.advance(1.5 * H)
    assert [timer.kind for timer in desk.run_due()] == ["warning", "breach"]
    desk.set_priority(t.id, "low", by=AGENT)  # the breach at +1 h is sticky
    assert desk.sla(t.id)["first_response"].breached_at == START + H
    clock.advance(10 * H)
    assert [timer.kind for timer in desk.run_due()] == ["warning"]  # low's own 75 %
    assert [seen[0] for seen in events.seen].count("breached") == 1


def test_warnings_are_rescheduled_for_a_new_target(clock, events):
    policy = SLAPolicy(
        "p", {"high": {"resolution": 8 * H}, "medium": {"resolution": 24 * H}}, warn_at=(0.75,)
    )
    desk = Desk(clock=clock, sla=[policy], plugins=[events], load_entry_points=False)
    t = open_high(desk)
    clock.advance(6.5 * H)
    assert [(timer.metric, timer.kind) for timer in desk.run_due()] == [("resolution", "warning")]
    desk.set_priority(t.id, "medium", by=AGENT)
    assert desk.run_due() == []  # 6.5 h of 24 h is not 75 %
    [warning] = [p for p in desk.store.pending_timers(t.id) if p.kind == "warning"]
    assert warning.at == START + 18 * H


def test_recomputing_under_new_policies_announces_the_new_deadlines(desk, clock, events):
    t = open_high(desk)
    clock.advance(2.5 * H)
    assert "breach" in [timer.kind for timer in desk.run_due()]
    looser = SLAPolicy("looser", {"high": {"first_response": 4 * H}})
    desk.set_sla([looser], open_tickets="recompute")
    assert [timer.key.rsplit("/", 1)[1] for timer in desk.store.pending_timers(t.id)] == [
        "g2v1",
        "g2v1",
    ]
    clock.advance(2 * H)
    assert [timer.kind for timer in desk.run_due()] == ["warning", "breach"]  # at 3 h and 4 h
    assert desk.sla(t.id)["first_response"].breached_at == START + 4 * H


def test_met_is_not_announced_for_clocks_without_a_target(clock, events):
    desk = Desk(
        clock=clock,
        sla=[SLAPolicy("p", {"urgent": {"first_response": H}})],
        plugins=[events],
        load_entry_points=False,
    )
    t = open_high(desk)  # high: no target in this policy
    desk.reply(t.id, "hi", by=AGENT)
    assert events.seen == []
