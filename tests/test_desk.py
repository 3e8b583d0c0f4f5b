"""The Desk's commands and reads, one behaviour per test."""

from datetime import UTC, datetime, timedelta

import pytest

from supportflow import (
    Actor,
    Assigned,
    Category,
    Channel,
    CommentAdded,
    ConcurrencyConflict,
    ConfigError,
    Desk,
    FieldChanged,
    IdempotencyConflict,
    InvalidTransition,
    Linked,
    MemoryStore,
    Merged,
    NaiveDatetimeError,
    NotFound,
    PermissionDenied,
    Priority,
    PriorityChanged,
    PriorityMatrix,
    TicketOpened,
    Transitioned,
    ValidationError,
    lifecycles,
)
from supportflow.events import replay

ANN = Actor.agent("ann")
SAM = Actor.supervisor("sam")
ALICE = Actor.customer("alice@example.com")
BOB = Actor.customer("bob@example.com")


@pytest.fixture
def ticket(desk):
    return desk.open_ticket(subject="VPN down", requester="alice@example.com", channel="email")


def kinds(desk, ticket_id):
    return [event.kind for event in desk.history(ticket_id)]


# -- opening -----------------------------------------------------------------------------


def test_open_ticket_records_everything_in_the_first_event(desk, manual_clock):
    t = desk.open_ticket(
        subject="VPN down",
        requester="alice@example.com",
        priority="P2",
        channel="phone",
        description="Since 9:00",
        category="network",
        tags=["vpn", "vip", "vpn"],
        group="network",
        assignee=ANN,
        contract="gold",
    )
    assert (t.state, t.version, t.priority, t.channel) == ("new", 1, Priority.HIGH, Channel.PHONE)
    assert (t.category, t.tags, t.group, t.assignee) == (
        "network",
        ("vip", "vpn"),
        "network",
        "ann",
    )
    assert dict(t.fields) == {"contract": "gold"}
    assert t.created_at == t.updated_at == manual_clock.now()
    [opened] = desk.history(t.id)
    assert isinstance(opened, TicketOpened)
    assert opened.by == ALICE
    assert replay([opened]) == t


def test_defaults_are_medium_priority_from_the_web(desk):
    t = desk.open_ticket(subject="Hi", requester="alice@example.com")
    assert (t.priority, t.channel) == (Priority.MEDIUM, Channel.WEB)


def test_impact_and_urgency_derive_the_priority(desk):
    t = desk.open_ticket(subject="Down", requester="a", impact="high", urgency="high")
    assert t.priority is Priority.URGENT
    opened = desk.history(t.id)[0]
    assert (opened.impact, opened.urgency) == ("high", "high")


def test_a_desk_can_use_its_own_priority_matrix(manual_clock):
    matrix = PriorityMatrix.from_dict({"sev1": {"any": "urgent"}, "sev2": {"any": "low"}})
    desk = Desk(clock=manual_clock, priority_matrix=matrix, load_entry_points=False)
    assert desk.open_ticket(subject="x", requester="a", impact="sev2", urgency="any").priority is (
        Priority.LOW
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"subject": "  "}, "subject must not be empty"),
        ({"priority": "severe"}, "unknown priority 'severe'"),
        ({"channel": "fax"}, "unknown channel 'fax'"),
        ({"priority": "high", "impact": "high", "urgency": "low"}, "not both"),
        ({"impact": "high"}, "give both impact and urgency"),
        ({"requester": Actor.agent("x")}, "the requester must be a customer"),
        ({"assignee": Actor.customer("c")}, "assigned to agents or supervisors"),
        ({"tags": ["ok", 3]}, "tag must be a string"),
    ],
)
def test_bad_input_to_open_ticket_is_refused_and_nothing_is_stored(desk, arguments, message):
    call = {"subject": "VPN down", "requester": "alice@example.com", **arguments}
    with pytest.raises(ValidationError, match=message):
        desk.open_ticket(**call)
    assert desk.tickets() == []


def test_customers_open_tickets_only_for_themselves(desk):
    with pytest.raises(PermissionDenied, match="customers open tickets for themselves"):
        desk.open_ticket(subject="x", requester="alice@example.com", by=BOB)
    t = desk.open_ticket(subject="x", requester="alice@example.com", by=ANN)
    assert desk.history(t.id)[0].by == ANN


