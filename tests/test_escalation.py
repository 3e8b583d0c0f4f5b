"""Escalation chains on a ManualClock: when steps fire, what they do, and what stops them."""

from datetime import UTC, datetime, timedelta

import pytest

from supportflow import (
    Actor,
    Agent,
    BusinessCalendar,
    ConfigError,
    Desk,
    Directory,
    EscalationPolicy,
    Group,
    ManualClock,
    SLAPolicy,
    hookimpl,
)
from supportflow.escalation import Action, Level, Trigger, parse_step_key
from supportflow.events import Assigned, Escalated, PriorityChanged

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
ANN = Actor.agent("ann")
ALICE = "alice@example.com"
# No SLA warnings: the tests look at escalation steps.
SLA = SLAPolicy("standard", {"high": {"first_response": H, "resolution": 8 * H}}, warn_at=())
DIRECTORY = Directory(
    agents=[
        Agent("ann", groups=["front"], supervisor="sam"),
        Agent("raj", groups=["senior"], tier="senior", supervisor="sam"),
        Agent("lea", groups=["senior"], tier="senior", supervisor="sam"),
        Agent("sam", groups=["managers"], tier="manager"),
    ],
    groups=[Group("front", supervisor="sam"), Group("senior", supervisor="sam"), Group("managers")],
)


class Seen:
    def __init__(self):
        self.escalated = []
        self.custom = []

    @hookimpl
    def supportflow_escalated(self, ticket, event):
        self.escalated.append(event)

    @hookimpl
    def supportflow_escalation_action(self, ticket, action, event):
        self.custom.append((action.value, event.level))


def make_desk(*policies, sla=(SLA,), **options):
    clock = ManualClock(START)
    seen = Seen()
    desk = Desk(
        clock=clock,
        sla=sla,
        escalation=policies,
        directory=DIRECTORY,
        plugins=[seen],
        load_entry_points=False,
        **options,
    )
    return desk, clock, seen


def escalations(desk, ticket_id):
    return [e for e in desk.history(ticket_id) if isinstance(e, Escalated)]


def steps(desk, now):
    """Run the due work at ``now``; the escalation steps it fired (SLA breaches aside)."""
    return [t for t in desk.run_due(now=now) if t.kind == "escalation"]


def tick_until(desk, clock, end, step=MINUTE):
    while clock.now() < end:
        clock.advance(step)
        desk.run_due()


BREACH_PAGES_SUPERVISOR = EscalationPolicy(
    "page",
    [Level(Trigger.at_breach(), Action.notify("supervisor"))],
    metric="first_response",
)


def test_a_step_fires_at_its_due_instant_not_a_microsecond_before():
    desk, _, seen = make_desk(BREACH_PAGES_SUPERVISOR)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    due = START + H + timedelta(microseconds=1)  # the first instant of the breach
    assert steps(desk, due - timedelta(seconds=1)) == []
    assert steps(desk, due - timedelta(microseconds=1)) == []
    (fired,) = steps(desk, due)
    assert (fired.kind, fired.at) == ("escalation", due)
    assert steps(desk, due + timedelta(seconds=1)) == []  # once, ever
    (event,) = escalations(desk, ticket.id)
    assert (event.policy, event.level, event.loop, event.mode) == ("page", 1, 0, "hierarchical")
    assert event.targets == ("supervisor",)
    assert event.by == Actor.system()
    assert event.step == fired.key
    assert seen.escalated == [event]


def test_a_late_runner_fires_the_step_once_when_it_gets_there():
    desk, _, _ = make_desk(BREACH_PAGES_SUPERVISOR)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    assert len(steps(desk, START + 5 * H)) == 1
    assert len(escalations(desk, ticket.id)) == 1


def test_two_levels_looping_twice_fire_l1_l2_three_times_at_their_offsets_then_stop():
    chain = EscalationPolicy(
        "chain",
        [
            Level(Trigger.fraction(0.5), Action.notify("assignee")),
            Level(Trigger.at_breach(), Action.notify("supervisor")),
        ],
        metric="first_response",
        loops=2,
        loop_every=H,
    )
    desk, clock, _ = make_desk(chain)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    tick_until(desk, clock, START + 6 * H)
    fired = [(e.level, e.loop, e.at - START) for e in escalations(desk, ticket.id)]
    tiny = timedelta(microseconds=1)
    assert [(level, loop) for level, loop, _ in fired] == [
        (1, 0),
        (2, 0),
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 2),
    ]
    # Each fired on the first tick at or after its due instant.
    due = [0.5 * H, H + tiny, 1.5 * H, 2 * H + tiny, 2.5 * H, 3 * H + tiny]
    for (_, _, at), when in zip(fired, due, strict=True):
        assert when <= at < when + MINUTE


