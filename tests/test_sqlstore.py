"""SQLStore on a real SQLite file and a real PostgreSQL server: MemoryStore's answers, durably."""

import itertools
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportflow import (
    Actor,
    Channel,
    ConcurrencyConflict,
    ConfigError,
    Desk,
    IdempotencyConflict,
    ManualClock,
    MemoryStore,
    NaiveDatetimeError,
    Priority,
    SLAPolicy,
    Store,
    SupportflowError,
    ValidationError,
)
from supportflow.events import CommentAdded, TicketOpened, apply
from supportflow.sqlstore import (
    SQLStore,
    make_engine,
    metadata,
    normalize_url,
    store_from_url,
    upgrade,
)
from supportflow.sqlstore import _codec as codec
from supportflow.sqlstore._schema import tables
from supportflow.sqlstore._sql import narrow_update
from supportflow.store import Commit, IdempotencyRecord, TicketChange, TicketQuery
from supportflow.testing.storage import StoreContract, store_machine_test

H = timedelta(hours=1)
START = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
ANN = Actor.agent("ann", groups=["network"], skills=["vpn"])
SAM = Actor.supervisor("sam")
ALICE = Actor.customer("alice@example.com")
POLICY = SLAPolicy(
    "standard",
    {
        "urgent": {"first_response": H, "resolution": 4 * H},
        "high": {"first_response": 2 * H, "resolution": 8 * H, "periodic_update": 3 * H},
        "medium": {"first_response": 4 * H, "next_response": 4 * H, "resolution": 24 * H},
    },
    warn_at=(0.5, 0.75),
)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, sqlite_url):
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(db_url, sql_prefix):
    store = SQLStore(db_url, prefix=sql_prefix, create=True)
    yield store
    store.close()


class SequentialIds:
    """Ticket ids from a counter, so two desks fed the same commands name tickets alike."""

    def __init__(self):
        self.reset()

    def reset(self):
        self._numbers = itertools.count(1)

    def __call__(self, at):
        return f"{next(self._numbers):08x}-0000-7000-8000-000000000000"


@pytest.fixture
def ids(monkeypatch):
    sequence = SequentialIds()
    monkeypatch.setattr("supportflow._desk.new_ticket_id", sequence)
    return sequence


def make_desk(store, clock=None, **options):
    return Desk(
        store=store,
        clock=clock or ManualClock(START),
        load_entry_points=False,
        sla=[POLICY],
        outbox=True,
        **options,
    )


def opened(ticket_id="t-1", at=START, requester="alice@example.com", **fields):
    event = TicketOpened(
        ticket_id=ticket_id,
        version=1,
        at=at,
        by=Actor.customer(requester),
        subject="VPN down",
        requester=requester,
        channel=Channel.EMAIL,
        priority=Priority.HIGH,
        state="new",
        **fields,
    )
    return apply(None, event), event


def note(ticket, body="note", by=ANN):
    event = CommentAdded(
        ticket_id=ticket.id,
        version=ticket.version + 1,
        at=ticket.updated_at + timedelta(minutes=1),
        by=by,
        body=body,
        public=False,
    )
    return apply(ticket, event), event


def new_change(ticket_id="t-1", **fields):
    ticket, event = opened(ticket_id, **fields)
    return TicketChange(ticket, 0, (event,), outbox=(event,))


def everything(store, ticket_ids):
    """All a store holds about some tickets, as comparable values."""
    return {
        ticket_id: (
            store.load(ticket_id),
            tuple(store.history(ticket_id)),
            store.sla_projection(ticket_id),
            store.pending_timers(ticket_id),
        )
        for ticket_id in ticket_ids
    }


# -- the store as a whole ---------------------------------------------------------------------