# -- replies, notes and reactions ---------------------------------------------------------


def test_an_agents_first_reply_acknowledges_a_new_ticket(desk, ticket):
    t = desk.reply(ticket.id, "Looking into it.", by=ANN)
    assert t.state == "acknowledged"
    comment, moved = desk.history(t.id)[1:]
    assert isinstance(comment, CommentAdded)
    assert comment.is_response
    assert isinstance(moved, Transitioned)
    assert (moved.event, moved.source, moved.dest) == ("acknowledge", "new", "acknowledged")
    assert moved.cause == "reaction:agent_reply"
    assert moved.by == ANN


def test_an_internal_note_never_acknowledges(desk, ticket):
    t = desk.comment(ticket.id, "Probably the firewall.", by=ANN)
    assert t.state == "new"
    note = desk.history(t.id)[-1]
    assert note.public is False
    assert not note.is_response


def test_a_customer_reply_resumes_a_ticket_waiting_on_them(desk, ticket):
    desk.transition(ticket.id, "acknowledge", by=ANN)
    desk.transition(ticket.id, "wait_for_customer", by=ANN)
    t = desk.reply(ticket.id, "Here is the log.", by=ALICE)
    assert t.state == "in_progress"
    assert desk.history(t.id)[-1].cause == "reaction:customer_reply"


def test_a_customer_reply_does_not_resume_a_ticket_waiting_on_a_third_party(desk, ticket):
    desk.transition(ticket.id, "triage", by=ANN)
    desk.transition(ticket.id, "wait_for_third_party", by=ANN)
    t = desk.reply(ticket.id, "Any news?", by=ALICE)
    assert t.state == "waiting_on_third_party"
    assert desk.history(t.id)[-1].is_customer_message


def test_a_customer_reply_reopens_a_resolved_ticket(desk, ticket):
    desk.transition(ticket.id, "resolve", by=ANN, resolution="Restarted the VPN.")
    t = desk.reply(ticket.id, "Still broken.", by=ALICE)
    assert t.state == "in_progress"


def test_reactions_are_configurable(manual_clock):
    base = lifecycles.standard()
    quiet = type(base)(
        name="quiet",
        states=base.states,
        initial=base.initial,
        transitions=base.transitions,
        reactions=[],
        merge_event=base.merge_event,
    )
    desk = Desk(lifecycle=quiet, clock=manual_clock, load_entry_points=False)
    t = desk.open_ticket(subject="x", requester="alice@example.com")
    assert desk.reply(t.id, "Hello", by=ANN).state == "new"


def test_a_reaction_refused_by_a_guard_keeps_the_reply(manual_clock):
    base = lifecycles.simple()
    guarded = type(base).from_dict(
        {
            **base.to_dict(),
            "transitions": [
                {**t, "guards": ["assigned"]} if t["event"] == "reopen" else t
                for t in base.to_dict()["transitions"]
            ],
        }
    )
    desk = Desk(lifecycle=guarded, clock=manual_clock, load_entry_points=False)
    t = desk.open_ticket(subject="x", requester="alice@example.com")
    desk.transition(t.id, "solve", by=ANN, resolution="done")
    t = desk.reply(t.id, "Not fixed", by=ALICE)
    assert t.state == "solved"
    assert kinds(desk, t.id)[-1] == "commented"


def test_customers_cannot_write_internal_notes(desk, ticket):
    with pytest.raises(PermissionDenied, match="may not add internal notes"):
        desk.comment(ticket.id, "psst", by=ALICE)
    assert desk.get(ticket.id).version == 1


def test_nobody_replies_to_a_closed_ticket(desk, ticket):
    desk.transition(ticket.id, "resolve", by=ANN, resolution="ok")
    desk.transition(ticket.id, "close", by=ANN)
    with pytest.raises(InvalidTransition, match=r"it is closed .*open a follow-up ticket"):
        desk.reply(ticket.id, "one more thing", by=ALICE)


def test_empty_messages_are_refused(desk, ticket):
    with pytest.raises(ValidationError, match="body must not be empty"):
        desk.reply(ticket.id, " ", by=ANN)


# -- transitions ----------------------------------------------------------------------------


