"""Values: priorities, the impact × urgency matrix, actors, channels, ids, clocks."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportflow import (
    Actor,
    Category,
    Channel,
    ConfigError,
    ManualClock,
    NaiveDatetimeError,
    Priority,
    PriorityMatrix,
    Role,
    SystemClock,
    Tier,
    ValidationError,
)
from supportflow._model import new_ticket_id
from supportflow.testing.strategies import priority_inputs


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        (Priority.URGENT, Priority.URGENT),
        ("urgent", Priority.URGENT),
        ("HIGH", Priority.HIGH),
        ("Medium", Priority.MEDIUM),
        (" low ", Priority.LOW),
        ("P1", Priority.URGENT),
        ("p2", Priority.HIGH),
        ("P3", Priority.MEDIUM),
        ("P4", Priority.LOW),
    ],
)
def test_priority_accepts_members_names_in_any_case_and_itil_codes(given_value, expected):
    assert Priority.parse(given_value) is expected


@pytest.mark.parametrize("bad", ["critical", "P5", "", "p0", 1, None])
def test_unknown_priority_names_the_value_and_the_choices(bad):
    with pytest.raises(ValidationError, match=r"unknown priority .* urgent, high, medium, low"):
        Priority.parse(bad)


@given(priority_inputs())
def test_every_accepted_priority_input_parses(value):
    assert isinstance(Priority.parse(value), Priority)


def test_priority_rank_and_itil_code_run_from_urgent_to_low():
    assert [p.rank for p in Priority] == [1, 2, 3, 4]
    assert [p.itil for p in Priority] == ["P1", "P2", "P3", "P4"]
    assert str(Priority.HIGH) == "high"


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("high", "high", Priority.URGENT),
        ("high", "medium", Priority.HIGH),
        ("high", "low", Priority.MEDIUM),
        ("medium", "high", Priority.HIGH),
        ("medium", "medium", Priority.MEDIUM),
        ("medium", "low", Priority.LOW),
        ("low", "high", Priority.MEDIUM),
        ("low", "medium", Priority.LOW),
        ("LOW", "Low", Priority.LOW),
    ],
)
def test_default_matrix_follows_the_itil_table(impact, urgency, expected):
    assert PriorityMatrix.default().derive(impact=impact, urgency=urgency) is expected


def test_custom_matrix_round_trips_through_dict():
    matrix = PriorityMatrix.from_dict(
        {"major": {"now": "P1", "later": "P3"}, "minor": {"now": "high", "later": "low"}}
    )
    assert matrix.derive(impact="major", urgency="now") is Priority.URGENT
    assert PriorityMatrix.from_dict(matrix.to_dict()) == matrix
    assert matrix.impacts == ("major", "minor")


def test_matrix_with_a_hole_names_the_missing_pair():
    with pytest.raises(ConfigError, match="impact 'low' has no priority for urgency 'high'"):
        PriorityMatrix.from_dict({"high": {"high": "P1", "low": "P2"}, "low": {"low": "P4"}})


def test_matrix_with_an_unknown_priority_is_refused():
    with pytest.raises(ConfigError, match="unknown priority 'severe'"):
        PriorityMatrix.from_dict({"high": {"high": "severe"}})


def test_matrix_derive_names_the_unknown_level():
    with pytest.raises(
        ValidationError, match="unknown urgency 'asap'; use one of high, medium, low"
    ):
        PriorityMatrix.default().derive(impact="high", urgency="asap")
    with pytest.raises(ValidationError, match="unknown impact 'huge'"):
        PriorityMatrix.default().derive(impact="huge", urgency="high")


def test_actor_constructors_set_role_and_defaults():
    assert Actor.customer("alice@example.com").role is Role.CUSTOMER
    agent = Actor.agent("ann", tier="senior", groups=["network"], skills=["vpn"])
    assert (agent.role, agent.tier, agent.groups, agent.skills) == (
        Role.AGENT,
        Tier.SENIOR,
        ("network",),
        ("vpn",),
    )
    assert Actor.agent("bo").tier is Tier.FRONT_LINE
    assert Actor.supervisor("sam").tier is Tier.MANAGER
    assert Actor.system().id == "system"
    assert Actor.agent("ann").is_staff
    assert Actor.supervisor("s").is_staff
    assert not Actor.customer("c").is_staff
    assert not Actor.system().is_staff
    assert str(Actor.agent("ann")) == "agent:ann"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Actor.agent(""), "non-empty string id"),
        (lambda: Actor("boss", "x"), "unknown role 'boss'"),
        (lambda: Actor.agent("ann", tier="intern"), "unknown tier 'intern'"),
    ],
)
def test_bad_actor_values_are_refused_with_the_value_named(build, message):
    with pytest.raises(ValidationError, match=message):
        build()


def test_tier_accepts_spelling_variants():
    assert Tier.parse("Front-Line") is Tier.FRONT_LINE
    assert Tier.parse("front line") is Tier.FRONT_LINE


@pytest.mark.parametrize("name", [c.value for c in Channel])
def test_every_channel_parses_in_any_case(name):
    assert Channel.parse(name.upper()) is Channel(name)


def test_unknown_channel_and_category_are_refused():
    with pytest.raises(ValidationError, match="unknown channel 'fax'; use one of email, phone"):
        Channel.parse("fax")
    with pytest.raises(ValidationError, match="unknown state category 'done'"):
        Category.parse("done")


def test_ticket_ids_are_uuid7_and_sort_in_creation_order_even_within_one_millisecond(
    monkeypatch,
):
    from supportflow import _model

    # The generator is monotonic per process: start it afresh so an earlier
    # test's later clock does not carry over.
    monkeypatch.setattr(_model, "_id_last_ms", -1)
    monkeypatch.setattr(_model, "_id_last_at", None)
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ids = [new_ticket_id(at) for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    # The first 48 bits are the creation instant in milliseconds.
    assert int(ids[0].replace("-", "")[:12], 16) == int(at.timestamp() * 1000)
    later = new_ticket_id(at + timedelta(seconds=1))
    assert later > ids[-1]


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    assert clock.now() == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.advance(timedelta(hours=2)) == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert clock.set(datetime(2026, 3, 3, tzinfo=UTC)) == datetime(2026, 3, 3, tzinfo=UTC)
    assert clock.now() == datetime(2026, 3, 3, tzinfo=UTC)


def test_manual_clock_refuses_naive_instants_and_going_back():
    with pytest.raises(NaiveDatetimeError, match="naive"):
        ManualClock(datetime(2026, 3, 2, 9, 0))
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with pytest.raises(NaiveDatetimeError):
        clock.set(datetime(2026, 3, 3))
    with pytest.raises(ValidationError, match="time only moves forward"):
        clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="negative"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValidationError, match="timedelta"):
        clock.advance(5)  # type: ignore[arg-type]


def test_system_clock_is_aware_utc():
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


@given(st.datetimes(timezones=st.just(UTC)), st.timedeltas(min_value=timedelta(0)))
def test_manual_clock_advance_adds_exactly(start, delta):
    clock = ManualClock(start)
    try:
        moved = clock.advance(delta)
    except OverflowError:
        return
    assert moved - start == delta


def test_ticket_ids_keep_counting_up_when_a_clock_goes_back(monkeypatch):
    from supportflow import _model

    monkeypatch.setattr(_model, "_id_last_ms", -1)
    monkeypatch.setattr(_model, "_id_last_at", None)
    later = new_ticket_id(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    earlier = new_ticket_id(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert earlier > later  # ordering wins over the timestamp bits