def play_a_morning(desk, clock):
    """Real commands: open, reply, transition, assign, update, set_priority, merge, link."""
    vpn = desk.open_ticket(
        subject="VPN down",
        requester=ALICE,
        priority="high",
        channel="email",
        tags=["vpn", "network"],
        region="emea",
        seats=(3, 4),
        since=date(2026, 3, 1),
        budget=Decimal("12.50"),
    )
    clock.advance(timedelta(minutes=20, microseconds=7))
    dup = desk.open_ticket(subject="VPN down too", requester="carol@example.com")
    desk.reply(vpn.id, "Looking into it.", by=ANN)  # acknowledges
    clock.advance(H)
    desk.assign(vpn.id, "ann", group="network", by=ANN)
    desk.transition(vpn.id, "start", by=ANN)
    desk.update(vpn.id, by=ANN, tags=["vpn", "network", "p1"], region=None, ci=["fw-1"])
    clock.advance(H)
    desk.set_priority(vpn.id, "urgent", by=SAM, reason="the CEO is affected")
    desk.transition(vpn.id, "wait_for_customer", by=ANN, note="please restart")
    clock.advance(30 * timedelta(minutes=1))
    desk.reply(vpn.id, "Restarted, still down.", by=ALICE)  # resumes
    desk.merge(dup.id, vpn.id, by=ANN)
    third = desk.open_ticket(subject="Printer", requester="dave@example.com", priority="P4")
    desk.link(third.id, vpn.id, by=ANN, relation="blocked_by")
    clock.advance(3 * H)
    desk.run_due()  # fires some warnings and breaches
    desk.transition(vpn.id, "resolve", by=ANN, resolution="Replaced the firewall.")
    return [vpn.id, dup.id, third.id]


def test_a_desk_on_the_store_holds_what_a_memory_desk_holds(store, ids):
    clock = ManualClock(START)
    on_sql = play_a_morning(make_desk(store, clock), clock)
    ids.reset()
    memory = MemoryStore()
    clock = ManualClock(START)
    in_memory = play_a_morning(make_desk(memory, clock), clock)

    assert on_sql == in_memory
    assert everything(store, on_sql) == everything(memory, in_memory)
    assert store.find(TicketQuery()) == memory.find(TicketQuery())
    assert store.outbox_backlog() == memory.outbox_backlog() > 0
    lease = timedelta(minutes=5)
    from_sql = store.claim_outbox(START, lease=lease, limit=100)
    from_memory = memory.claim_outbox(START, lease=lease, limit=100)
    assert [c.message for c in from_sql] == [c.message for c in from_memory]
    later = START + 10 * H
    from_sql = store.claim_due_timers(later, lease=lease, limit=100)
    from_memory = memory.claim_due_timers(later, lease=lease, limit=100)
    assert [(c.timer, c.attempts, c.lease_until) for c in from_sql] == [
        (c.timer, c.attempts, c.lease_until) for c in from_memory
    ]
    assert store.complete_timers(from_sql, later) == memory.complete_timers(from_memory, later)


def test_the_indexed_columns_always_match_the_snapshot(store, ids):
    # On SQLite an UPDATE sets only the indexed columns that changed; whatever
    # changed, the columns queries use must still say what the snapshot says.
    clock = ManualClock(START)
    desk = make_desk(store, clock)
    ticket_ids = play_a_morning(desk, clock)
    desk.assign(ticket_ids[2], None, group="desktop", by=SAM)
    desk.set_priority(ticket_ids[2], "low", by=SAM)
    t = tables(store.prefix).tickets
    columns = ["state", "priority", "requester", "assignee", "group", "version"]
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(t.c.id, *[t.c[name] for name in columns])).all()
    assert len(rows) == 3
    for row in rows:
        ticket = store.load(row.id)
        assert (row.state, row.priority, row.requester, row.assignee, row.group, row.version) == (
            ticket.state,
            ticket.priority.value,
            ticket.requester,
            ticket.assignee,
            ticket.group,
            ticket.version,
        )


def test_a_sqlite_update_leaves_unchanged_indexed_columns_out():
    engine = sa.create_engine("sqlite://")
    sql = narrow_update(engine.dialect, "sf_", ("state",)).sql
    assert "state=?" in sql
    for untouched in ("priority", "requester", "assignee", "group"):
        assert f"{untouched}=" not in sql.replace('"', "")


def test_values_come_back_as_the_same_types(store, ids):
    clock = ManualClock(START)
    ticket_id = play_a_morning(make_desk(store, clock), clock)[0]
    ticket = store.load(ticket_id)
    assert type(ticket.fields) is MappingProxyType
    assert ticket.fields["seats"] == (3, 4)
    assert isinstance(ticket.fields["seats"], tuple)
    assert ticket.created_at == START
    assert ticket.created_at.tzinfo is UTC
    history = store.history(ticket_id)
    assert type(history[0].fields) is MappingProxyType
    moved = [e for e in history if e.kind == "transitioned" and e.data]
    assert moved
    assert all(type(e.data) is MappingProxyType for e in moved)
    assert isinstance(store, Store)


