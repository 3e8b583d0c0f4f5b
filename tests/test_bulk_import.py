"""Bulk import of whole ticket histories: memory, SQLite (a file) and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from supportflow import (
    Actor,
    ConcurrencyConflict,
    Desk,
    ManualClock,
    MemoryStore,
    SLAPolicy,
    ValidationError,
)
from supportflow._bulk import BulkImporter, import_histories
from supportflow.events import Transitioned, replay
from supportflow.lifecycles import simple, standard
from supportflow.sqlstore import SQLStore
from supportflow.store import TicketChange

H = timedelta(hours=1)
START = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
ANN = Actor.agent("ann")
SAM = Actor.supervisor("sam")


def _sql_store(request, kind, sql_prefix, sqlite_url):
    url = sqlite_url if kind == "sqlite" else request.getfixturevalue("postgres_url")
    store = SQLStore(url, prefix=sql_prefix, create=True)
    yield store
    if store.dialect == "postgresql":
        store.metadata.drop_all(store.engine)
    store.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, sql_prefix, sqlite_url):
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield from _sql_store(request, request.param, sql_prefix, sqlite_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request, sql_prefix, sqlite_url):
    yield from _sql_store(request, request.param, sql_prefix, sqlite_url)


def histories(count, *, start=START):
    """Real histories, made by a desk on a memory store: every kind of event a desk writes."""
    clock = ManualClock(start)
    desk = Desk(clock=clock, load_entry_points=False)
    made = []
    for number in range(count):
        ticket = desk.open_ticket(
            subject=f"VPN down #{number}",
            requester=f"c{number}@example.com",
            priority="high",
            channel="email",
            tags=["vpn"],
            region="emea",
        )
        clock.advance(timedelta(minutes=3))
        desk.reply(ticket.id, "Looking into it.", by=ANN)  # acknowledges it
        desk.comment(ticket.id, "Probably the concentrator.", by=ANN)
        desk.transition(ticket.id, "triage", by=ANN)
        desk.assign(ticket.id, "ann", by=ANN, group="network")
        desk.set_priority(ticket.id, "urgent", by=SAM)
        desk.update(ticket.id, by=ANN, region=None, customer_tier=2)
        if number % 2:
            desk.transition(ticket.id, "start", by=ANN)
            desk.transition(ticket.id, "resolve", by=ANN, resolution="Rebooted.")
        made.append(tuple(desk.history(ticket.id)))
    return made


def test_imported_tickets_load_back_as_their_replay_with_their_history(store):
    made = histories(7)
    assert import_histories(store, made, lifecycle=standard(), batch=3) == 7
    for history in made:
        ticket_id = history[0].ticket_id
        assert store.load(ticket_id) == replay(history)
        assert tuple(store.history(ticket_id)) == history


def test_histories_are_read_lazily_and_an_empty_import_writes_nothing(store):
    made = histories(4)
    read = []

    def lazily():
        for history in made:
            read.append(history[0].ticket_id)
            yield history

    assert import_histories(store, iter(()), batch=2) == 0
    assert import_histories(store, lazily(), batch=2) == 4
    assert read == [history[0].ticket_id for history in made]


def test_a_history_that_does_not_replay_is_refused_naming_the_ticket_and_version(store):
    good, victim = histories(2)
    gap = (*victim[:3], *victim[4:])  # version 4 is missing
    with pytest.raises(ValidationError) as refused:
        import_histories(store, [good, gap], batch=10)
    message = str(refused.value)
    assert victim[0].ticket_id in message
    assert "version 5" in message
    # The refused history's batch is not written, not even the good ticket before it.
    assert store.load(good[0].ticket_id) is None
    assert store.load(victim[0].ticket_id) is None
    assert store.history(good[0].ticket_id) == ()


def test_a_bad_history_in_a_later_batch_says_how_many_were_imported(store):
    first, second, victim = histories(3)
    mixed = (*victim[:2], attrs.evolve(victim[2], ticket_id="someone-else"), *victim[3:])
    with pytest.raises(ValidationError, match=r"version 3.*\(2 tickets of earlier batches"):
        import_histories(store, [first, second, mixed], batch=2)
    assert store.load(first[0].ticket_id) == replay(first)
    assert store.load(second[0].ticket_id) == replay(second)
    assert store.load(victim[0].ticket_id) is None


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda h: (), "empty history"),
        (lambda h: h[1:], r"ticket .+ event version 2 is a CommentAdded"),
        (lambda h: (h[0], h[1], h[1], *h[2:]), "version 2 .*comes where version 3 should"),
        (lambda h: (attrs.evolve(h[0], version=2), *h[1:]), "version 2 .*TicketOpened"),
        (lambda h: (*h, "not an event"), "not a supportflow event"),
        (
            lambda h: (h[0], attrs.evolve(h[1], at=h[1].at.replace(tzinfo=None)), *h[2:]),
            "version 2 .*naive datetime",
        ),
    ],
)
def test_each_kind_of_broken_history_is_refused(store, damage, match):
    (history,) = histories(1)
    with pytest.raises(ValidationError, match=match):
        import_histories(store, [damage(history)])
    assert store.load(history[0].ticket_id) is None


def test_with_a_lifecycle_every_transition_must_be_one_it_defines(store):
    (history,) = histories(1)
    position = next(i for i, e in enumerate(history) if isinstance(e, Transitioned) and i > 1)
    moved = history[position]
    wrong = attrs.evolve(moved, event="close", dest="closed")
    broken = (*history[:position], wrong, *history[position + 1 :])
    # It replays (the events are consistent), so without a lifecycle it is accepted ...
    assert replay(broken[: position + 1]).state == "closed"
    assert replay(broken).version == len(history)
    # ... but the standard lifecycle has no "close" from that state.
    with pytest.raises(ValidationError, match=rf"{history[0].ticket_id}.*version {position + 1}"):
        import_histories(store, [broken], lifecycle=standard())
    with pytest.raises(ValidationError, match="lifecycle 'simple' does not have"):
        import_histories(store, [history], lifecycle=simple())
    assert store.load(history[0].ticket_id) is None


def test_a_ticket_id_that_exists_refuses_the_whole_batch(store):
    taken, fresh, later = histories(3)
    import_histories(store, [taken])
    with pytest.raises(ConcurrencyConflict) as conflict:
        import_histories(store, [fresh, taken, later], batch=3)
    assert conflict.value.ticket_id == taken[0].ticket_id
    assert conflict.value.expected == 0
    assert conflict.value.actual == len(taken)
    assert store.load(fresh[0].ticket_id) is None
    assert store.load(later[0].ticket_id) is None
    assert tuple(store.history(taken[0].ticket_id)) == taken


def test_the_same_ticket_twice_in_one_batch_is_refused(store):
    (history,) = histories(1)
    with pytest.raises(ValidationError, match=f"{history[0].ticket_id} twice"):
        import_histories(store, [history, history])
    assert store.load(history[0].ticket_id) is None


def test_a_desk_carries_on_with_imported_tickets(store):
    made = histories(2)
    import_histories(store, made)
    policy = SLAPolicy("standard", {"urgent": {"first_response": H, "resolution": 4 * H}})
    clock = ManualClock(made[-1][-1].at + H)
    desk = Desk(store=store, clock=clock, load_entry_points=False, sla=[policy])
    ticket_id = made[0][0].ticket_id
    desk.transition(ticket_id, "start", by=ANN)
    after = desk.reply(ticket_id, "Fixed?", by=ANN)
    assert after.version == len(made[0]) + 2
    assert [e.kind for e in desk.history(ticket_id)][-2:] == ["transitioned", "commented"]
    assert desk.sla(ticket_id).ticket_id == ticket_id


def test_bad_batch_sizes_are_refused(store):
    for batch in (0, -1, 1.5, True):
        with pytest.raises(ValidationError, match="batch"):
            import_histories(store, histories(1), batch=batch)


class CommitsOnly:
    """A store with nothing but the Store protocol: the fallback path."""

    def __init__(self):
        self.inner = MemoryStore()
        self.commits = []

    def commit(self, commit):
        self.commits.append(len(commit.changes))
        self.inner.commit(commit)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_store_without_import_tickets_gets_one_commit_per_batch():
    store = CommitsOnly()
    assert not isinstance(store, BulkImporter)
    made = histories(5)
    assert import_histories(store, made, batch=2) == 5
    assert store.commits == [2, 2, 1]
    assert [store.load(h[0].ticket_id) for h in made] == [replay(h) for h in made]


def test_sql_import_tickets_writes_new_tickets_only(sql_store):
    store = sql_store
    assert isinstance(store, BulkImporter)
    (history,) = histories(1)
    ticket = replay(history)
    with pytest.raises(ValidationError, match="new tickets only"):
        store.import_tickets([TicketChange(ticket, 1, history[1:])])
    store.import_tickets([])
    store.import_tickets([TicketChange(ticket, 0, history)])
    assert store.load(ticket.id) == ticket
    assert tuple(store.history(ticket.id)) == history
