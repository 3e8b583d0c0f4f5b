"""Assignment: eligibility filters, the shipped strategies, the registry, and properties."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportflow._assign import (
    BUILTIN_STRATEGIES,
    AssignmentContext,
    AssignmentStrategy,
    LeastLoaded,
    RoundRobin,
    SkillsBased,
    Workload,
    assign,
    eligible,
    strategy_named,
)
from supportflow._calendar import BusinessCalendar
from supportflow._directory import Agent, Directory, Group
from supportflow._model import Channel, Priority, Ticket, Tier
from supportflow.errors import ConfigError, NaiveDatetimeError, ValidationError

# Monday 2 March 2026, 10:00 in Berlin (CET, UTC+1).
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Open at NOW: Berlin office hours. Closed at NOW: a Tokyo late shift (18:00 there).
OFFICE = BusinessCalendar.weekly("mon-fri 09:00-17:00", tz="Europe/Berlin")
LATE_SHIFT = BusinessCalendar.weekly("mon-fri 20:00-23:00", tz="Asia/Tokyo")
NO_LOAD = Workload()


def ticket(*, category: str | None = None, tags: tuple[str, ...] = ()) -> Ticket:
    return Ticket(
        id="t-1",
        subject="VPN drops every hour",
        requester="alice@acme.test",
        channel=Channel.EMAIL,
        priority=Priority.HIGH,
        state="new",
        version=1,
        created_at=NOW,
        updated_at=NOW,
        category=category,
        tags=tags,
    )


def team(*agents: Agent) -> Directory:
    return Directory(agents=agents, groups=[Group("network"), Group("empty")])


def ids(agents: list[Agent]) -> list[str]:
    return [agent.id for agent in agents]


NETWORK = team(
    Agent("ann", groups="network"),
    Agent("raj", groups="network"),
    Agent("kim", groups="network"),
    Agent("out", groups="desktop"),
)


def pick(strategy, directory=NETWORK, *, group="network", workload=NO_LOAD, last=None, **kw):
    return assign(
        kw.pop("t", ticket()),
        directory,
        strategy,
        group=group,
        now=kw.pop("now", NOW),
        workload=workload,
        last_assigned=last,
        **kw,
    )


# -- Workload -----------------------------------------------------------------------------


def test_workload_counts_and_defaults_to_zero():
    load = Workload({"ann": 3, "raj": 0})
    assert (load.of("ann"), load.of("raj"), load.of("nobody")) == (3, 0, 0)
    assert dict(load) == {"ann": 3}
    assert len(load) == 1
    assert load["ann"] == 3


def test_workload_is_a_value():
    assert Workload({"ann": 1, "raj": 0}) == Workload({"ann": 1})
    assert Workload({"ann": 1}) == {"ann": 1}
    assert hash(Workload({"ann": 1})) == hash(Workload({"ann": 1, "kim": 0}))
    assert Workload() == Workload({}) == Workload(None)
    assert repr(Workload({"ann": 2})) == "Workload({'ann': 2})"


def test_workload_plus_returns_a_new_value():
    load = Workload({"ann": 1})
    assert load.plus("ann") == Workload({"ann": 2})
    assert load.plus("raj", 3) == Workload({"ann": 1, "raj": 3})
    assert load == Workload({"ann": 1})


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"ann": -1}, "'ann' is -1"),
        ({"ann": True}, "'ann' is True"),
        ({"ann": 1.5}, "'ann' is 1.5"),
        ({"": 1}, "key ''"),
        ({7: 1}, "key 7"),
    ],
)
def test_workload_refuses_bad_counts(counts, message):
    with pytest.raises(ValidationError, match=message):
        Workload(counts)


def test_workload_refuses_a_non_mapping():
    with pytest.raises(ValidationError, match=r"Workload\(\{"):
        Workload([("ann", 1)])


# -- eligible -----------------------------------------------------------------------------


def test_eligible_is_the_group_in_directory_order():
    assert ids(eligible(ticket(), NETWORK, group="network", now=NOW, workload=NO_LOAD)) == [
        "ann",
        "raj",
        "kim",
    ]


def test_eligible_without_a_group_is_everyone():
    found = eligible(ticket(), NETWORK, group=None, now=NOW, workload=NO_LOAD)
    assert ids(found) == ["ann", "raj", "kim", "out"]


def test_unavailable_agents_are_skipped():
    directory = team(
        Agent("ann", groups="network", available=False), Agent("raj", groups="network")
    )
    assert ids(eligible(ticket(), directory, group="network", now=NOW, workload=NO_LOAD)) == ["raj"]


def test_agents_off_shift_are_skipped():
    directory = team(
        Agent("ann", groups="network", calendar=LATE_SHIFT),
        Agent("raj", groups="network", calendar=OFFICE),
        Agent("kim", groups="network"),
    )
    found = eligible(ticket(), directory, group="network", now=NOW, workload=NO_LOAD)
    assert ids(found) == ["raj", "kim"]
    # At 21:00 in Tokyo (12:00 UTC, 13:00 in Berlin) both shifts are on.
    noon = NOW + timedelta(hours=3)
    found = eligible(ticket(), directory, group="network", now=noon, workload=NO_LOAD)
    assert ids(found) == ["ann", "raj", "kim"]
    # On Saturday only the agent without a calendar is on.
    saturday = NOW + timedelta(days=5)
    assert ids(eligible(ticket(), directory, group="network", now=saturday, workload=NO_LOAD)) == [
        "kim"
    ]


def test_agents_at_capacity_are_skipped():
    directory = team(
        Agent("ann", groups="network", capacity=2),
        Agent("raj", groups="network", capacity=3),
        Agent("kim", groups="network"),
    )
    load = Workload({"ann": 2, "raj": 2, "kim": 50})
    found = eligible(ticket(), directory, group="network", now=NOW, workload=load)
    assert ids(found) == ["raj", "kim"]


def test_tier_filter_asks_for_exactly_that_tier():
    directory = team(
        Agent("ann", groups="network"),
        Agent("sen", groups="network", tier="senior"),
        Agent("boss", groups="network", tier=Tier.MANAGER),
    )

    def of_tier(tier):
        return ids(eligible(ticket(), directory, group="network", now=NOW, workload={}, tier=tier))

    assert of_tier(None) == ["ann", "sen", "boss"]
    assert of_tier(Tier.SENIOR) == ["sen"]
    assert of_tier("Manager") == ["boss"]
    assert of_tier("front-line") == ["ann"]
    with pytest.raises(ValidationError, match="unknown tier 'guru'"):
        of_tier("guru")


def test_an_empty_or_unknown_group_has_nobody():
    assert eligible(ticket(), NETWORK, group="empty", now=NOW, workload=NO_LOAD) == []
    assert eligible(ticket(), NETWORK, group="no-such-group", now=NOW, workload=NO_LOAD) == []


def test_eligible_needs_an_aware_now_and_a_real_group():
    with pytest.raises(NaiveDatetimeError, match="now 2026-03-02T09:00:00 is naive"):
        eligible(ticket(), NETWORK, group="network", now=datetime(2026, 3, 2, 9), workload={})
    with pytest.raises(
        ValidationError, match=r"group must be a group id or None \(every agent\), got ''"
    ):
        eligible(ticket(), NETWORK, group="", now=NOW, workload={})


# -- RoundRobin ---------------------------------------------------------------------------


def test_round_robin_takes_the_next_agent_and_wraps():
    assert pick(RoundRobin()).id == "ann"
    assert pick(RoundRobin(), last="ann").id == "raj"
    assert pick(RoundRobin(), last="raj").id == "kim"
    assert pick(RoundRobin(), last="kim").id == "ann"


def test_round_robin_skips_ineligible_agents_but_keeps_their_place():
    directory = team(
        Agent("ann", groups="network"),
        Agent("raj", groups="network", calendar=LATE_SHIFT),
        Agent("kim", groups="network", available=False),
        Agent("lee", groups="network"),
    )
    assert pick(RoundRobin(), directory, last="ann").id == "lee"
    # The last assigned agent went off shift: the turn still passes to whoever follows them.
    assert pick(RoundRobin(), directory, last="raj").id == "lee"
    assert pick(RoundRobin(), directory, last="lee").id == "ann"


def test_round_robin_restarts_when_the_last_agent_left_the_group():
    assert pick(RoundRobin(), last="out").id == "ann"
    assert pick(RoundRobin(), last="somebody-gone").id == "ann"


def test_round_robin_alone_picks_the_only_agent_again():
    directory = team(
        Agent("ann", groups="network"), Agent("raj", groups="network", available=False)
    )
    assert pick(RoundRobin(), directory, last="ann").id == "ann"


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_round_robin_spreads_3k_tickets_evenly_with_feedback(k):
    directory = team(*(Agent(f"a{i}", groups="network") for i in range(k)))
    counts: Counter[str] = Counter()
    last = None
    for _ in range(3 * k):
        chosen = pick(RoundRobin(), directory, last=last)
        counts[chosen.id] += 1
        last = chosen.id
    assert counts == {f"a{i}": 3 for i in range(k)}


def test_round_robin_without_a_rotation_follows_the_candidates():
    agents = [Agent("ann"), Agent("raj")]
    context = AssignmentContext(now=NOW, last_assigned="ann")
    assert RoundRobin().choose(ticket(), agents, context).id == "raj"
    assert RoundRobin().choose(ticket(), [], context) is None


def test_candidates_outside_the_rotation_come_last():
    context = AssignmentContext(now=NOW, last_assigned="raj", rotation=("ann", "raj"))
    stranger, raj = Agent("zed"), Agent("raj")
    assert RoundRobin().choose(ticket(), [stranger, raj], context) is raj
    assert RoundRobin().choose(ticket(), [stranger], context) is stranger


# -- LeastLoaded --------------------------------------------------------------------------


def test_least_loaded_picks_the_fewest_open_tickets():
    load = Workload({"ann": 4, "raj": 1, "kim": 2})
    assert pick(LeastLoaded(), workload=load).id == "raj"
    assert pick(LeastLoaded(), workload=load, last="raj").id == "raj"


def test_least_loaded_breaks_ties_in_turn_order():
    load = Workload({"ann": 1, "raj": 1, "kim": 1})
    assert pick(LeastLoaded(), workload=load).id == "ann"
    assert pick(LeastLoaded(), workload=load, last="ann").id == "raj"
    assert pick(LeastLoaded(), workload=load, last="kim").id == "ann"
    # Only the tied agents take turns: kim holds more.
    load = Workload({"ann": 1, "raj": 1, "kim": 2})
    assert pick(LeastLoaded(), workload=load, last="raj").id == "ann"


def test_least_loaded_with_nobody_is_none():
    assert LeastLoaded().choose(ticket(), [], AssignmentContext(now=NOW)) is None


# -- SkillsBased --------------------------------------------------------------------------

SKILLED = team(
    Agent("ann", groups="network", skills=["printers"]),
    Agent("raj", groups="network", skills=["network", "vpn"]),
    Agent("kim", groups="network", skills=["VPN ", "windows"]),
    Agent("lee", groups="network", skills=["network", "vpn", "mac"]),
)


def test_skill_score_counts_category_and_tags_without_case():
    t = ticket(category="Network", tags=("vpn", "mac"))
    assert [SkillsBased.score(t, agent) for agent in SKILLED.agents.values()] == [0, 2, 1, 3]
    assert SkillsBased.score(ticket(), SKILLED.agents["lee"]) == 0


def test_skills_highest_score_wins():
    assert pick(SkillsBased(), SKILLED, t=ticket(category="network", tags=("vpn", "mac"))).id == (
        "lee"
    )
    assert pick(SkillsBased(), SKILLED, t=ticket(tags=("printers",))).id == "ann"


def test_skills_ties_go_to_the_fallback():
    t = ticket(category="network", tags=("vpn",))  # raj and lee both score 2
    assert pick(SkillsBased(), SKILLED, t=t, workload={"raj": 3, "lee": 1}).id == "lee"
    assert pick(SkillsBased(), SKILLED, t=t, workload={"raj": 1, "lee": 3}).id == "raj"
    rr = SkillsBased(fallback=RoundRobin())
    assert pick(rr, SKILLED, t=t, last="raj").id == "lee"
    assert pick(rr, SKILLED, t=t, last="lee").id == "raj"


def test_skills_without_a_match_falls_back_to_everyone():
    t = ticket(tags=("linux",))
    assert pick(SkillsBased(), SKILLED, t=t, workload={"ann": 1, "raj": 1}).id == "kim"


def test_skills_required_with_nobody_matching_chooses_nobody():
    required = SkillsBased(require=True)
    assert pick(required, SKILLED, t=ticket(tags=("linux",))) is None
    assert pick(required, SKILLED, t=ticket()) is None
    assert pick(required, SKILLED, t=ticket(tags=("windows",))).id == "kim"


def test_skills_matches_only_among_eligible_agents():
    directory = team(
        Agent("lee", groups="network", skills=["vpn"], available=False),
        Agent("kim", groups="network"),
    )
    assert pick(SkillsBased(require=True), directory, t=ticket(tags=("vpn",))) is None
    assert pick(SkillsBased(), directory, t=ticket(tags=("vpn",))).id == "kim"


def test_skills_checks_its_settings():
    with pytest.raises(ConfigError, match=r"fallback of SkillsBased .* got 'least_loaded'"):
        SkillsBased(fallback="least_loaded")
    with pytest.raises(ConfigError, match=r"require=\.\.\.\) takes True or False, got 'yes'"):
        SkillsBased(require="yes")


# -- assign -------------------------------------------------------------------------------


def test_an_empty_group_assigns_nobody_and_asks_no_strategy():
    class Never:
        def choose(self, ticket, candidates, context):
            raise AssertionError("no candidates, no call")

    assert pick(Never(), group="empty") is None
    assert pick(RoundRobin(), group="empty") is None


def test_assign_passes_the_whole_context_to_the_strategy():
    seen = []

    class Spy:
        def choose(self, ticket, candidates, context):
            seen.append((ids(candidates), context))
            return candidates[-1]

    directory = team(Agent("ann", groups="network"), Agent("raj", groups="network", capacity=1))
    chosen = pick(Spy(), directory, workload={"raj": 1}, last="raj")
    assert chosen.id == "ann"
    assert seen == [
        (
            ["ann"],
            AssignmentContext(
                now=NOW, workload=Workload({"raj": 1}), last_assigned="raj", rotation=("ann", "raj")
            ),
        )
    ]


def test_assign_refuses_what_is_not_a_strategy():
    with pytest.raises(ConfigError, match="42 is not an assignment strategy"):
        pick(42)


def test_assign_refuses_a_choice_outside_the_candidates():
    class Rogue:
        def choose(self, ticket, candidates, context):
            return Agent("intruder")

    with pytest.raises(ConfigError, match=r"chose Agent\(id='intruder'.*'ann', 'raj', 'kim'"):
        pick(Rogue())


def test_a_strategy_may_decline():
    class Decline:
        def choose(self, ticket, candidates, context):
            return None

    assert pick(Decline()) is None


def test_assign_by_name_and_with_a_tier():
    directory = team(
        Agent("ann", groups="network"),
        Agent("sen", groups="network", tier="senior"),
        Agent("sue", groups="network", tier="senior"),
    )
    assert pick("round_robin", directory, tier="senior").id == "sen"
    assert pick("least_loaded", directory, tier="senior", workload={"sen": 1}).id == "sue"
    assert pick("skills", directory, tier="manager") is None


def test_assign_checks_last_assigned():
    with pytest.raises(ValidationError, match="last_assigned must be an agent id or None, got 7"):
        pick(RoundRobin(), last=7)


# -- context ------------------------------------------------------------------------------


def test_context_checks_its_values():
    with pytest.raises(NaiveDatetimeError):
        AssignmentContext(now=datetime(2026, 3, 2))
    with pytest.raises(ValidationError, match="rotation lists agent 'ann' twice"):
        AssignmentContext(now=NOW, rotation=("ann", "raj", "ann"))
    with pytest.raises(ValidationError, match="got the string 'ann'"):
        AssignmentContext(now=NOW, rotation="ann")
    assert AssignmentContext(now=NOW, workload={"ann": 1}).workload == Workload({"ann": 1})


# -- registry -----------------------------------------------------------------------------


def test_builtin_strategies_by_name():
    assert dict(BUILTIN_STRATEGIES) == {
        "round_robin": RoundRobin(),
        "least_loaded": LeastLoaded(),
        "skills": SkillsBased(),
    }
    for name, strategy in BUILTIN_STRATEGIES.items():
        assert isinstance(strategy, AssignmentStrategy)
        assert strategy_named(name) is strategy
    assert strategy_named(" Least-Loaded ") is BUILTIN_STRATEGIES["least_loaded"]
    with pytest.raises(TypeError):
        BUILTIN_STRATEGIES["mine"] = RoundRobin()  # type: ignore[index]


@pytest.mark.parametrize("name", ["random", "", None])
def test_unknown_strategy_names_list_the_known_ones(name):
    with pytest.raises(ConfigError, match="'round_robin', 'least_loaded', 'skills'"):
        strategy_named(name)


def test_assign_by_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown assignment strategy 'fastest'"):
        pick("fastest")


# -- properties ---------------------------------------------------------------------------

SKILL_POOL = ("network", "vpn", "mac", "windows", "printers")
GROUPS = ("network", "desktop")
STRATEGIES = (
    RoundRobin(),
    LeastLoaded(),
    SkillsBased(),
    SkillsBased(fallback=RoundRobin()),
    SkillsBased(require=True),
)

agent_ids = st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=8, unique=True)


@st.composite
def directories(draw):
    agents = [
        Agent(
            agent_id,
            groups=draw(st.lists(st.sampled_from(GROUPS), unique=True, min_size=1, max_size=2)),
            skills=draw(st.lists(st.sampled_from(SKILL_POOL), unique=True, max_size=3)),
            tier=draw(st.sampled_from([Tier.FRONT_LINE, Tier.FRONT_LINE, *Tier])),
            calendar=draw(st.sampled_from([None, None, OFFICE, LATE_SHIFT])),
            capacity=draw(st.none() | st.integers(1, 3)),
            available=draw(st.sampled_from([True, True, True, False])),
        )
        for agent_id in draw(agent_ids)
    ]
    return Directory(agents=agents)


@st.composite
def situations(draw):
    directory = draw(directories())
    everyone = list(directory.agents)
    return {
        "directory": directory,
        "t": ticket(
            category=draw(st.none() | st.sampled_from(SKILL_POOL)),
            tags=tuple(draw(st.lists(st.sampled_from(SKILL_POOL), unique=True, max_size=3))),
        ),
        "group": draw(st.none() | st.sampled_from(GROUPS)),
        "workload": Workload(draw(st.dictionaries(st.sampled_from(everyone), st.integers(0, 4)))),
        "last": draw(st.none() | st.sampled_from([*everyone, "gone"])),
        "tier": draw(st.sampled_from([None, None, None, None, None, *Tier])),
        "now": NOW + timedelta(hours=draw(st.integers(0, 48))),
    }


def eligible_in(s):
    return eligible(
        s["t"],
        s["directory"],
        group=s["group"],
        now=s["now"],
        tier=s["tier"],
        workload=s["workload"],
    )


@settings(max_examples=300)
@given(situations(), st.sampled_from(STRATEGIES))
def test_the_chosen_agent_is_eligible_and_the_choice_deterministic(s, strategy):
    chosen = pick(strategy, **s)
    candidates = eligible_in(s)
    if chosen is None:
        assert not candidates or isinstance(strategy, SkillsBased)
    else:
        assert chosen in candidates
    again = pick(strategy, **{**s, "directory": Directory(agents=s["directory"].agents.values())})
    assert again == chosen


@settings(max_examples=300)
@given(situations())
def test_least_loaded_picks_a_minimum_load(s):
    chosen = pick(LeastLoaded(), **s)
    candidates = eligible_in(s)
    if not candidates:
        assert chosen is None
    else:
        assert s["workload"].of(chosen.id) == min(s["workload"].of(a.id) for a in candidates)


@settings(max_examples=200)
@given(situations(), st.integers(1, 12))
def test_round_robin_with_feedback_never_repeats_while_others_wait(s, rounds):
    for _ in range(rounds):
        candidates = eligible_in(s)
        chosen = pick(RoundRobin(), **s)
        if not candidates:
            assert chosen is None
            return
        if len(candidates) >= 2:
            assert chosen.id != s["last"]
        s = {**s, "last": chosen.id, "workload": s["workload"].plus(chosen.id)}


@settings(max_examples=200)
@given(situations())
def test_round_robin_visits_every_eligible_agent_once_per_turn(s):
    candidates = eligible_in(s)
    picks = []
    for _ in range(len(candidates)):
        chosen = pick(RoundRobin(), **s)
        picks.append(chosen.id)
        s = {**s, "last": chosen.id}
    assert sorted(picks) == sorted(ids(candidates))


@settings(max_examples=200)
@given(situations())
def test_skills_picks_a_best_scoring_agent(s):
    chosen = pick(SkillsBased(), **s)
    candidates = eligible_in(s)
    if candidates:
        best = max(SkillsBased.score(s["t"], agent) for agent in candidates)
        assert SkillsBased.score(s["t"], chosen) == best
        required = pick(SkillsBased(require=True), **s)
        assert (required is None) == (best == 0)