def test_a_transition_records_who_when_and_the_data(desk, ticket, manual_clock):
    manual_clock.advance(timedelta(minutes=5))
    t = desk.transition(ticket.id, "resolve", by=ANN, resolution="Restarted it.")
    moved = desk.history(t.id)[-1]
    assert (moved.event, moved.source, moved.dest) == ("resolve", "new", "resolved")
    assert dict(moved.data) == {"resolution": "Restarted it."}
    assert moved.at == manual_clock.now() == t.updated_at
    assert moved.by == ANN
    assert t.version == 2


def test_a_refused_transition_changes_nothing(desk, ticket):
    for attempt in (
        lambda: desk.transition(ticket.id, "close", by=ANN),
        lambda: desk.transition(ticket.id, "cancel", by=ANN, reason="dup"),
        lambda: desk.transition(ticket.id, "resolve", by=ANN),
        lambda: desk.transition(ticket.id, "acknowledge", by=BOB),
    ):
        with pytest.raises((InvalidTransition, PermissionDenied, NotFound)):
            attempt()
    assert desk.get(ticket.id) == ticket
    assert len(desk.history(ticket.id)) == 1


def test_only_supervisors_cancel(desk, ticket):
    with pytest.raises(PermissionDenied):
        desk.transition(ticket.id, "cancel", by=ANN, reason="duplicate")
    assert desk.transition(ticket.id, "cancel", by=SAM, reason="duplicate").state == "cancelled"


def test_the_requester_may_reopen_but_another_customer_may_not_even_see_it(desk, ticket):
    desk.transition(ticket.id, "resolve", by=ANN, resolution="ok")
    with pytest.raises(NotFound):
        desk.transition(ticket.id, "reopen", by=BOB)
    assert desk.transition(ticket.id, "reopen", by=ALICE).state == "in_progress"


def test_allowed_events_depend_on_state_and_role(desk, ticket):
    assert desk.allowed_events(ticket.id, by=ANN) == ("acknowledge", "triage", "resolve", "merge")
    assert desk.allowed_events(ticket.id, by=ALICE) == ()


def test_by_must_be_an_actor(desk, ticket):
    with pytest.raises(ValidationError, match="by= must be an Actor"):
        desk.transition(ticket.id, "acknowledge", by="ann")


def test_unknown_ticket_is_not_found(desk):
    with pytest.raises(NotFound, match="no ticket 'nope'"):
        desk.transition("nope", "acknowledge", by=ANN)
    with pytest.raises(NotFound):
        desk.get("nope")
    with pytest.raises(NotFound):
        desk.history("nope")


# -- assignment, priority, fields ------------------------------------------------------------


def test_assign_records_previous_values_and_a_repeat_is_a_no_op(desk, ticket):
    t = desk.assign(ticket.id, ANN, group="network", by=SAM)
    assert (t.assignee, t.group) == ("ann", "network")
    event = desk.history(t.id)[-1]
    assert isinstance(event, Assigned)
    assert (event.previous_assignee, event.previous_group) == (None, None)
    again = desk.assign(ticket.id, "ann", by=SAM)
    assert again == t
    t = desk.assign(ticket.id, None, by=ANN)
    assert (t.assignee, t.group) == (None, "network")


def test_assign_needs_something_to_assign_and_staff(desk, ticket):
    with pytest.raises(ValidationError, match="needs an assignee, a group, or both"):
        desk.assign(ticket.id, by=ANN)
    with pytest.raises(PermissionDenied, match="may not assign tickets"):
        desk.assign(ticket.id, "ann", by=ALICE)


def test_set_priority_accepts_any_priority_form(desk, ticket):
    t = desk.set_priority(ticket.id, "P1", by=ANN, reason="CEO affected")
    assert t.priority is Priority.URGENT
    event = desk.history(t.id)[-1]
    assert isinstance(event, PriorityChanged)
    assert (event.previous, event.priority, event.reason) == (
        Priority.MEDIUM,
        Priority.URGENT,
        "CEO affected",
    )
    assert desk.set_priority(ticket.id, "urgent", by=ANN) == t


