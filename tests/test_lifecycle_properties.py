"""Properties of lifecycle definitions over many random ones."""

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from supportflow import Lifecycle, LifecycleError
from supportflow.testing.strategies import lifecycles


@given(lifecycles())
def test_any_valid_definition_round_trips_through_dict_unchanged(lifecycle):
    data = lifecycle.to_dict()
    again = Lifecycle.from_dict(data)
    assert again == lifecycle
    assert again.to_dict() == data


@given(lifecycles())
def test_any_valid_definition_round_trips_through_toml_unchanged(lifecycle):
    assert Lifecycle.from_toml(lifecycle.to_toml()) == lifecycle


@given(lifecycles())
def test_reading_the_definition_is_consistent_with_firing(lifecycle):
    for state in lifecycle.state_names:
        for event in lifecycle.events_from(state):
            assert lifecycle.transition_for(event, state) is not None
        for event in set(lifecycle.event_names) - set(lifecycle.events_from(state)):
            assert lifecycle.transition_for(event, state) is None


# Each defect: (how to break a definition's data, the text its problem must contain).
def _unknown_destination(data, draw):
    data["transitions"][0]["dest"] = "nowhere_dest"
    return "unknown destination state 'nowhere_dest'"


def _unknown_source(data, draw):
    data["transitions"][-1]["source"] = [*data["transitions"][-1]["source"], "nowhere_src"]
    return "unknown source state 'nowhere_src'"


def _bad_initial(data, draw):
    data["initial"] = "nowhere_initial"
    return "initial state 'nowhere_initial' is not a declared state"


def _unknown_guard(data, draw):
    data["transitions"][0]["guards"] = ["no_such_guard"]
    return "unknown guard 'no_such_guard'"


def _reaction_to_unknown_event(data, draw):
    data.setdefault("reactions", []).append(
        {"on": "agent_reply", "states": [data["states"][0]["name"]], "fire": "no_such_event"}
    )
    return "event 'no_such_event' is not possible from"


def _duplicate_state(data, draw):
    data["states"].append(dict(data["states"][-1]))
    return "states declared more than once"


def _bad_merge_event(data, draw):
    data["merge_event"] = "no_such_merge"
    return "merge_event 'no_such_merge' is not an event"


def _nobody_may_fire(data, draw):
    data["transitions"][0]["by"] = []
    return "no role may fire it"


DEFECTS = [
    _unknown_destination,
    _unknown_source,
    _bad_initial,
    _unknown_guard,
    _reaction_to_unknown_event,
    _duplicate_state,
    _bad_merge_event,
    _nobody_may_fire,
]


@settings(max_examples=200)
@given(lifecycles(), st.data())
def test_any_invalid_definition_is_refused_with_every_problem_named(lifecycle, data):
    chosen = data.draw(st.sets(st.sampled_from(DEFECTS), min_size=1), label="defects")
    broken = copy.deepcopy(lifecycle.to_dict())
    expected = [defect(broken, data.draw) for defect in chosen]
    try:
        Lifecycle.from_dict(broken)
    except LifecycleError as exc:
        report = "\n".join(exc.problems)
        for text in expected:
            assert text in report, f"{text!r} missing from:\n{report}"
    else:
        raise AssertionError(f"accepted a definition with defects {expected}")
