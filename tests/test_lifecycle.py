"""Lifecycle definitions: validation, firing, plain-data forms and diagrams."""

from datetime import UTC, datetime

import pytest

from supportflow import (
    Actor,
    Category,
    Channel,
    InvalidTransition,
    Lifecycle,
    LifecycleError,
    PermissionDenied,
    Priority,
    Reaction,
    State,
    Ticket,
    Transition,
    lifecycles,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor.agent("ann")


def ticket_in(state: str, **changes) -> Ticket:
    values = dict(
        id="t-1",
        subject="VPN down",
        requester="alice@example.com",
        channel=Channel.EMAIL,
        priority=Priority.HIGH,
        state=state,
        version=3,
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(changes)
    return Ticket(**values)


def tiny(**overrides) -> Lifecycle:
    spec = dict(
        name="tiny",
        initial="open",
        states=[
            State("open", "active"),
            State("done", "resolved"),
            State("closed", "closed"),
        ],
        transitions=[
            Transition("finish", ["open"], "done"),
            Transition("close", ["done"], "closed"),
        ],
    )
    spec.update(overrides)
    return Lifecycle(**spec)


# -- the shipped lifecycles ------------------------------------------------------------


def test_standard_lifecycle_has_the_classic_states_and_events():
    lc = lifecycles.standard()
    assert lc.state_names == (
        "new",
        "acknowledged",
        "triaged",
        "in_progress",
        "waiting_on_customer",
        "waiting_on_third_party",
        "resolved",
        "closed",
        "cancelled",
        "merged",
    )
    assert lc.event_names == (
        "acknowledge",
        "triage",
        "start",
        "wait_for_customer",
        "wait_for_third_party",
        "resume",
        "resolve",
        "reopen",
        "close",
        "cancel",
        "merge",
    )
    assert lc.initial == "new"
    assert lc.states_in("closed") == {"closed", "cancelled", "merged"}
    assert lc.states_in(Category.WAITING) == {"waiting_on_customer", "waiting_on_third_party"}


@pytest.mark.parametrize(
    ("state", "role", "events"),
    [
        ("new", "agent", ("acknowledge", "triage", "resolve", "merge")),
        ("new", "supervisor", ("acknowledge", "triage", "resolve", "cancel", "merge")),
        ("new", "customer", ()),
        ("resolved", "customer", ("reopen", "close")),
        ("resolved", "system", ("close",)),
        ("closed", "supervisor", ()),
    ],
)
def test_standard_rights_per_transition(state, role, events):
    assert lifecycles.standard().allowed_events(state, role) == events


def test_simple_lifecycle_is_zendesk_like():
    lc = lifecycles.simple()
    assert lc.state_names == ("open", "pending", "solved", "closed")
    assert [lc.category(s) for s in lc.state_names] == [
        Category.ACTIVE,
        Category.WAITING,
        Category.RESOLVED,
        Category.CLOSED,
    ]
    assert lc.merge_event is None


# -- firing ------------------------------------------------------------------------------


def test_fire_returns_the_destination_without_changing_the_ticket():
    ticket = ticket_in("new")
    assert lifecycles.standard().fire(ticket, "acknowledge", ANN, {}) == "acknowledged"
    assert ticket.state == "new"


def test_event_not_possible_from_the_state_names_the_state_and_the_possible_events():
    with pytest.raises(InvalidTransition) as caught:
        lifecycles.standard().fire(ticket_in("new"), "close", ANN, {})
    error = caught.value
    assert "'close' is not possible from state 'new'" in str(error)
    assert "possible events are acknowledge, triage, resolve, cancel, merge" in str(error)
    assert (error.state, error.event) == ("new", "close")
    assert error.allowed == ("acknowledge", "triage", "resolve", "cancel", "merge")


def test_unknown_event_lists_the_lifecycles_events():
    with pytest.raises(
        InvalidTransition, match="has no event 'explode'; its events are acknowledge"
    ):
        lifecycles.standard().fire(ticket_in("new"), "explode", ANN, {})


def test_a_state_with_no_way_out_says_so():
    with pytest.raises(InvalidTransition, match="state 'closed' has no way out"):
        lifecycles.standard().fire(ticket_in("closed"), "reopen", ANN, {})


def test_role_without_the_right_is_denied_with_the_allowed_roles_named():
    with pytest.raises(PermissionDenied, match=r"may not fire 'cancel'.*allowed to supervisor"):
        lifecycles.standard().fire(ticket_in("new"), "cancel", ANN, {"reason": "dup"})


@pytest.mark.parametrize("resolution", [None, "", "   "])
def test_resolve_requires_a_resolution(resolution):
    data = {} if resolution is None else {"resolution": resolution}
    with pytest.raises(InvalidTransition, match="'resolve' requires 'resolution'"):
        lifecycles.standard().fire(ticket_in("in_progress"), "resolve", ANN, data)


def test_rights_can_be_skipped_for_configured_automation():
    lc = lifecycles.standard()
    customer = Actor.customer("alice@example.com")
    assert lc.fire(
        ticket_in("waiting_on_customer"), "resume", customer, {}, check_rights=False
    ) == ("in_progress")


def test_builtin_assigned_guard():
    lc = tiny(
        transitions=[
            Transition("finish", ["open"], "done", guards=["assigned"]),
            Transition("close", ["done"], "closed"),
        ]
    )
    with pytest.raises(
        InvalidTransition, match="guard 'assigned' refused 'finish': the ticket has no assignee"
    ):
        lc.fire(ticket_in("open"), "finish", ANN, {})
    assert lc.fire(ticket_in("open", assignee="ann"), "finish", ANN, {}) == "done"


def test_custom_guards_see_the_ticket_actor_event_and_data():
    seen = []

    def senior_only(context):
        seen.append((context.ticket.id, context.actor.id, context.event, dict(context.data)))
        return None if context.actor.tier == "senior" else "only senior engineers may finish"

    lc = tiny(
        transitions=[
            Transition("finish", ["open"], "done", guards=["senior_only"]),
            Transition("close", ["done"], "closed"),
        ],
        guards={"senior_only": senior_only},
    )
    with pytest.raises(InvalidTransition, match="only senior engineers may finish"):
        lc.fire(ticket_in("open"), "finish", ANN, {"note": "x"})
    assert lc.fire(ticket_in("open"), "finish", Actor.agent("raj", tier="senior"), {}) == "done"
    assert seen[0] == ("t-1", "ann", "finish", {"note": "x"})


def test_one_machine_per_lifecycle_and_no_ticket_is_ever_registered():
    lc = lifecycles.standard()
    machine = lc.machine
    for state in ("new", "acknowledged", "triaged"):
        lc.fire(ticket_in(state), "merge", ANN, {})
    assert lc.machine is machine
    assert machine.models == []
    assert machine.auto_transitions is False


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"states": []}, "no states are declared"),
        ({"initial": "nowhere"}, "initial state 'nowhere' is not a declared state"),
        (
            {"initial": "done"},
            "initial state 'done' has category 'resolved'; new tickets must start",
        ),
        (
            {
                "states": [
                    State("open", "active"),
                    State("open", "active"),
                    State("done", "resolved"),
                    State("closed", "closed"),
                ]
            },
            "states declared more than once: open",
        ),
        (
            {
                "states": [
                    State("open", "active"),
                    State("done", "resolved"),
                    State("closed", "closed"),
                    State("bad name", "active"),
                ]
            },
            "state name 'bad name' is not an identifier",
        ),
        (
            {
                "transitions": [
                    Transition("finish", ["open"], "finished"),
                    Transition("close", ["done"], "closed"),
                ]
            },
            "transition #1 ('finish'): unknown destination state 'finished'",
        ),
        (
            {
                "transitions": [
                    Transition("finish", ["opened"], "done"),
                    Transition("close", ["done"], "closed"),
                ]
            },
            "unknown source state 'opened'",
        ),
        (
            {
                "transitions": [
                    Transition("finish", ["open"], "done"),
                    Transition("finish", ["open"], "closed"),
                    Transition("close", ["done"], "closed"),
                ]
            },
            "event 'finish' from 'open' is already defined by transition #1",
        ),
        (
            {
                "transitions": [
                    Transition("finish", ["open"], "done", by=[]),
                    Transition("close", ["done"], "closed"),
                ]
            },
            "no role may fire it",
        ),
        (
            {
                "transitions": [
                    Transition("finish", ["open"], "done", guards=["lucky"]),
                    Transition("close", ["done"], "closed"),
                ]
            },
            "unknown guard 'lucky'",
        ),
        (
            {"transitions": [Transition("finish", ["open"], "done")]},
            "state 'done' (resolved) has no way out",
        ),
        (
            {
                "states": [
                    State("open", "active"),
                    State("done", "resolved"),
                    State("closed", "closed"),
                    State("limbo", "waiting"),
                ]
            },
            "state 'limbo' is unreachable from 'open'",
        ),
        (
            {
                "states": [
                    State("open", "active"),
                    State("done", "active"),
                    State("closed", "closed"),
                ]
            },
            "no state has category 'resolved'",
        ),
        (
            {
                "states": [
                    State("open", "active"),
                    State("done", "resolved"),
                    State("closed", "resolved"),
                ]
            },
            "no state has category 'closed'",
        ),
        (
            {
                "states": [
                    State("open", "active"),
                    State("done", "resolved"),
                    State("closed", "closed"),
                    State("loop", "active"),
                ],
                "transitions": [
                    Transition("finish", ["open"], "done"),
                    Transition("close", ["done"], "closed"),
                    Transition("spin", ["open"], "loop"),
                    Transition("spin_back", ["loop"], "loop"),
                ],
            },
            "state 'loop' cannot lead to any 'closed' state",
        ),
        (
            {"reactions": [Reaction("agent_reply", ["closed"], "finish")]},
            "event 'finish' is not possible from 'closed'",
        ),
        (
            {"reactions": [Reaction("email", ["open"], "finish")]},
            "'on' must be one of agent_reply, customer_reply",
        ),
        ({"merge_event": "absorb"}, "merge_event 'absorb' is not an event of this lifecycle"),
        (
            {"merge_event": "finish"},
            "merge_event 'finish' leads to 'done', which is not in category 'closed'",
        ),
    ],
)
def test_each_static_check_names_its_problem(overrides, problem):
    with pytest.raises(LifecycleError) as caught:
        tiny(**overrides)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert problem in str(caught.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(LifecycleError) as caught:
        tiny(
            initial="nowhere",
            transitions=[
                Transition("finish", ["open"], "finished"),
                Transition("close", ["dne"], "closed", guards=["lucky"]),
            ],
            merge_event="absorb",
        )
    problems = caught.value.problems
    assert len(problems) == 5
    assert "has 5 problems" in str(caught.value)


def test_unknown_category_is_a_validation_error_naming_the_choices():
    with pytest.raises(ValueError, match="unknown state category 'finished'"):
        State("done", "finished")


# -- plain data, TOML, diagrams ----------------------------------------------------------


@pytest.mark.parametrize("factory", [lifecycles.standard, lifecycles.simple])
def test_shipped_lifecycles_round_trip_through_dict_and_toml(factory):
    lc = factory()
    assert Lifecycle.from_dict(lc.to_dict()) == lc
    assert Lifecycle.from_toml(lc.to_toml()) == lc


def test_toml_accepts_a_single_source_string():
    lc = Lifecycle.from_toml(
        """
        name = "mini"
        initial = "open"
        states = [
          { name = "open", category = "active" },
          { name = "done", category = "resolved" },
          { name = "closed", category = "closed" },
        ]
        [[transitions]]
        event = "finish"
        source = "open"
        dest = "done"
        [[transitions]]
        event = "close"
        source = ["done"]
        dest = "closed"
        by = ["agent"]
        """
    )
    assert [r.value for r in lc.transition_for("finish", "open").by] == [
        "agent",
        "supervisor",
        "system",  # the default rights
    ]
    assert [r.value for r in lc.transition_for("close", "done").by] == ["agent"]


def test_malformed_data_lists_every_structural_problem_with_its_path():
    data = lifecycles.standard().to_dict()
    data["transitions"][0]["colour"] = "red"
    data["states"][1]["category"] = 7
    with pytest.raises(LifecycleError) as caught:
        Lifecycle.from_dict(data)
    text = "\n".join(caught.value.problems)
    assert "extra fields found (colour) @ transitions[0]" in text
    assert "states[1].category" in text


def test_bad_toml_is_a_lifecycle_error():
    with pytest.raises(LifecycleError, match="not valid TOML"):
        Lifecycle.from_toml("name = ")


def test_bad_values_in_data_are_reported_with_validation_problems_together():
    data = lifecycles.standard().to_dict()
    data["states"][1]["category"] = "weird"
    data["initial"] = "nowhere"
    with pytest.raises(LifecycleError) as caught:
        Lifecycle.from_dict(data)
    text = "\n".join(caught.value.problems)
    assert "unknown state category 'weird'" in text
    assert "initial state 'nowhere' is not a declared state" in text


def test_custom_guards_are_supplied_when_loading():
    lc = tiny(
        transitions=[
            Transition("finish", ["open"], "done", guards=["lucky"]),
            Transition("close", ["done"], "closed"),
        ],
        guards={"lucky": lambda context: None},
    )
    data = lc.to_dict()
    assert data["transitions"][0]["guards"] == ["lucky"]
    with pytest.raises(LifecycleError, match="unknown guard 'lucky'"):
        Lifecycle.from_dict(data)
    assert Lifecycle.from_dict(data, guards={"lucky": lambda context: None}) == lc


def test_mermaid_diagram_has_every_state_and_transition():
    diagram = lifecycles.standard().to_mermaid()
    assert diagram.startswith("---\nstandard\n---\nstateDiagram-v2")
    assert "new --> acknowledged: acknowledge" in diagram
    assert "resolved --> in_progress: reopen" in diagram
    assert "[*] --> new" in diagram
    assert "closed --> [*]" in diagram
    for state in lifecycles.standard().state_names:
        assert f'state "{state}" as {state}' in diagram


def test_notebooks_get_a_mermaid_block():
    bundle = lifecycles.simple()._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```mermaid\n---\nsimple")
    assert "Lifecycle(name='simple'" in bundle["text/plain"]


def test_guards_see_the_instant_of_the_command():
    later = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)

    def night_only(context):
        return None if context.at.hour >= 18 else f"it is {context.at:%H:%M}"

    lc = tiny(
        transitions=[
            Transition("finish", ["open"], "done", guards=["night_only"]),
            Transition("close", ["done"], "closed"),
        ],
        guards={"night_only": night_only},
    )
    with pytest.raises(InvalidTransition, match="it is 09:00"):
        lc.fire(ticket_in("open"), "finish", ANN, {})  # defaults to the ticket's last update
    assert lc.fire(ticket_in("open"), "finish", ANN, {}, at=later) == "done"


def test_a_reaction_to_a_transition_that_requires_data_could_never_fire():
    with pytest.raises(LifecycleError, match="requires resolution, which a reply cannot supply"):
        tiny(
            transitions=[
                Transition("finish", ["open"], "done", requires=["resolution"]),
                Transition("close", ["done"], "closed"),
            ],
            reactions=[Reaction("agent_reply", ["open"], "finish")],
        )