def test_update_records_one_event_per_changed_field(desk, ticket):
    t = desk.update(
        ticket.id,
        by=ANN,
        subject="VPN down in Berlin",
        category="network",
        tags=["vpn"],
        contract="gold",
        description=ticket.description,
    )
    changes = [e for e in desk.history(t.id) if isinstance(e, FieldChanged)]
    assert [(c.field, c.value) for c in changes] == [
        ("subject", "VPN down in Berlin"),
        ("category", "network"),
        ("tags", ("vpn",)),
        ("contract", "gold"),
    ]
    assert t.fields["contract"] == "gold"
    t = desk.update(ticket.id, by=ANN, contract=None)
    assert "contract" not in t.fields
    assert desk.update(ticket.id, by=ANN, subject="VPN down in Berlin") == t


def test_update_refuses_empty_subjects_and_customers(desk, ticket):
    with pytest.raises(ValidationError):
        desk.update(ticket.id, by=ANN, subject="")
    with pytest.raises(PermissionDenied):
        desk.update(ticket.id, by=ALICE, subject="mine")


def test_closed_tickets_cannot_be_edited(desk, ticket):
    desk.transition(ticket.id, "cancel", by=SAM, reason="spam")
    for edit in (
        lambda: desk.assign(ticket.id, "ann", by=SAM),
        lambda: desk.set_priority(ticket.id, "high", by=SAM),
        lambda: desk.update(ticket.id, by=SAM, subject="x"),
    ):
        with pytest.raises(InvalidTransition, match="it is closed"):
            edit()


# -- merge and link ----------------------------------------------------------------------------


def test_merge_closes_the_source_and_links_the_target_atomically(desk, ticket):
    other = desk.open_ticket(subject="VPN again", requester="alice@example.com")
    survivor = desk.merge(other.id, into=ticket.id, by=ANN)
    assert survivor.id == ticket.id
    merged = desk.get(other.id)
    assert (merged.state, merged.merged_into) == ("merged", ticket.id)
    assert kinds(desk, other.id) == ["opened", "transitioned", "merged"]
    link = desk.history(ticket.id)[-1]
    assert isinstance(link, Linked)
    assert (link.other, link.relation) == (other.id, "merged_from")
    assert isinstance(desk.history(other.id)[-1], Merged)


def test_merge_refusals(desk, ticket):
    other = desk.open_ticket(subject="x", requester="alice@example.com")
    with pytest.raises(InvalidTransition, match="into itself"):
        desk.merge(ticket.id, into=ticket.id, by=ANN)
    desk.transition(other.id, "cancel", by=SAM, reason="spam")
    with pytest.raises(InvalidTransition, match="cannot merge into ticket"):
        desk.merge(ticket.id, into=other.id, by=ANN)
    with pytest.raises(InvalidTransition, match="'merge' is not possible from state 'cancelled'"):
        desk.merge(other.id, into=ticket.id, by=ANN)
    assert desk.get(ticket.id) == ticket


def test_merge_needs_a_lifecycle_with_a_merge_event(manual_clock):
    desk = Desk(lifecycle=lifecycles.simple(), clock=manual_clock, load_entry_points=False)
    a = desk.open_ticket(subject="a", requester="c")
    b = desk.open_ticket(subject="b", requester="c")
    with pytest.raises(ConfigError, match="has no merge_event"):
        desk.merge(a.id, into=b.id, by=ANN)


def test_link_records_the_inverse_relation_on_the_other_ticket(desk, ticket):
    child = desk.open_ticket(subject="child", requester="alice@example.com")
    desk.link(ticket.id, child.id, relation="parent_of", by=ANN)
    assert desk.history(ticket.id)[-1].relation == "parent_of"
    assert desk.history(child.id)[-1].relation == "child_of"
    with pytest.raises(ValidationError, match="unknown link relation 'sibling'"):
        desk.link(ticket.id, child.id, relation="sibling", by=ANN)
    with pytest.raises(ValidationError, match="to itself"):
        desk.link(ticket.id, ticket.id, by=ANN)


# -- reads ------------------------------------------------------------------------------------