def test_instants_round_trip_to_the_microsecond_in_utc(store):
    odd = datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)
    ticket, event = opened("t-micro", at=odd)
    store.commit(Commit((TicketChange(ticket, 0, (event,)),)))
    loaded = store.load("t-micro")
    assert loaded.created_at == odd
    assert loaded.created_at.tzinfo is UTC
    assert store.history("t-micro")[0].at == odd


def test_naive_instants_are_refused(store):
    with pytest.raises(NaiveDatetimeError):
        store.claim_due_timers(datetime(2026, 3, 2, 9, 0), lease=H, limit=1)
    with pytest.raises(NaiveDatetimeError):
        store.claim_outbox(datetime(2026, 3, 2, 9, 0), lease=H, limit=1)


# -- optimistic concurrency and atomicity -------------------------------------------------------


def test_a_stale_writer_gets_a_conflict_and_writes_nothing(store):
    first = new_change()
    store.commit(Commit((first,)))
    winner, winning = note(first.ticket, "first writer")
    loser, losing = note(first.ticket, "second writer")
    store.commit(Commit((TicketChange(winner, 1, (winning,), outbox=(winning,)),)))
    backlog = store.outbox_backlog()

    with pytest.raises(ConcurrencyConflict) as caught:
        store.commit(Commit((TicketChange(loser, 1, (losing,), outbox=(losing,)),)))

    assert (caught.value.ticket_id, caught.value.expected, caught.value.actual) == ("t-1", 1, 2)
    assert store.load("t-1") == winner
    assert [e.body for e in store.history("t-1")[1:]] == ["first writer"]
    assert store.outbox_backlog() == backlog


def test_two_desks_racing_on_one_ticket_lose_no_update(db_url, sql_prefix):
    stores = [SQLStore(db_url, prefix=sql_prefix, create=True) for _ in range(2)]
    desks = [
        Desk(store=s, clock=ManualClock(START), load_entry_points=False, retries=0) for s in stores
    ]
    ticket = desks[0].open_ticket(subject="race", requester="alice@example.com")
    # Both read version 1; the second commit finds version 2.
    desks[0].store = _Pinned(stores[0], ticket)
    desks[1].store = _Pinned(stores[1], ticket)
    desks[0].comment(ticket.id, "one", by=ANN)
    with pytest.raises(ConcurrencyConflict):
        desks[1].comment(ticket.id, "two", by=ANN)
    assert [e.kind for e in stores[1].history(ticket.id)] == ["opened", "commented"]
    assert stores[1].history(ticket.id)[1].body == "one"
    for s in stores:
        s.close()


class _Pinned:
    """A store whose reads of one ticket answer from a snapshot taken earlier: a stale reader."""

    def __init__(self, store, ticket):
        self._store, self._ticket = store, ticket

    def load(self, ticket_id):
        return self._ticket if ticket_id == self._ticket.id else self._store.load(ticket_id)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_a_new_ticket_with_a_taken_id_is_a_conflict(store):
    store.commit(Commit((new_change(),)))
    with pytest.raises(ConcurrencyConflict) as caught:
        store.commit(Commit((new_change(requester="mallory@example.com"),)))
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert store.load("t-1").requester == "alice@example.com"


def test_a_commit_whose_second_change_conflicts_writes_nothing(store):
    store.commit(Commit((new_change("t-a"), new_change("t-b"))))
    a = store.load("t-a")
    b = store.load("t-b")
    sla_before = store.sla_projection("t-a")
    backlog = store.outbox_backlog()
    a2, a_event = note(a)
    b2, b_event = note(b)
    stale = attrs.evolve(b2, version=3)
    record = IdempotencyRecord("key-1", "fp", "t-a", 2)

    with pytest.raises(ConcurrencyConflict):
        store.commit(
            Commit(
                (
                    TicketChange(a2, 1, (a_event,), outbox=(a_event,)),
                    TicketChange(stale, 2, (b_event,), outbox=(b_event,)),
                ),
                record,
            )
        )

    assert store.load("t-a") == a
    assert len(store.history("t-a")) == 1
    assert store.sla_projection("t-a") == sla_before
    assert store.outbox_backlog() == backlog
    assert store.idempotency("key-1") is None


