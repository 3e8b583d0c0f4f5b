"""Hypothesis strategies for supportflow values, for your own property tests.

Every strategy is a function taking keyword-only arguments (themselves
strategies where that makes sense) and returning a ``SearchStrategy``.

>>> from hypothesis import given
>>> from supportflow.testing.strategies import lifecycles
>>> @given(lifecycles())
... def test_my_lifecycles_round_trip(lifecycle):
...     assert type(lifecycle).from_dict(lifecycle.to_dict()) == lifecycle
>>> test_my_lifecycles_round_trip()
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from supportflow._lifecycle import Lifecycle, Reaction, State, Transition
from supportflow._model import Actor, Category, Channel, Priority, Role

__all__ = ["actors", "channels", "lifecycles", "priorities", "priority_inputs"]

_ID_ALPHABET = string.ascii_lowercase + string.digits


def actors(
    *,
    roles: st.SearchStrategy[Role] = st.sampled_from(Role),  # noqa: B008 - strategies are values
    ids: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[Actor]:
    """Actors with a role drawn from ``roles`` and an id drawn from ``ids``."""
    ids = ids if ids is not None else st.text(_ID_ALPHABET, min_size=1, max_size=8)
    return st.builds(lambda role, id: Actor(role, id), roles, ids)


def priorities() -> st.SearchStrategy[Priority]:
    """Priority members."""
    return st.sampled_from(Priority)


def priority_inputs() -> st.SearchStrategy[Priority | str]:
    """Anything the API accepts as a priority: members, names in any case, ``P1`` to ``P4``."""
    names = st.sampled_from([p.value for p in Priority]).flatmap(
        lambda name: st.sampled_from([name, name.upper(), name.capitalize(), f" {name} "])
    )
    codes = st.sampled_from(["P1", "P2", "P3", "P4", "p1", "p2", "p3", "p4"])
    return st.one_of(priorities(), names, codes)


def channels() -> st.SearchStrategy[Channel]:
    """Channel members."""
    return st.sampled_from(Channel)


_ROLE_SETS = st.sets(st.sampled_from(Role), min_size=1).map(
    lambda roles: tuple(r for r in Role if r in roles)
)
_REQUIREMENTS = st.lists(st.sampled_from(["resolution", "reason", "note"]), unique=True, max_size=2)


@st.composite
def lifecycles(
    draw: st.DrawFn,
    *,
    min_states: int = 3,
    max_states: int = 8,
    max_extra_transitions: int = 6,
) -> Lifecycle:
    """Valid lifecycle definitions: every one passes supportflow's static validation.

    The construction guarantees validity rather than filtering: states are
    reached from the initial state in order, every non-closed state gets a way
    to a closed state, and there is always one resolved and one closed state.
    Extra random transitions, rights, required data, reactions and a merge
    event are sprinkled on top.

    Args:
        min_states: at least this many states (3 or more).
        max_states: at most this many states.
        max_extra_transitions: random transitions beyond the skeleton.
    """
    if min_states < 3:
        raise ValueError("a valid lifecycle needs at least 3 states (initial, resolved, closed)")
    count = draw(st.integers(min_states, max(min_states, max_states)))
    middle = draw(
        st.lists(
            st.sampled_from(
                [Category.ACTIVE, Category.WAITING, Category.RESOLVED, Category.CLOSED]
            ),
            min_size=count - 3,
            max_size=count - 3,
        )
    )
    categories = [
        draw(st.sampled_from([Category.NEW, Category.ACTIVE])),
        *middle,
        Category.RESOLVED,
        Category.CLOSED,
    ]
    names = [f"s{i}_{category.value}" for i, category in enumerate(categories)]
    states = [State(name, category) for name, category in zip(names, categories, strict=True)]
    closed = [n for n, c in zip(names, categories, strict=True) if c is Category.CLOSED]

    edges: list[tuple[str, str]] = []
    for i in range(1, count):  # reach every state from an earlier one
        edges.append((names[draw(st.integers(0, i - 1))], names[i]))
    for i, name in enumerate(names):  # every open state can finish
        if categories[i] is not Category.CLOSED:
            edges.append((name, draw(st.sampled_from(closed))))
    for _ in range(draw(st.integers(0, max_extra_transitions))):
        edges.append((draw(st.sampled_from(names)), draw(st.sampled_from(names))))
    edges = list(dict.fromkeys(edges))

    transitions = []
    for index, (source, dest) in enumerate(edges):
        transitions.append(
            Transition(
                f"ev{index}",
                [source],
                dest,
                by=draw(_ROLE_SETS),
                requires=draw(_REQUIREMENTS),
                guards=draw(st.sampled_from([(), ("assigned",)])),
            )
        )

    reactions: list[Reaction] = []
    # A reaction passes no data, so only transitions that require none can react.
    reactable = [t for t in transitions if not t.requires]
    for kind in ("agent_reply", "customer_reply"):
        if not reactable:
            break
        if draw(st.booleans()):
            t = draw(st.sampled_from(reactable))
            reactions.append(Reaction(kind, list(t.source), t.event))

    merge_event = None
    into_closed = [t for t in transitions if t.dest in closed]
    if draw(st.booleans()):
        merge_event = draw(st.sampled_from(into_closed)).event

    return Lifecycle(
        name=draw(st.text(string.ascii_letters, min_size=1, max_size=10)),
        states=states,
        initial=names[0],
        transitions=transitions,
        reactions=reactions,
        merge_event=merge_event,
    )


def ticket_data(lifecycle: Lifecycle) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword data for a transition of ``lifecycle``: each name some transition
    requires is present (non-empty), blank, or missing."""
    names = sorted({name for t in lifecycle.transitions for name in t.requires})
    value = st.one_of(
        st.text(min_size=1, max_size=12).filter(str.strip), st.none(), st.just(""), st.just("  ")
    )
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, value)).map(
        lambda data: {k: v for k, v in data.items() if v is not None}
    )