def test_tickets_filters_by_state_category_people_and_priority(desk):
    a = desk.open_ticket(subject="a", requester="alice@example.com", priority="high")
    b = desk.open_ticket(subject="b", requester="bob@example.com")
    c = desk.open_ticket(subject="c", requester="alice@example.com")
    desk.assign(b.id, ANN, by=SAM)
    desk.transition(c.id, "triage", by=ANN)
    desk.transition(c.id, "wait_for_customer", by=ANN)
    ids = lambda tickets: [t.id for t in tickets]  # noqa: E731
    assert ids(desk.tickets()) == [a.id, b.id, c.id]
    assert ids(desk.tickets(state="new")) == [a.id, b.id]
    assert ids(desk.tickets(category="waiting")) == [c.id]
    assert ids(desk.tickets(category=[Category.NEW, Category.WAITING])) == [a.id, b.id, c.id]
    assert ids(desk.tickets(state="new", category="waiting")) == []
    assert ids(desk.tickets(assignee=ANN)) == [b.id]
    assert ids(desk.tickets(requester=ALICE)) == [a.id, c.id]
    assert ids(desk.tickets(priority="P2")) == [a.id]
    assert ids(desk.tickets(limit=2)) == [a.id, b.id]
    assert ids(desk.tickets(after=b.id)) == [c.id]


def test_tickets_refuses_unknown_states_and_bad_limits(desk):
    with pytest.raises(ValidationError, match=r"unknown state.*open"):
        desk.tickets(state="open")
    with pytest.raises(ValidationError, match="limit must be at least 1"):
        desk.tickets(limit=0)


def test_a_customer_sees_their_own_ticket_without_internal_notes_or_fields(desk):
    t = desk.open_ticket(subject="VPN", requester="alice@example.com", contract="gold")
    desk.comment(t.id, "internal: check the firewall", by=ANN)
    desk.reply(t.id, "We're on it.", by=ANN)
    desk.assign(t.id, ANN, by=SAM)
    view = desk.view(t.id, as_actor=ALICE)
    assert [m.body for m in view.messages] == ["We're on it."]
    assert [e.kind for e in view.events] == ["opened", "commented", "transitioned"]
    assert dict(view.ticket.fields) == {}
    staff_view = desk.view(t.id, as_actor=ANN)
    assert len(staff_view.messages) == 2
    assert staff_view.ticket.fields["contract"] == "gold"


def test_another_customer_gets_not_found_exactly_as_for_a_missing_ticket(desk, ticket):
    with pytest.raises(NotFound) as theirs:
        desk.view(ticket.id, as_actor=BOB)
    with pytest.raises(NotFound) as missing:
        desk.view("0000", as_actor=BOB)
    assert str(theirs.value).replace(ticket.id, "X") == str(missing.value).replace("0000", "X")


# -- idempotency --------------------------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_first_ticket(desk):
    first = desk.open_ticket(subject="x", requester="a", idempotency_key="mail-123")
    again = desk.open_ticket(subject="x", requester="a", idempotency_key="mail-123")
    assert again == first
    assert len(desk.tickets()) == 1


def test_the_same_key_with_other_arguments_is_a_conflict(desk):
    desk.open_ticket(subject="x", requester="a", idempotency_key="mail-123")
    with pytest.raises(IdempotencyConflict, match="'mail-123' was already used"):
        desk.open_ticket(subject="y", requester="a", idempotency_key="mail-123")
    assert len(desk.tickets()) == 1


def test_a_retried_transition_returns_the_first_result_even_after_later_changes(desk, ticket):
    first = desk.transition(ticket.id, "acknowledge", by=ANN, idempotency_key="k1")
    desk.transition(ticket.id, "triage", by=ANN)
    again = desk.transition(ticket.id, "acknowledge", by=ANN, idempotency_key="k1")
    assert again == first
    assert desk.get(ticket.id).state == "triaged"
    with pytest.raises(IdempotencyConflict):
        desk.transition(ticket.id, "start", by=ANN, idempotency_key="k1")


# -- atomicity, time, configuration ---------------------------------------------------------------


class ExplodingStore(MemoryStore):
    """A store whose next commit fails, as a database might."""

    def __init__(self):
        super().__init__()
        self.explode = False

    def commit(self, commit):
        if self.explode:
            raise RuntimeError("disk on fire")
        super().commit(commit)