def test_an_idempotency_key_is_recorded_once(store):
    record = IdempotencyRecord("open-42", "fingerprint", "t-1", 1)
    store.commit(Commit((new_change("t-1"),), record))
    assert store.idempotency("open-42") == record

    with pytest.raises(IdempotencyConflict, match="open-42"):
        store.commit(Commit((new_change("t-2"),), IdempotencyRecord("open-42", "x", "t-2", 1)))

    assert store.load("t-2") is None
    assert store.idempotency("open-42") == record


def test_a_desk_retry_with_the_same_key_returns_the_first_ticket(store):
    desk = make_desk(store)
    first = desk.open_ticket(subject="Hi", requester="alice@example.com", idempotency_key="k")
    again = desk.open_ticket(subject="Hi", requester="alice@example.com", idempotency_key="k")
    assert again == first
    assert store.find(TicketQuery()) == [first]


def test_a_value_the_store_cannot_encode_is_refused_before_anything_is_written(store):
    desk = make_desk(store)
    with pytest.raises(ValidationError, match="cannot store the object value"):
        desk.open_ticket(subject="Hi", requester="alice@example.com", blob=object())
    assert store.find(TicketQuery()) == []


def test_text_postgresql_refuses_is_a_validation_error_and_writes_nothing(postgres_url, sql_prefix):
    store = SQLStore(postgres_url, prefix=sql_prefix, create=True)
    desk = make_desk(store)
    with pytest.raises(ValidationError, match="NUL"):
        desk.open_ticket(subject="Hi", requester="alice\x00@example.com")
    assert store.find(TicketQuery()) == []
    store.close()


# -- queries -----------------------------------------------------------------------------------


def test_find_filters_and_pages_like_the_memory_store(store, ids):
    memory = MemoryStore()
    for target in (store, memory):
        ids.reset()
        desk = make_desk(target)
        for n in range(9):
            t = desk.open_ticket(
                subject=f"ticket {n}",
                requester=f"customer{n % 3}@example.com",
                priority=["urgent", "high", "medium", "low"][n % 4],
                group="network" if n % 2 else None,
            )
            if n % 3 == 0:
                desk.assign(t.id, "ann", by=ANN)
            if n % 4 == 1:
                desk.transition(t.id, "triage", by=ANN)
    queries = [
        TicketQuery(),
        TicketQuery(states=frozenset({"new"})),
        TicketQuery(states=frozenset({"new", "triaged"}), group="network"),
        TicketQuery(states=frozenset()),
        TicketQuery(assignee="ann"),
        TicketQuery(requester="customer1@example.com"),
        TicketQuery(priority=Priority.HIGH),
        TicketQuery(priority=Priority.LOW, requester="customer0@example.com"),
        TicketQuery(group="network", limit=2),
        TicketQuery(after="00000004-0000-7000-8000-000000000000", limit=3),
    ]
    for query in queries:
        assert store.find(query) == memory.find(query), query
    pages, after = [], None
    while page := store.find(TicketQuery(after=after, limit=2)):
        pages.append(page)
        after = page[-1].id
    assert [t for page in pages for t in page] == store.find(TicketQuery())
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]


# -- timers --------------------------------------------------------------------------------------


def test_due_timers_are_claimed_once_and_never_come_back(store):
    clock = ManualClock(START)
    desk = make_desk(store, clock)
    ticket = desk.open_ticket(subject="VPN down", requester=ALICE, priority="urgent")
    pending = store.pending_timers(ticket.id)
    assert [t.kind for t in pending] == [
        "warning",
        "warning",
        "breach",
        "warning",
        "warning",
        "breach",
    ]
    assert all(t.at.tzinfo is UTC for t in pending)

    assert store.claim_due_timers(START, lease=H, limit=10) == []
    due = START + H + timedelta(minutes=1)  # two warnings and the first-response breach
    first = store.complete_timers(store.claim_due_timers(due, lease=H, limit=1), due)
    assert first == [pending[0]]
    rest = store.complete_timers(store.claim_due_timers(due, lease=H, limit=10), due)
    assert rest == list(pending[1:3])
    assert store.claim_due_timers(due, lease=H, limit=10) == []

    clock.advance(timedelta(minutes=1))
    desk.comment(ticket.id, "internal", by=ANN)  # recomputes and rewrites the timers
    keys = {t.key for t in store.pending_timers(ticket.id)}
    assert keys.isdisjoint(t.key for t in [*first, *rest])
    assert keys == {t.key for t in pending[3:]}