def test_acknowledging_mid_chain_stops_the_later_levels():
    chain = EscalationPolicy(
        "chain",
        [
            Level(Trigger.fraction(0.5), Action.notify("assignee")),
            Level(Trigger.at_breach(), Action.notify("supervisor")),
        ],
        metric="first_response",
    )
    desk, clock, _ = make_desk(chain)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    tick_until(desk, clock, START + 40 * MINUTE)
    assert [e.level for e in escalations(desk, ticket.id)] == [1]
    desk.reply(ticket.id, "We are on it.", by=ANN)  # acknowledges: meets first response
    tick_until(desk, clock, START + 5 * H)
    assert [e.level for e in escalations(desk, ticket.id)] == [1]
    assert desk.store.pending_timers(ticket.id) == () or all(
        t.kind != "escalation" for t in desk.store.pending_timers(ticket.id)
    )


def test_a_notification_window_delays_a_step_to_the_next_business_morning():
    office = BusinessCalendar.weekly("mon-fri 09:00-17:00", tz="Europe/Berlin")
    night = EscalationPolicy(
        "manager-in-office-hours",
        [Level(Trigger.at_breach(), Action.notify("supervisor"), window=office)],
        metric="first_response",
    )
    desk, clock, _ = make_desk(night)
    clock.set(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # 21:00 in Berlin
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    (timer,) = [t for t in desk.store.pending_timers(ticket.id) if t.kind == "escalation"]
    assert timer.at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 Berlin on Tuesday
    assert steps(desk, datetime(2026, 3, 3, 7, 59, tzinfo=UTC)) == []
    assert len(steps(desk, timer.at)) == 1


def test_functional_escalation_hands_the_ticket_to_the_least_loaded_senior():
    to_senior = EscalationPolicy(
        "to-senior",
        [Level(Trigger.at_breach(), Action.reassign(group="senior", tier="senior"))],
        metric="first_response",
    )
    desk, _, seen = make_desk(to_senior)
    busy = desk.open_ticket(subject="other", requester="bob@example.com", priority="low")
    desk.assign(busy.id, "raj", group="senior", by=ANN)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high", group="front")
    desk.run_due(now=START + 2 * H)
    history = desk.history(ticket.id)
    escalated, assigned = history[-2], history[-1]
    assert isinstance(escalated, Escalated)
    assert (escalated.mode, escalated.targets) == ("functional", ("lea",))
    assert isinstance(assigned, Assigned)
    assert (assigned.assignee, assigned.group, assigned.previous_group) == (
        "lea",
        "senior",
        "front",
    )
    assert desk.get(ticket.id).assignee == "lea"
    assert [e.mode for e in seen.escalated] == ["functional"]


def test_raise_priority_custom_actions_tags_and_watchers():
    policy = EscalationPolicy(
        "everything",
        [
            Level(
                Trigger.fraction(0.5),
                [
                    Action.raise_priority(),
                    Action.add_tag("escalated"),
                    Action.add_watcher("sam"),
                    Action.custom("page-oncall"),
                ],
            )
        ],
        metric="first_response",
    )
    desk, _, seen = make_desk(policy)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    desk.run_due(now=START + H)
    after = desk.get(ticket.id)
    assert after.priority.value == "urgent"
    assert "escalated" in after.tags
    assert after.fields["watchers"] == ["sam"]
    assert seen.custom == [("page-oncall", 1)]
    raised = [e for e in desk.history(ticket.id) if isinstance(e, PriorityChanged)]
    assert raised[0].reason == "escalation everything level 1"


def test_a_priority_change_voids_the_steps_of_the_old_target():
    desk, _, _ = make_desk(
        BREACH_PAGES_SUPERVISOR,
        sla=(
            SLAPolicy(
                "two",
                {"high": {"first_response": H}, "low": {"first_response": 4 * H}},
                warn_at=(),
            ),
        ),
    )
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    (old,) = [t for t in desk.store.pending_timers(ticket.id) if t.kind == "escalation"]
    desk.set_priority(ticket.id, "low", by=ANN)
    (new,) = [t for t in desk.store.pending_timers(ticket.id) if t.kind == "escalation"]
    assert old.key != new.key
    assert new.target_version == old.target_version + 1
    assert steps(desk, START + 2 * H) == []
    assert len(steps(desk, START + 5 * H)) == 1


def test_closed_and_merged_tickets_never_escalate():
    desk, clock, _ = make_desk(
        EscalationPolicy("resolution", [Level(Trigger.at_breach(), Action.notify("supervisor"))])
    )
    closed = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    merged = desk.open_ticket(subject="VPN again", requester=ALICE, priority="high")
    desk.transition(closed.id, "resolve", by=ANN, resolution="fixed")
    desk.transition(closed.id, "close", by=ANN)
    main = desk.open_ticket(subject="main", requester=ALICE, priority="low")
    desk.merge(merged.id, main.id, by=ANN)
    tick_until(desk, clock, START + 12 * H, step=H)
    assert escalations(desk, closed.id) == []
    assert escalations(desk, merged.id) == []


def test_a_condition_level_fires_at_once_for_key_accounts():
    vip = {"alice@example.com"}
    policy = EscalationPolicy(
        "vip",
        [
            Level(
                Trigger.on_condition(lambda t: t.requester in vip and t.priority.value == "urgent"),
                Action.notify("supervisor"),
            )
        ],
    )
    desk, _, _ = make_desk(policy)
    ticket = desk.open_ticket(subject="Down", requester=ALICE, priority="urgent")
    other = desk.open_ticket(subject="Down", requester="bob@example.com", priority="urgent")
    desk.run_due(now=START)
    assert [e.level for e in escalations(desk, ticket.id)] == [1]
    assert escalations(desk, other.id) == []


def test_steps_due_before_the_policy_existed_are_skipped():
    policy = EscalationPolicy(
        "new-rule",
        [
            Level(Trigger.fraction(0.5), Action.notify("assignee")),
            Level(Trigger.at_breach(), Action.notify("supervisor")),
        ],
        metric="first_response",
        not_before=START + 45 * MINUTE,
    )
    desk, _, _ = make_desk(policy)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    desk.run_due(now=START + 3 * H)
    assert [e.level for e in escalations(desk, ticket.id)] == [2]


def test_step_keys_name_the_clock_policy_level_loop_and_target_version():
    desk, _, _ = make_desk(BREACH_PAGES_SUPERVISOR)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    (timer,) = [t for t in desk.store.pending_timers(ticket.id) if t.kind == "escalation"]
    assert timer.key == f"{ticket.id}/first_response/1/esc:page:1.0.0/g1v1"
    step = parse_step_key(timer.key)
    assert (step.policy, step.level, step.loop, step.repeat) == ("page", 1, 0, 0)
    assert parse_step_key(f"{ticket.id}/first_response/1/breach/g1v1") is None


def test_policies_are_checked_when_built_and_installed():
    with pytest.raises(ConfigError, match="firing order"):
        EscalationPolicy(
            "backwards",
            [
                Level(Trigger.at_breach(), Action.notify("supervisor")),
                Level(Trigger.fraction(0.5), Action.notify("assignee")),
            ],
        )
    with pytest.raises(ConfigError, match="loop_every"):
        EscalationPolicy("loops", [Level(Trigger.at_breach(), Action.notify("x"))], loops=2)
    with pytest.raises(ConfigError, match="at least one level"):
        EscalationPolicy("empty", [])
    with pytest.raises(ConfigError, match="repeats are bounded"):
        Level(Trigger.at_breach(), Action.notify("x"), repeat_every=H)
    with pytest.raises(ConfigError, match="unknown metric 'speed'"):
        make_desk(
            EscalationPolicy("m", [Level(Trigger.at_breach(), Action.notify("x"))], metric="speed")
        )
    with pytest.raises(ConfigError, match="unknown group 'night-shift'"):
        make_desk(
            EscalationPolicy(
                "g", [Level(Trigger.at_breach(), Action.reassign(group="night-shift"))]
            )
        )
    with pytest.raises(ConfigError, match="above 0"):
        Trigger.fraction(0)


def test_a_level_repeats_while_the_clock_runs_up_to_its_bound():
    policy = EscalationPolicy(
        "nag",
        [Level(Trigger.at_breach(), Action.notify("supervisor"), repeat_every=H, max_repeats=2)],
        metric="first_response",
    )
    desk, clock, _ = make_desk(policy)
    ticket = desk.open_ticket(subject="VPN", requester=ALICE, priority="high")
    tick_until(desk, clock, START + 6 * H, step=10 * MINUTE)
    assert [e.repeat for e in escalations(desk, ticket.id)] == [0, 1, 2]


def test_raising_the_priority_does_not_replay_the_levels_already_carried_out():
    sla = SLAPolicy(
        "tiered",
        {"high": {"resolution": 8 * H}, "urgent": {"resolution": 4 * H}},
        warn_at=(),
    )
    policy = EscalationPolicy(
        "climb",
        [
            Level(Trigger.fraction(0.5), Action.add_tag("half-way")),
            Level(Trigger.at_breach(), Action.raise_priority()),
            Level(Trigger.after_breach(2 * H), Action.notify("supervisor")),
        ],
    )
    desk, clock, _ = make_desk(policy, sla=(sla,))
    ticket = desk.open_ticket(subject="Outage", requester=ALICE, priority="high")
    tick_until(desk, clock, START + 8 * H + MINUTE)
    # Level 2 raised the priority. Under the urgent target (4 h) the ticket is
    # four hours past its breach: level 3 (breach + 2 h) is overdue and follows
    # at once, but levels 1 and 2 already happened in this cycle and do not
    # happen again under the new target.
    assert desk.get(ticket.id).priority.value == "urgent"
    fired = escalations(desk, ticket.id)
    assert [e.level for e in fired] == [1, 2, 3]
    assert [e.at for e in fired] == [START + 4 * H, START + 8 * H + MINUTE, START + 8 * H + MINUTE]
    tick_until(desk, clock, START + 48 * H, step=H)
    assert [e.level for e in escalations(desk, ticket.id)] == [1, 2, 3]
