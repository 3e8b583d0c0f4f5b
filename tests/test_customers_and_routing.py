"""Customer tiers in policy conditions, a customer's ticket history, and
assignment when a ticket is opened."""

from datetime import UTC, datetime, timedelta

import pytest

from supportflow import (
    Actor,
    Agent,
    ConfigError,
    Customer,
    Desk,
    Directory,
    EscalationPolicy,
    Group,
    ManualClock,
    Match,
    Organization,
    SLAPolicy,
)
from supportflow.escalation import Action, Level, Trigger
from supportflow.events import Assigned, Escalated

H = timedelta(hours=1)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor.agent("ann")
DIRECTORY = Directory(
    organizations=[Organization("acme", tier="vip"), Organization("smallco")],
    customers=[
        Customer("alice@acme.example", organization="acme"),
        Customer("bob@smallco.example", organization="smallco"),
        Customer("carol@smallco.example", organization="smallco", tier="gold"),
    ],
    agents=[
        Agent("ann", groups=["front"]),
        Agent("ben", groups=["front"]),
        Agent("raj", groups=["senior"], tier="senior", available=False),
    ],
    groups=[Group("front"), Group("senior")],
)
VIP_SLA = SLAPolicy("vip", {"high": {"first_response": H / 4}}, applies_to=Match(tier="vip"))
STANDARD_SLA = SLAPolicy("standard", {"high": {"first_response": 4 * H}})


def make_desk(**options):
    return Desk(
        clock=ManualClock(START),
        directory=DIRECTORY,
        sla=[VIP_SLA, STANDARD_SLA],
        load_entry_points=False,
        **options,
    )


def test_the_requester_s_organisation_and_tier_are_recorded_when_the_ticket_opens():
    desk = make_desk()
    vip = desk.open_ticket(subject="Down", requester="alice@acme.example", priority="high")
    own_tier = desk.open_ticket(subject="Slow", requester="carol@smallco.example")
    plain = desk.open_ticket(subject="Slow", requester="bob@smallco.example")
    stranger = desk.open_ticket(subject="Hello", requester="dave@example.com")
    assert dict(vip.fields) == {"organization": "acme", "tier": "vip"}
    assert dict(own_tier.fields) == {"organization": "smallco", "tier": "gold"}
    assert dict(plain.fields) == {"organization": "smallco"}
    assert dict(stranger.fields) == {}
    # Given explicitly, the caller's value wins.
    told = desk.open_ticket(subject="x", requester="alice@acme.example", tier="standard")
    assert told.fields["tier"] == "standard"


def test_a_vip_customer_s_ticket_follows_the_vip_policy():
    desk = make_desk()
    vip = desk.open_ticket(subject="Down", requester="alice@acme.example", priority="high")
    plain = desk.open_ticket(subject="Down", requester="bob@smallco.example", priority="high")
    assert desk.sla(vip.id).policy == "vip"
    assert desk.sla(vip.id)["first_response"].current.target.within == H / 4
    assert desk.sla(plain.id).policy == "standard"
    # The tier is part of the history: a fresh replay agrees with the stored projection.
    assert desk.sla(vip.id, fresh=True) == desk.sla(vip.id)


def test_an_escalation_can_fire_at_once_for_a_key_account():
    page = EscalationPolicy(
        "key-account",
        [Level(Trigger.on_condition(Match(tier="vip", priority="urgent")), Action.add_tag("key"))],
    )
    desk = make_desk(escalation=[page])
    vip = desk.open_ticket(subject="Down", requester="alice@acme.example", priority="urgent")
    plain = desk.open_ticket(subject="Down", requester="bob@smallco.example", priority="urgent")
    desk.run_due(now=START)
    assert [e.level for e in desk.history(vip.id) if isinstance(e, Escalated)] == [1]
    assert "key" in desk.get(vip.id).tags
    assert not [e for e in desk.history(plain.id) if isinstance(e, Escalated)]


def test_a_customer_s_tickets_are_one_query_away():
    desk = make_desk()
    mine = [desk.open_ticket(subject=f"t{n}", requester="alice@acme.example").id for n in range(3)]
    desk.open_ticket(subject="other", requester="bob@smallco.example")
    assert [t.id for t in desk.tickets(requester="alice@acme.example")] == mine


def test_least_loaded_assignment_on_open_records_who_assigned():
    desk = make_desk(assign_on_open="least_loaded")
    desk.open_ticket(subject="held", requester="bob@smallco.example", assignee="ann", group="front")
    ticket = desk.open_ticket(subject="new", requester="bob@smallco.example", group="front")
    assert ticket.assignee == "ben"
    opened, routed = desk.history(ticket.id)
    assert opened.kind == "opened"
    assert isinstance(routed, Assigned)
    assert (routed.assignee, routed.group, routed.by) == ("ben", "front", Actor.system())


def test_round_robin_on_open_takes_turns():
    desk = make_desk(assign_on_open="round_robin")
    assignees = [
        desk.open_ticket(subject=f"t{n}", requester="bob@smallco.example", group="front").assignee
        for n in range(4)
    ]
    assert assignees == ["ann", "ben", "ann", "ben"]


def test_without_an_eligible_agent_the_ticket_waits_in_the_group_queue():
    desk = make_desk(assign_on_open="least_loaded")
    ticket = desk.open_ticket(subject="deep", requester="bob@smallco.example", group="senior")
    assert (ticket.assignee, ticket.group) == (None, "senior")
    assert [e.kind for e in desk.history(ticket.id)] == ["opened"]


def test_a_ticket_without_a_group_or_with_an_assignee_is_left_as_opened():
    desk = make_desk(assign_on_open="least_loaded")
    no_group = desk.open_ticket(subject="x", requester="bob@smallco.example")
    chosen = desk.open_ticket(
        subject="y", requester="bob@smallco.example", group="front", assignee=ANN
    )
    assert no_group.assignee is None
    assert chosen.assignee == "ann"
    assert [e.kind for e in desk.history(chosen.id)] == ["opened"]


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ConfigError, match="fastest"):
        make_desk(assign_on_open="fastest")
    with pytest.raises(ConfigError, match="assign_on_open takes an assignment strategy"):
        make_desk(assign_on_open=42)