def test_concurrent_claimants_share_the_due_timers_without_overlap(db_url, sql_prefix):
    store = SQLStore(db_url, prefix=sql_prefix, create=True)
    desk = make_desk(store)
    for n in range(12):
        desk.open_ticket(subject=f"t{n}", requester=ALICE, priority="urgent")
    due = {t.key for row in store.find(TicketQuery()) for t in store.pending_timers(row.id)}
    claimed, errors = [], []

    def claim():
        own = SQLStore(db_url, prefix=sql_prefix)
        try:
            while batch := own.claim_due_timers(START + 10 * H, lease=H, limit=3):
                claimed.extend(c.timer.key for c in batch)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    assert errors == []
    assert len(claimed) == len(set(claimed)) == len(due) > 12
    assert set(claimed) == due


# -- the outbox ------------------------------------------------------------------------------------


def test_outbox_claims_lease_expire_and_complete_by_compare_and_set(store):
    desk = make_desk(store)
    ticket = desk.open_ticket(subject="VPN down", requester=ALICE)
    desk.reply(ticket.id, "On it.", by=ANN)  # commented + transitioned
    assert store.outbox_backlog() == 3
    lease = timedelta(minutes=1)

    first = store.claim_outbox(START, lease=lease, limit=2, worker="w1")
    assert [c.message.kind for c in first] == ["opened", "commented"]
    assert [c.attempts for c in first] == [1, 1]
    assert first[0].message.id < first[1].message.id
    assert first[0].lease_until == START + lease
    assert first[0].message.event == store.history(ticket.id)[0]
    second = store.claim_outbox(START, lease=lease, limit=5, worker="w2")
    assert [c.message.kind for c in second] == ["transitioned"]
    assert store.claim_outbox(START + lease / 2, lease=lease, limit=5) == []

    assert store.complete_outbox(second[0], START)
    assert not store.complete_outbox(second[0], START)  # once

    later = START + 2 * lease  # w1's lease ran out
    again = store.claim_outbox(later, lease=lease, limit=5, worker="w3")
    assert [c.message for c in again] == [c.message for c in first]
    assert [c.attempts for c in again] == [2, 2]
    assert {c.token for c in again}.isdisjoint(c.token for c in first)
    assert not store.complete_outbox(first[0], later)  # the late holder is refused
    assert store.complete_outbox(again[0], later)
    assert store.outbox_backlog() == 1


# -- an application's own transaction -----------------------------------------------------------


def _engine(db_url):
    return make_engine(db_url)


@pytest.mark.parametrize("ending", ["rollback", "commit"])
def test_tickets_commit_or_roll_back_with_the_apps_transaction(db_url, sql_prefix, ending):
    engine = _engine(db_url)
    upgrade(engine, prefix=sql_prefix)
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
        store = SQLStore(connection, prefix=sql_prefix)
        desk = make_desk(store)
        ticket = desk.open_ticket(subject="inside", requester="alice@example.com")
        desk.reply(ticket.id, "seen", by=ANN)
        assert store.load(ticket.id).version == 3  # visible inside the transaction
        getattr(connection, ending)()
        store.close()
    outside = SQLStore(engine, prefix=sql_prefix)
    try:
        found = outside.load(ticket.id)
        if ending == "rollback":
            assert found is None
            assert outside.history(ticket.id) == ()
            assert outside.outbox_backlog() == 0
        else:
            assert found.version == 3
    finally:
        engine.dispose()


def test_a_refused_commit_leaves_the_apps_transaction_usable(db_url, sql_prefix):
    engine = _engine(db_url)
    upgrade(engine, prefix=sql_prefix)
    with engine.connect() as connection:
        store = SQLStore(connection, prefix=sql_prefix)
        store.commit(Commit((new_change("t-1"),)))
        with pytest.raises(ConcurrencyConflict):
            store.commit(Commit((new_change("t-1"),)))
        store.commit(Commit((new_change("t-2"),)))  # the savepoint rolled back, not the app
        connection.commit()
    assert [t.id for t in SQLStore(engine, prefix=sql_prefix).find(TicketQuery())] == [
        "t-1",
        "t-2",
    ]
    engine.dispose()