def test_a_failed_commit_leaves_no_trace_and_calls_no_hook(manual_clock):
    calls = []

    class Spy:
        from supportflow import hookimpl

        @hookimpl
        def supportflow_ticket_commented(self, event):
            calls.append(event)

    store = ExplodingStore()
    desk = Desk(store=store, clock=manual_clock, plugins=[Spy()], load_entry_points=False)
    t = desk.open_ticket(subject="x", requester="alice@example.com")
    store.explode = True
    with pytest.raises(RuntimeError):
        desk.reply(t.id, "hello", by=ANN)  # a reply plus its acknowledge reaction
    assert desk.get(t.id) == t
    assert len(desk.history(t.id)) == 1
    assert calls == []


def test_a_lost_race_raises_concurrency_conflict_and_writes_nothing(desk, ticket):
    stale = desk.get(ticket.id)
    desk.transition(ticket.id, "acknowledge", by=ANN)
    from supportflow.events import Transitioned as T
    from supportflow.events import apply
    from supportflow.store import Commit, TicketChange

    late = T(
        ticket_id=stale.id,
        version=2,
        at=stale.created_at,
        by=ANN,
        event="triage",
        source="new",
        dest="triaged",
    )
    with pytest.raises(ConcurrencyConflict, match="expected version 1, but it is at version 2"):
        desk.store.commit(Commit((TicketChange(apply(stale, late), 1, (late,)),)))
    assert desk.get(ticket.id).state == "acknowledged"
    assert len(desk.history(ticket.id)) == 2


def test_a_clock_that_returns_naive_datetimes_is_refused(desk):
    class NaiveClock:
        def now(self):
            return datetime(2026, 3, 2, 9, 0)

    desk.clock = NaiveClock()
    with pytest.raises(NaiveDatetimeError):
        desk.open_ticket(subject="x", requester="a")
    assert desk.tickets() == []


def test_instants_from_other_zones_are_stored_in_utc(desk):
    class BerlinClock:
        def now(self):
            from zoneinfo import ZoneInfo

            return datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    desk.clock = BerlinClock()
    t = desk.open_ticket(subject="x", requester="a")
    assert t.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert t.created_at.tzinfo is UTC


def test_bad_desk_configuration_is_refused():
    with pytest.raises(ConfigError, match="lifecycle must be a Lifecycle"):
        Desk(lifecycle="standard", load_entry_points=False)
    with pytest.raises(ConfigError, match="default_priority"):
        Desk(default_priority="meh", load_entry_points=False)


def test_the_ticket_ends_where_its_history_says(desk, ticket, manual_clock):
    desk.reply(ticket.id, "On it", by=ANN)
    desk.transition(ticket.id, "start", by=ANN)
    desk.transition(ticket.id, "wait_for_customer", by=ANN)
    manual_clock.advance(timedelta(hours=3))
    desk.reply(ticket.id, "Logs attached", by=ALICE)
    desk.set_priority(ticket.id, "high", by=ANN)
    desk.transition(ticket.id, "resolve", by=ANN, resolution="Patched")
    t = desk.transition(ticket.id, "close", by=ALICE)
    history = desk.history(t.id)
    assert replay(history) == t
    assert t.version == len(history) == 10
    assert [e.version for e in history] == list(range(1, 11))


def test_a_lost_race_on_a_desk_with_sla_is_a_concurrency_conflict(manual_clock):
    from datetime import timedelta as td

    from supportflow import SLAPolicy

    policy = SLAPolicy("p", {"medium": {"first_response": td(hours=1)}})
    store = MemoryStore()
    first = Desk(store=store, clock=manual_clock, sla=[policy], retries=0, load_entry_points=False)
    second = Desk(store=store, clock=manual_clock, sla=[policy], retries=0, load_entry_points=False)
    t = first.open_ticket(subject="x", requester="alice@example.com")
    real_load = store.load
    store.load = lambda ticket_id: real_load(ticket_id) if ticket_id != t.id else stale
    stale = real_load(t.id)
    first.transition(t.id, "acknowledge", by=ANN)  # moves on behind second's back
    with pytest.raises(ConcurrencyConflict):
        second.transition(t.id, "triage", by=ANN)
    store.load = real_load
    retrying = Desk(
        store=store, clock=manual_clock, sla=[policy], retries=1, load_entry_points=False
    )
    assert retrying.transition(t.id, "triage", by=ANN).state == "triaged"