def test_a_plain_pysqlite_engine_still_rolls_back_with_the_app(sqlite_url, sql_prefix):
    engine = sa.create_engine(sqlite_url)  # pysqlite's own transaction handling
    upgrade(engine, prefix=sql_prefix)
    with engine.connect() as connection:
        store = SQLStore(connection, prefix=sql_prefix)
        store.commit(Commit((new_change("t-1"),)))
        connection.rollback()
    assert SQLStore(engine, prefix=sql_prefix).load("t-1") is None
    engine.dispose()


def test_a_plain_pysqlite_engine_still_gets_atomic_commits(sqlite_url, sql_prefix):
    engine = sa.create_engine(sqlite_url)  # not from make_engine: no BEGIN listener
    store = SQLStore(engine, prefix=sql_prefix, create=True)
    store.commit(Commit((new_change("t-a"),)))
    store.commit(Commit((new_change("t-b"),)))
    a2, event = note(store.load("t-a"))
    # The first change is fine; the second re-creates an existing ticket.
    with pytest.raises(ConcurrencyConflict):
        store.commit(Commit((TicketChange(a2, 1, (event,)), new_change("t-b"))))
    assert store.load("t-a").version == 1
    assert len(store.history("t-a")) == 1
    store.close()
    engine.dispose()


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix", ["", "Sf_", "1sf_", "sf-", "sf_\n", "sf tickets", "a" * 22, "sf_;drop", None]
)
def test_an_invalid_prefix_is_refused_with_what_to_use_instead(prefix):
    with pytest.raises(ConfigError, match=r"invalid table prefix .*lowercase letter") as caught:
        SQLStore("sqlite://", prefix=prefix)
    assert "for example 'sf_'" in str(caught.value)


def test_prefixes_of_one_to_21_characters_are_fine():
    for prefix in ("a", "sf_", "helpdesk_2_", "a" * 21):
        store = SQLStore("sqlite://", prefix=prefix, create=True)
        store.close()


def test_unsupported_urls_are_refused():
    with pytest.raises(ConfigError, match="supports SQLite and PostgreSQL"):
        store_from_url("mysql://root@localhost/desk")
    with pytest.raises(ConfigError, match="cannot parse"):
        store_from_url("not a url")


def test_postgresql_urls_get_the_psycopg_driver():
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_an_in_memory_store_keeps_its_tickets_on_one_connection():
    store = store_from_url("sqlite://")
    desk = make_desk(store)
    ticket = desk.open_ticket(subject="Hi", requester="alice@example.com")
    assert store.load(ticket.id) == ticket
    assert store.capabilities == frozenset()
    store.close()


def test_a_file_store_uses_wal_a_busy_timeout_and_foreign_keys(sqlite_url):
    store = store_from_url(sqlite_url)
    with store.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA busy_timeout").scalar() == 30000
        assert pragma("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_postgresql_offers_skip_locked_and_listen_notify(postgres_url, sql_prefix):
    store = store_from_url(postgres_url.replace("+psycopg", ""), prefix=sql_prefix)
    assert store.capabilities >= {"skip_locked", "listen_notify"}
    store.close()


def test_postgresql_commits_with_outbox_rows_notify_listeners(postgres_url, sql_prefix):
    import psycopg
    from psycopg import sql

    store = SQLStore(postgres_url, prefix=sql_prefix, create=True)
    plain_url = sa.make_url(postgres_url).set(drivername="postgresql")
    dsn = plain_url.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(store.notify_channel)))
        store.commit(Commit((new_change(),)))
        heard = list(listener.notifies(timeout=5, stop_after=1))
    store.close()
    assert [n.channel for n in heard] == [store.notify_channel]


def test_upgrading_twice_changes_nothing(db_url, sql_prefix):
    upgrade(db_url, prefix=sql_prefix)
    upgrade(db_url, prefix=sql_prefix)
    engine = _engine(db_url)
    with engine.connect() as connection:
        version = connection.execute(
            sa.select(sa.column("version_num")).select_from(
                sa.table(f"{sql_prefix}alembic_version")
            )
        )
        assert version.scalars().all() == [_head_revision()]
    engine.dispose()


def _head_revision():
    from alembic.script import ScriptDirectory

    from supportflow.sqlstore._migrate import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_the_head_revision_is_the_newest_file():
    from supportflow.sqlstore._migrate import MIGRATIONS

    files = sorted((MIGRATIONS / "versions").glob("rev_*.py"))
    assert _head_revision() == files[-1].name.split("_")[1]


# -- the schema: metadata and migrations agree --------------------------------------------------


def _options(index):
    return sorted((k, str(v)) for k, v in index.get("dialect_options", {}).items())


def _schema(engine, prefix, exclude=None):
    inspector = sa.inspect(engine)
    names = sorted(
        name
        for name in inspector.get_table_names()
        if name.startswith(prefix)
        and not (exclude and name.startswith(exclude))
        and name != f"{prefix}alembic_version"
    )
    found = {}
    for name in names:
        found[name] = {
            "columns": [
                (
                    c["name"],
                    repr(c["type"]),
                    c["nullable"],
                    c.get("default"),
                    c.get("autoincrement"),
                )
                for c in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"], _options(i))
                for i in inspector.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name)
            ),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(name)
            ),
        }
    return repr(found).replace(prefix, "<prefix>")


def test_the_migrations_build_exactly_the_metadatas_schema(db_url, sql_prefix):
    migrated, created = sql_prefix, f"{sql_prefix}c_"
    engine = _engine(db_url)
    try:
        upgrade(engine, prefix=migrated)
        with engine.begin() as connection:
            metadata(created).create_all(connection)
        from_migrations = _schema(engine, migrated, exclude=created)
        from_metadata = _schema(engine, created)
    finally:
        engine.dispose()
    assert "<prefix>outbox" in from_migrations
    assert from_migrations == from_metadata


# -- the codec -------------------------------------------------------------------------------------

_words = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    _words,
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.binary(max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_words, inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=6,
)
_field_names = st.sampled_from(["region", "seats", "ci", "meta"])
_agents = st.sampled_from([ANN, SAM, Actor.agent("bo", tier="senior")])
_customers = st.sampled_from(["alice@example.com", "bob@example.com"])

_open = st.tuples(
    st.just("open"),
    _customers,
    st.sampled_from(["P1", "P2", "P3", "P4"]),
    st.dictionaries(_field_names, _values, max_size=2),
)
_command = st.one_of(
    _open,
    st.tuples(st.just("reply"), st.integers(0, 5), st.booleans(), _words.filter(str.strip)),
    st.tuples(st.just("note"), st.integers(0, 5), _agents, _words.filter(str.strip)),
    st.tuples(
        st.just("transition"),
        st.integers(0, 5),
        st.integers(0, 20),
        st.dictionaries(_field_names, _values, max_size=2),
    ),
    st.tuples(st.just("priority"), st.integers(0, 5), st.sampled_from(["P1", "P2", "P4"])),
    st.tuples(st.just("update"), st.integers(0, 5), _field_names, _values),
    st.tuples(st.just("assign"), st.integers(0, 5), st.sampled_from(["ann", "bo", None])),
    st.tuples(st.just("merge"), st.integers(0, 5), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.integers(1, 10**10)),
)
# Always one ticket to work on first, then anything.
_commands = st.tuples(_open, st.lists(_command, min_size=4, max_size=25)).map(
    lambda t: [t[0], *t[1]]
)


def _run(desk, clock, commands):
    tickets = []
    for command in commands:
        kind, *args = command
        pick = tickets[args[0] % len(tickets)] if tickets and kind not in ("open", "wait") else None
        try:
            if kind == "open":
                customer, priority, fields = args
                t = desk.open_ticket(subject="s", requester=customer, priority=priority, **fields)
                tickets.append(t.id)
            elif kind == "wait":
                clock.advance(timedelta(microseconds=args[0]))
            elif pick is None:
                continue
            elif kind == "reply":
                customer = Actor.customer(desk.get(pick).requester)
                desk.reply(pick, args[2], by=ANN if args[1] else customer)
            elif kind == "note":
                desk.comment(pick, args[2], by=args[1])
            elif kind == "transition":
                events = desk.lifecycle.events_from(desk.get(pick).state)
                if events:
                    data = {"resolution": "done", "reason": "dup", **args[2]}
                    desk.transition(pick, events[args[1] % len(events)], by=SAM, **data)
            elif kind == "priority":
                desk.set_priority(pick, args[1], by=ANN)
            elif kind == "update":
                desk.update(pick, by=ANN, **{args[1]: args[2]})
            elif kind == "assign":
                desk.assign(pick, args[1], by=ANN)
            elif kind == "merge":
                desk.merge(pick, tickets[args[1] % len(tickets)], by=ANN)
        except SupportflowError:
            pass  # refused commands (closed tickets, guards) write nothing
    return tickets


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=_commands)
def test_the_codec_round_trips_what_random_commands_produce(commands):
    clock = ManualClock(START)
    store = MemoryStore()
    desk = make_desk(store, clock)
    for ticket_id in _run(desk, clock, commands):
        ticket = store.load(ticket_id)
        assert codec.decode_ticket(codec.loads(codec.dumps(codec.encode_ticket(ticket)))) == ticket
        for event in store.history(ticket_id):
            encoded = codec.loads(codec.dumps(codec.encode_event(event)))
            assert encoded["kind"] == event.kind
            back = codec.decode_event(encoded)
            assert back == event
            assert type(back) is type(event)
            assert codec.decode_actor(codec.encode_actor(event.by)) == event.by
        projection = store.sla_projection(ticket_id)
        encoded_sla = codec.loads(codec.dumps(codec.encode_sla(projection)))
        assert codec.decode_sla(encoded_sla) == projection
        for timer in store.pending_timers(ticket_id):
            assert codec.decode_timer(codec.loads(codec.dumps(codec.encode_timer(timer)))) == timer


@given(value=_values)
def test_any_typed_values_keep_their_types(value):
    back = codec.decode_value(codec.loads(codec.dumps(codec.encode_value(value))))
    assert back == value
    assert type(back) is type(value)


def test_mappings_that_look_like_tags_survive():
    tricky = {"$tuple": [1, 2], "plain": {"$set": []}}
    assert codec.decode_value(codec.loads(codec.dumps(codec.encode_value(tricky)))) == tricky


# -- the storage conformance kit -------------------------------------------------------------------


class TestSQLiteStoreContract(StoreContract):
    operations_per_thread = 8  # the kit's 40 takes long with a real disk and two cores

    @pytest.fixture
    def store(self, sqlite_url, sql_prefix):
        store = SQLStore(sqlite_url, prefix=sql_prefix, create=True)
        yield store
        store.close()

    @pytest.fixture
    def worker_store(self, store, sqlite_url, sql_prefix):
        return lambda: SQLStore(sqlite_url, prefix=sql_prefix)  # a connection pool of its own


@pytest.fixture(scope="class")
def shared_postgres_schema(postgres_url, drop_tables):
    """One set of tables for a whole contract class, emptied before each test: creating
    and dropping them for each of its ~75 tests would take most of this file's time budget."""
    prefix = f"k{uuid.uuid4().hex[:8]}_"
    upgrade(postgres_url, prefix=prefix)
    yield prefix
    drop_tables(postgres_url, prefix)


class TestPostgreSQLStoreContract(StoreContract):
    operations_per_thread = 8

    @pytest.fixture
    def store(self, postgres_url, shared_postgres_schema):
        store = SQLStore(postgres_url, prefix=shared_postgres_schema)
        names = ", ".join(table.name for table in store.metadata.sorted_tables)
        with store.engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
        yield store
        store.close()

    @pytest.fixture
    def worker_store(self, store, postgres_url, shared_postgres_schema):
        return lambda: SQLStore(postgres_url, prefix=shared_postgres_schema)


TestSQLiteStoreMachine = store_machine_test(
    lambda: SQLStore("sqlite://", create=True),
    settings=settings(
        max_examples=20,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    ),
)


def test_postgresql_store_agrees_with_the_memory_store_at_every_step(postgres_url, drop_tables):
    """The same random commands on PostgreSQL and on MemoryStore: after every step
    they agree on everything observable (as SQLite does, above)."""
    from hypothesis.stateful import run_state_machine_as_test

    from supportflow.testing.storage import StoreStateMachine

    prefix = f"m{uuid.uuid4().hex[:8]}_"
    upgrade(postgres_url, prefix=prefix)

    class PostgreSQLMachine(StoreStateMachine):
        def make_store(self):
            store = SQLStore(postgres_url, prefix=prefix)
            names = ", ".join(table.name for table in store.metadata.sorted_tables)
            with store.engine.begin() as connection:
                connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
            return store

    try:
        run_state_machine_as_test(
            PostgreSQLMachine,
            settings=settings(
                max_examples=15,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        drop_tables(postgres_url, prefix)
