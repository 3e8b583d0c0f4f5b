"""Storage benchmarks: the SQL store against raw sqlite3 and psycopg doing the same writes.

Run::

    python benchmarks/bench_store.py --quick       # smaller sizes, < 90 s
    python benchmarks/bench_store.py               # full run, < 8 minutes on 2 cores
    python benchmarks/bench_store.py --json store.json
    python benchmarks/bench_store.py --postgres-url postgresql://postgres@127.0.0.1/test

The targets come from the storage issue; every pair is measured side by side
in one run:

1. desk commands on a SQLite file: ``Desk.transition`` (in_progress ⇄
   waiting_on_customer) and ``Desk.open_ticket`` on ``SQLStore`` against raw
   ``sqlite3`` doing the same writes in one transaction (UPDATE of the ticket
   row with a version check, or INSERT of it, plus an INSERT of the event row;
   JSON bodies with the same keys; the store's WAL / synchronous / busy-timeout
   settings). Target: within 2×.
2. bulk import of 100,000 tickets with 5 events each (10,000 with
   ``--quick``): ``supportflow._bulk.import_histories`` into SQLite against raw
   ``sqlite3`` ``executemany`` of the same rows (byte-identical JSON, checked),
   in the same batches. Target: within 2×.
3. PostgreSQL commands per second with 1 and 8 forked worker processes, each
   with its own engine, on tickets of its own and on shared tickets (reporting
   conflicts), against raw psycopg doing the same writes. No hard target.
4. ``claim_due_timers(now, limit=100)`` with 10,000 and 1,000,000 open
   tickets' timers (100,000 with ``--quick``) on SQLite and PostgreSQL, tables
   loaded with bulk inserts (``executemany`` / ``COPY``). Target: within 2×
   between the sizes.

Timings are the best of N repeats of ``time.perf_counter`` around a loop with
the garbage collector disabled inside it (collected in between), after an
untimed warm-up, and rows that are compared are timed in interleaved rounds.
The PostgreSQL throughput runs are timed windows instead (commands completed
in a fixed number of seconds), with the collector left on, as in a server.
Every table and file the script creates is removed at the end.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import multiprocessing
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common
import sqlalchemy as sa
from _common import emit, package_version, table, verdict

from supportflow import (
    Actor,
    Channel,
    CommentAdded,
    ConcurrencyConflict,
    Desk,
    InvalidTransition,
    ManualClock,
    MemoryStore,
    Priority,
    TicketOpened,
    Transitioned,
)
from supportflow._bulk import import_histories
from supportflow._model import new_ticket_id
from supportflow.events import Event, replay
from supportflow.lifecycles import standard
from supportflow.sqlstore import SQLStore, normalize_url
from supportflow.sqlstore._codec import dumps, encode_event, encode_ticket
from supportflow.sqlstore._engine import BUSY_TIMEOUT

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = Actor.agent("ann")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

#: Sizes and repeats: (full, quick).
PARAMS: dict[str, tuple[Any, Any]] = {
    "command_tickets": (400, 150),
    "command_repeats": (5, 3),
    "open_tickets": (800, 300),
    "import_tickets": (100_000, 10_000),
    "import_events_per_ticket": (5, 5),
    "import_batch": (1_000, 1_000),
    "import_repeats": (2, 1),
    "pg_seconds": (4.0, 1.5),
    "pg_workers": ((1, 8), (1, 8)),
    "pg_tickets_per_worker": (100, 40),
    "pg_shared_tickets": (8, 8),
    "timer_sizes": ((10_000, 1_000_000), (10_000, 100_000)),
    "timer_due": (100, 100),
    "timer_repeats": (15, 7),
}

# The event cycle of section 1 (and 3): in_progress ⇄ waiting_on_customer.
TOGGLE = {
    "in_progress": ("wait_for_customer", "waiting_on_customer"),
    "waiting_on_customer": ("resume", "in_progress"),
}
# The SQLite settings every connection of the store's engine gets (see sqlstore._engine).
SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000):d}",
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
)
TICKET_COLUMNS = (
    "id",
    "version",
    "state",
    "priority",
    "requester",
    "assignee",
    "group",
    "created_at",
    "updated_at",
    "snapshot",
)
EVENT_COLUMNS = ("ticket_id", "version", "kind", "at", "body")
TIMER_COLUMNS = (
    "key",
    "ticket_id",
    "at",
    "metric",
    "cycle",
    "kind",
    "threshold",
    "target_version",
    "policy_set",
)


# -- timing helpers ------------------------------------------------------------------------------


def timed(run: Callable[[], object]) -> float:
    """Seconds for one call of ``run`` with the garbage collector disabled (collected first)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        run()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def interleaved(rows: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Time every row once per round, ``repeats`` rounds after one untimed warm-up round,
    so a noisy moment of the machine hits all rows alike."""
    for run in rows.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, run in rows.items():
            times[name].append(timed(run))
    return times


def _pkg_version(name: str) -> str:
    return package_version(name, "not installed")


def us(value: float) -> str:
    return _common.micros(value, 1)


def ratio(a: float, b: float) -> str:
    return _common.times(a, b, 2)


# -- SQLite and PostgreSQL plumbing ---------------------------------------------------------------


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A raw connection set up like the store's engine: autocommit driver, explicit
    BEGIN IMMEDIATE for writes, WAL, synchronous=NORMAL, busy timeout, foreign keys."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(pragma)
    return connection


def sqlite_schema(path: Path, prefix: str = "sf_") -> None:
    """Create the store's tables (through its migrations) in a new database file."""
    SQLStore(f"sqlite:///{path}", prefix=prefix, create=True).close()


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string for raw psycopg."""
    return normalize_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_problem(url: str) -> str | None:
    try:
        engine = sa.create_engine(normalize_url(url), connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # driver missing, refused, bad credentials
        return f"{type(exc).__name__}: {next(iter(str(exc).splitlines()), '')}"
    return None


def drop_postgres_tables(url: str, prefix: str) -> None:
    """Drop every table whose name starts with ``prefix`` (the store's and Alembic's)."""
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.begin() as connection:
            names = [n for n in sa.inspect(connection).get_table_names() if n.startswith(prefix)]
            if names:
                quote = connection.dialect.identifier_preparer.quote
                connection.exec_driver_sql(
                    f"DROP TABLE IF EXISTS {', '.join(quote(n) for n in names)} CASCADE"
                )
    finally:
        engine.dispose()


def new_prefix(tag: str) -> str:
    return f"bench_{tag}{uuid.uuid4().hex[:6]}_"


def sql_update_ticket(prefix: str, style: str) -> str:
    """The UPDATE the store issues for a ticket row: every column, with a version check."""
    sets = ", ".join(f'"{c}" = {_ph(style, c)}' for c in TICKET_COLUMNS)
    return (
        f"UPDATE {prefix}tickets SET {sets} "
        f"WHERE id = {_ph(style, 'where_id')} AND version = {_ph(style, 'expected')}"
    )


def sql_insert(prefix: str, name: str, columns: Sequence[str], style: str) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(_ph(style, c) for c in columns)
    return f"INSERT INTO {prefix}{name} ({names}) VALUES ({values})"


def _ph(style: str, name: str) -> str:
    return "?" if style == "qmark" else "%s"


# -- histories and rows ---------------------------------------------------------------------------


def make_histories(count: int, events: int, at: datetime = START) -> list[tuple[Event, ...]]:
    """``count`` ticket histories of ``events`` events each, valid for ``standard()``:
    opened, an agent reply and the acknowledgement it triggers, triage, start, then
    alternating waits and resumes and replies. Sections 1 and 3 need tickets in
    ``in_progress``: 5 events end there."""
    histories = []
    for number in range(count):
        requester = f"customer{number}@example.com"
        customer = Actor.customer(requester)
        ticket_id = new_ticket_id(at)
        made: list[Event] = [
            TicketOpened(
                ticket_id=ticket_id,
                version=1,
                at=at,
                by=customer,
                subject=f"VPN drops every few minutes (#{number})",
                requester=requester,
                channel=Channel.EMAIL,
                priority=Priority.HIGH,
                state="new",
                description="Since this morning the VPN client disconnects every few minutes.",
            )
        ]
        script = [
            ("reply", None),
            ("acknowledge", ("new", "acknowledged", "reaction:agent_reply")),
            ("triage", ("acknowledged", "triaged", None)),
            ("start", ("triaged", "in_progress", None)),
        ]
        while len(script) < events - 1:
            script += [
                ("wait_for_customer", ("in_progress", "waiting_on_customer", None)),
                ("resume", ("waiting_on_customer", "in_progress", None)),
            ]
        for step, (name, move) in enumerate(script[: events - 1], start=2):
            moment = at + timedelta(minutes=step)
            if move is None:
                made.append(
                    CommentAdded(
                        ticket_id=ticket_id,
                        version=step,
                        at=moment,
                        by=AGENT,
                        body="Looking into it; could you send us the VPN client log?",
                        public=True,
                    )
                )
            else:
                source, dest, cause = move
                made.append(
                    Transitioned(
                        ticket_id=ticket_id,
                        version=step,
                        at=moment,
                        by=AGENT,
                        event=name,
                        source=source,
                        dest=dest,
                        cause=cause,
                    )
                )
        histories.append(tuple(made))
    return histories


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _actor_json(actor: Actor) -> dict[str, Any]:
    return {
        "role": actor.role.value,
        "id": actor.id,
        "name": actor.name,
        "tier": None if actor.tier is None else actor.tier.value,
        "groups": list(actor.groups),
        "skills": list(actor.skills),
        "organization": actor.organization,
    }


def hand_event_json(event: Event, by: dict[str, Any]) -> str:
    """What a hand-written importer would do: the event as a dict, ``json.dumps``-ed.

    Written for the three event types these benchmarks use; the text is
    byte-identical to the store's codec (checked outside the timings)."""
    body: dict[str, Any] = {
        "kind": event.kind,
        "ticket_id": event.ticket_id,
        "version": event.version,
        "at": _iso(event.at),
        "by": by,
    }
    if isinstance(event, TicketOpened):
        body.update(
            subject=event.subject,
            requester=event.requester,
            channel=event.channel.value,
            priority=event.priority.value,
            state=event.state,
            description=event.description,
            category=event.category,
            tags=list(event.tags),
            assignee=event.assignee,
            group=event.group,
            fields={},
            impact=event.impact,
            urgency=event.urgency,
        )
    elif isinstance(event, CommentAdded):
        body.update(body=event.body, public=event.public)
    elif isinstance(event, Transitioned):
        body.update(
            event=event.event, source=event.source, dest=event.dest, data={}, cause=event.cause
        )
    return json.dumps(body, separators=(",", ":"))


def hand_snapshot(opened: TicketOpened, version_: int, state: str, updated: str) -> dict[str, Any]:
    return {
        "id": opened.ticket_id,
        "subject": opened.subject,
        "requester": opened.requester,
        "channel": opened.channel.value,
        "priority": opened.priority.value,
        "state": state,
        "version": version_,
        "created_at": _iso(opened.at),
        "updated_at": updated,
        "description": opened.description,
        "category": opened.category,
        "tags": list(opened.tags),
        "assignee": opened.assignee,
        "group": opened.group,
        "fields": {},
        "merged_into": None,
    }


def hand_rows(
    histories: Sequence[tuple[Event, ...]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Ticket and event rows for ``histories``, built the way a hand-written importer
    would: fold state, version and instant by hand, ``json.dumps`` plain dicts."""
    tickets: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    actors: dict[Actor, dict[str, Any]] = {}
    for history in histories:
        opened = history[0]
        assert isinstance(opened, TicketOpened)
        state = opened.state
        for event in history:
            by = actors.get(event.by)
            if by is None:
                by = actors[event.by] = _actor_json(event.by)
            if isinstance(event, Transitioned):
                state = event.dest
            events.append(
                (
                    event.ticket_id,
                    event.version,
                    event.kind,
                    _iso(event.at),
                    hand_event_json(event, by),
                )
            )
        last = _iso(history[-1].at)
        snapshot = json.dumps(
            hand_snapshot(opened, len(history), state, last), separators=(",", ":")
        )
        tickets.append(
            (
                opened.ticket_id,
                len(history),
                state,
                opened.priority.value,
                opened.requester,
                opened.assignee,
                opened.group,
                _iso(opened.at),
                last,
                snapshot,
            )
        )
    return tickets, events


def codec_rows(
    histories: Sequence[tuple[Event, ...]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows the store writes, made with the store's codec (untimed: the floor's input)."""
    tickets = []
    events = []
    for history in histories:
        ticket = replay(history)
        assert ticket is not None
        tickets.append(
            (
                ticket.id,
                ticket.version,
                ticket.state,
                ticket.priority.value,
                ticket.requester,
                ticket.assignee,
                ticket.group,
                _iso(ticket.created_at),
                _iso(ticket.updated_at),
                dumps(encode_ticket(ticket)),
            )
        )
        events += [
            (e.ticket_id, e.version, e.kind, _iso(e.at), dumps(encode_event(e))) for e in history
        ]
    return tickets, events


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- 1. desk commands on SQLite ------------------------------------------------------------------


class RawTicket:
    """What a hand-written application keeps about a ticket between commands."""

    __slots__ = ("id", "snapshot", "state", "version")

    def __init__(self, ticket_id: str, version_: int, state: str, snapshot: dict[str, Any]):
        self.id = ticket_id
        self.version = version_
        self.state = state
        self.snapshot = snapshot


def raw_transition_sqlite(
    connection: sqlite3.Connection, prefix: str, tickets: list[RawTicket], *, read: bool
) -> Callable[[], None]:
    """The same writes as ``Desk.transition`` on the store, by hand: one transaction
    with an UPDATE of the ticket row (version check) and an INSERT of the event row.
    With ``read``, first a SELECT of the snapshot and ``json.loads``, as the desk does."""
    update = sql_update_ticket(prefix, "qmark")
    insert = sql_insert(prefix, "events", EVENT_COLUMNS, "qmark")
    select = f"SELECT snapshot FROM {prefix}tickets WHERE id = ?"
    by = _actor_json(AGENT)
    execute = connection.execute
    dumps_ = json.dumps

    def run() -> None:
        for _ in range(2):
            for t in tickets:
                if read:
                    t.snapshot = json.loads(execute(select, (t.id,)).fetchone()[0])
                event, dest = TOGGLE[t.state]
                version_ = t.version + 1
                at = _iso(datetime.now(UTC))
                snapshot = t.snapshot
                snapshot.update(version=version_, state=dest, updated_at=at)
                body = {
                    "kind": "transitioned",
                    "ticket_id": t.id,
                    "version": version_,
                    "at": at,
                    "by": by,
                    "event": event,
                    "source": t.state,
                    "dest": dest,
                    "data": {},
                    "cause": None,
                }
                execute("BEGIN IMMEDIATE")
                cursor = execute(
                    update,
                    (
                        t.id,
                        version_,
                        dest,
                        snapshot["priority"],
                        snapshot["requester"],
                        snapshot["assignee"],
                        snapshot["group"],
                        snapshot["created_at"],
                        at,
                        dumps_(snapshot, separators=(",", ":")),
                        t.id,
                        t.version,
                    ),
                )
                if cursor.rowcount != 1:
                    execute("ROLLBACK")
                    raise RuntimeError(f"raw baseline lost ticket {t.id}")
                execute(
                    insert,
                    (t.id, version_, "transitioned", at, dumps_(body, separators=(",", ":"))),
                )
                execute("COMMIT")
                t.version, t.state = version_, dest

    return run


def raw_open_sqlite(connection: sqlite3.Connection, prefix: str, count: int) -> Callable[[], None]:
    """The same writes as ``Desk.open_ticket``: INSERT the ticket row and the
    TicketOpened row in one transaction."""
    insert_ticket = sql_insert(prefix, "tickets", TICKET_COLUMNS, "qmark")
    insert_event = sql_insert(prefix, "events", EVENT_COLUMNS, "qmark")
    execute = connection.execute
    dumps_ = json.dumps

    def run() -> None:
        tag = uuid.uuid4().hex[:8]
        for i in range(count):
            requester = f"{tag}-{i}@example.com"
            now = datetime.now(UTC)
            at = _iso(now)
            ticket_id = new_ticket_id(now)
            by: dict[str, Any] = {
                "role": "customer",
                "id": requester,
                "name": None,
                "tier": None,
                "groups": [],
                "skills": [],
                "organization": None,
            }
            body = {
                "kind": "opened",
                "ticket_id": ticket_id,
                "version": 1,
                "at": at,
                "by": by,
                "subject": "VPN down",
                "requester": requester,
                "channel": "web",
                "priority": "medium",
                "state": "new",
                "description": "",
                "category": None,
                "tags": [],
                "assignee": None,
                "group": None,
                "fields": {},
                "impact": None,
                "urgency": None,
            }
            snapshot = {
                "id": ticket_id,
                "subject": "VPN down",
                "requester": requester,
                "channel": "web",
                "priority": "medium",
                "state": "new",
                "version": 1,
                "created_at": at,
                "updated_at": at,
                "description": "",
                "category": None,
                "tags": [],
                "assignee": None,
                "group": None,
                "fields": {},
                "merged_into": None,
            }
            execute("BEGIN IMMEDIATE")
            execute(
                insert_ticket,
                (
                    ticket_id,
                    1,
                    "new",
                    "medium",
                    requester,
                    None,
                    None,
                    at,
                    at,
                    dumps_(snapshot, separators=(",", ":")),
                ),
            )
            execute(insert_event, (ticket_id, 1, "opened", at, dumps_(body, separators=(",", ":"))))
            execute("COMMIT")

    return run


def bench_commands(p: dict[str, Any], workdir: Path) -> dict[str, Any]:
    n = p["command_tickets"]
    lc = standard()
    histories = make_histories(n, 5)  # all end in in_progress
    per_round = 2 * n

    # supportflow: a desk on a SQLStore file; tickets imported (untimed).
    sf_path = workdir / "commands-store.db"
    store = SQLStore(f"sqlite:///{sf_path}", create=True)
    import_histories(store, histories, lifecycle=lc)
    desk = Desk(store=store, clock=ManualClock(START), load_entry_points=False)
    ids = [h[0].ticket_id for h in histories]
    # The same desk on a MemoryStore: the part of the cost that is not storage.
    memory = MemoryStore()
    import_histories(memory, histories, lifecycle=lc)
    memory_desk = Desk(store=memory, clock=ManualClock(START), load_entry_points=False)

    def desk_cycle(d: Desk) -> Callable[[], None]:
        def run() -> None:
            transition = d.transition
            for event in ("wait_for_customer", "resume"):
                for ticket_id in ids:
                    transition(ticket_id, event, by=AGENT)

        return run

    # raw sqlite3: its own file with the same schema and the same ticket rows.
    raw_path = workdir / "commands-raw.db"
    sqlite_schema(raw_path)
    raw = sqlite_connect(raw_path)
    tickets, events = codec_rows(histories)
    raw.execute("BEGIN IMMEDIATE")
    raw.executemany(sql_insert("sf_", "tickets", TICKET_COLUMNS, "qmark"), tickets)
    raw.executemany(sql_insert("sf_", "events", EVENT_COLUMNS, "qmark"), events)
    raw.execute("COMMIT")
    raw_tickets = [RawTicket(row[0], row[1], row[2], json.loads(row[9])) for row in tickets]

    rows = {
        "Desk.transition, SQLStore (SQLite file)": desk_cycle(desk),
        "raw sqlite3, same writes": raw_transition_sqlite(raw, "sf_", raw_tickets, read=False),
        "raw sqlite3, read + same writes": raw_transition_sqlite(
            raw, "sf_", raw_tickets, read=True
        ),
        "Desk.transition, MemoryStore": desk_cycle(memory_desk),
    }
    times = interleaved(rows, p["command_repeats"])
    out: dict[str, Any] = {"tickets": n, "commands_per_round": per_round, "transition": {}}
    for name, ts in times.items():
        out["transition"][name] = {
            "us": min(ts) / per_round * 1e6,
            "median_us": statistics.median(ts) / per_round * 1e6,
        }
    assert all(store.load(i).state == "in_progress" for i in ids[:5])  # type: ignore[union-attr]

    # open_ticket: a fresh batch of requesters each round.
    count = p["open_tickets"]

    def desk_open(d: Desk) -> Callable[[], None]:
        def run() -> None:
            open_ticket = d.open_ticket
            tag = uuid.uuid4().hex[:8]
            for i in range(count):
                open_ticket(subject="VPN down", requester=f"{tag}-{i}@example.com")

        return run

    raw_open = raw_open_sqlite(raw, "sf_", count)
    open_rows = {
        "Desk.open_ticket, SQLStore (SQLite file)": desk_open(desk),
        "raw sqlite3, same writes": raw_open,
        "Desk.open_ticket, MemoryStore": desk_open(memory_desk),
    }
    open_times = interleaved(open_rows, p["command_repeats"])
    out["open_ticket"] = {
        name: {"us": min(ts) / count * 1e6, "median_us": statistics.median(ts) / count * 1e6}
        for name, ts in open_times.items()
    }
    out["open_tickets"] = count
    store.close()
    raw.close()
    return out


# -- 2. bulk import -------------------------------------------------------------------------------


def bench_import(p: dict[str, Any], workdir: Path) -> dict[str, Any]:
    n, per, size = p["import_tickets"], p["import_events_per_ticket"], p["import_batch"]
    lc = standard()
    t0 = time.perf_counter()
    histories = make_histories(n, per, at=START - timedelta(days=30))
    made_s = time.perf_counter() - t0
    floor_tickets, floor_events = codec_rows(histories)  # untimed: the floor's input
    insert_ticket = sql_insert("sf_", "tickets", TICKET_COLUMNS, "qmark")
    insert_event = sql_insert("sf_", "events", EVENT_COLUMNS, "qmark")
    paths: list[Path] = []

    def fresh() -> Path:
        path = workdir / f"import-{uuid.uuid4().hex[:8]}.db"
        sqlite_schema(path)
        paths.append(path)
        return path

    def clean() -> None:
        while paths:
            path = paths.pop()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def supportflow_import() -> float:
        store = SQLStore(f"sqlite:///{fresh()}")
        try:
            # Connect once untimed, like the raw side's connection.
            with store.engine.connect():
                pass
            return timed(lambda: import_histories(store, histories, lifecycle=lc, batch=size))
        finally:
            store.close()

    def raw_import(encode: bool) -> float:
        connection = sqlite_connect(fresh())

        def run() -> None:
            if encode:
                for chunk in batches(histories, size):
                    tickets, events = hand_rows(chunk)
                    connection.execute("BEGIN IMMEDIATE")
                    connection.executemany(insert_ticket, tickets)
                    connection.executemany(insert_event, events)
                    connection.execute("COMMIT")
            else:
                for start in range(0, n, size):
                    connection.execute("BEGIN IMMEDIATE")
                    connection.executemany(insert_ticket, floor_tickets[start : start + size])
                    connection.executemany(
                        insert_event, floor_events[start * per : (start + size) * per]
                    )
                    connection.execute("COMMIT")

        try:
            return timed(run)
        finally:
            connection.close()

    # Same JSON, byte for byte: the hand-built rows equal the codec's (and the store's).
    sample_tickets, sample_events = hand_rows(histories[:50])
    assert sample_tickets == floor_tickets[:50]
    assert sample_events == floor_events[: 50 * per]

    rows: dict[str, Callable[[], float]] = {
        "import_histories → SQLStore (SQLite file)": supportflow_import,
        "raw sqlite3 executemany, rows built with json.dumps": lambda: raw_import(True),
        "raw sqlite3 executemany, rows prepared (floor)": lambda: raw_import(False),
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    try:
        for _ in range(p["import_repeats"]):
            for name, run in rows.items():
                times[name].append(run())
                if name.startswith("import_histories"):
                    # Check what was written once per round, untimed.
                    check = SQLStore(f"sqlite:///{paths[-1]}")
                    last = histories[-1]
                    assert check.load(last[0].ticket_id) == replay(last)
                    assert tuple(check.history(last[0].ticket_id)) == last
                    with check.engine.connect() as connection:
                        written = connection.scalar(sa.text("SELECT count(*) FROM sf_events"))
                    assert written == n * per, written
                    check.close()
                clean()
    finally:
        clean()
    out: dict[str, Any] = {
        "tickets": n,
        "events_per_ticket": per,
        "batch": size,
        "histories_built_s": made_s,
        "rows": {},
    }
    for name, ts in times.items():
        best = min(ts)
        out["rows"][name] = {
            "s": best,
            "median_s": statistics.median(ts),
            "tickets_per_s": n / best,
            "rows_per_s": n * (per + 1) / best,
        }
    return out


# -- 3. PostgreSQL commands per second ------------------------------------------------------------


def _sf_worker(
    url: str,
    prefix: str,
    ticket_ids: list[str],
    seconds: float,
    barrier: Any,
    results: Any,
) -> None:
    store = SQLStore(url, prefix=prefix)  # an engine of this process's own
    conflicts = 0
    commit = store.commit

    def counting_commit(c: Any) -> None:
        nonlocal conflicts
        try:
            commit(c)
        except ConcurrencyConflict:
            conflicts += 1
            raise

    store.commit = counting_commit  # type: ignore[method-assign,assignment]
    desk = Desk(store=store, load_entry_points=False)
    states = {ticket_id: desk.get(ticket_id).state for ticket_id in ticket_ids}
    done = refused = 0
    barrier.wait()
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for ticket_id in ticket_ids:
            event, _ = TOGGLE[states[ticket_id]]
            try:
                states[ticket_id] = desk.transition(ticket_id, event, by=AGENT).state
                done += 1
            except InvalidTransition as exc:  # somebody moved it first
                states[ticket_id] = exc.state or states[ticket_id]
                refused += 1
            except ConcurrencyConflict:  # lost the race more often than the desk retries
                states[ticket_id] = desk.get(ticket_id).state
                refused += 1
            if time.perf_counter() >= deadline:
                break
    elapsed = time.perf_counter() - start
    results.put({"done": done, "conflicts": conflicts, "refused": refused, "elapsed": elapsed})
    store.close()


def _raw_worker(
    url: str,
    prefix: str,
    ticket_ids: list[str],
    seconds: float,
    barrier: Any,
    results: Any,
    read: bool,
) -> None:
    import psycopg

    update = sql_update_ticket(prefix, "format")
    insert = sql_insert(prefix, "events", EVENT_COLUMNS, "format")
    select = f"SELECT version, state, snapshot FROM {prefix}tickets WHERE id = %s"
    by = _actor_json(AGENT)
    connection = psycopg.connect(libpq_url(url))
    cursor = connection.cursor()

    def fetch(ticket_id: str) -> RawTicket:
        cursor.execute(select, (ticket_id,))
        row = cursor.fetchone()
        assert row is not None
        return RawTicket(ticket_id, row[0], row[1], json.loads(row[2]))

    known = {ticket_id: fetch(ticket_id) for ticket_id in ticket_ids}
    connection.rollback()
    done = conflicts = refused = 0
    barrier.wait()
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for ticket_id in ticket_ids:
            t = known[ticket_id]
            if read:
                t = known[ticket_id] = fetch(ticket_id)
            event, dest = TOGGLE[t.state]
            source = t.state
            for _attempt in range(4):  # the desk retries a lost race 3 times
                version_ = t.version + 1
                now = datetime.now(UTC)
                at = _iso(now)
                snapshot = dict(t.snapshot, version=version_, state=dest, updated_at=at)
                body = {
                    "kind": "transitioned",
                    "ticket_id": t.id,
                    "version": version_,
                    "at": at,
                    "by": by,
                    "event": event,
                    "source": source,
                    "dest": dest,
                    "data": {},
                    "cause": None,
                }
                cursor.execute(
                    update,
                    (
                        t.id,
                        version_,
                        dest,
                        snapshot["priority"],
                        snapshot["requester"],
                        snapshot["assignee"],
                        snapshot["group"],
                        datetime.fromisoformat(snapshot["created_at"]),
                        now,
                        json.dumps(snapshot, separators=(",", ":")),
                        t.id,
                        t.version,
                    ),
                )
                if cursor.rowcount == 1:
                    cursor.execute(
                        insert,
                        (
                            t.id,
                            version_,
                            "transitioned",
                            now,
                            json.dumps(body, separators=(",", ":")),
                        ),
                    )
                    connection.commit()
                    known[ticket_id] = RawTicket(t.id, version_, dest, snapshot)
                    done += 1
                    break
                connection.rollback()
                conflicts += 1
                t = known[ticket_id] = fetch(ticket_id)
                connection.rollback()
                if t.state != source:  # somebody moved it first
                    refused += 1
                    break
            else:
                refused += 1
            if time.perf_counter() >= deadline:
                break
    elapsed = time.perf_counter() - start
    results.put({"done": done, "conflicts": conflicts, "refused": refused, "elapsed": elapsed})
    connection.close()


def run_workers(
    target: Callable[..., None],
    url: str,
    prefix: str,
    seconds: float,
    assignments: list[list[str]],
    *extra: Any,
) -> dict[str, Any]:
    """Fork one worker per assignment, start them together, and add up what they did."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(assignments) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(url, prefix, ids, seconds, barrier, results, *extra))
        for ids in assignments
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"a benchmark worker failed (exit code {process.exitcode})")
    done = sum(r["done"] for r in reports)
    elapsed = max(r["elapsed"] for r in reports)
    return {
        "workers": len(assignments),
        "commands": done,
        "seconds": elapsed,
        "per_s": done / elapsed,
        "conflicts": sum(r["conflicts"] for r in reports),
        "refused": sum(r["refused"] for r in reports),
    }


def bench_postgres(p: dict[str, Any], url: str) -> dict[str, Any]:
    lc = standard()
    seconds = p["pg_seconds"]
    counts = p["pg_workers"]
    per_worker = p["pg_tickets_per_worker"]
    shared_n = p["pg_shared_tickets"]
    total = max(counts) * per_worker + shared_n
    sf_prefix, raw_prefix = new_prefix("sf"), new_prefix("raw")
    out: dict[str, Any] = {"seconds_per_run": seconds, "tickets_per_worker": per_worker}
    try:
        # Both schemas built by the store's migrations; the same tickets in each.
        histories = make_histories(total, 5)
        for prefix in (sf_prefix, raw_prefix):
            store = SQLStore(url, prefix=prefix, create=True)
            import_histories(store, histories, lifecycle=lc)
            store.close()
        ids = [h[0].ticket_id for h in histories]
        own = [ids[w * per_worker : (w + 1) * per_worker] for w in range(max(counts))]
        shared_ids = ids[-shared_n:]
        # Each worker walks the shared tickets from its own starting point.
        shared = [shared_ids[w:] + shared_ids[:w] for w in range(max(counts))]
        runs: dict[str, Any] = {}
        for workers in counts:
            runs[f"supportflow own {workers}"] = run_workers(
                _sf_worker, url, sf_prefix, seconds, own[:workers]
            )
            runs[f"raw own {workers}"] = run_workers(
                _raw_worker, url, raw_prefix, seconds, own[:workers], False
            )
            runs[f"raw read own {workers}"] = run_workers(
                _raw_worker, url, raw_prefix, seconds, own[:workers], True
            )
        workers = max(counts)
        runs[f"supportflow shared {workers}"] = run_workers(
            _sf_worker, url, sf_prefix, seconds, shared[:workers]
        )
        runs[f"raw shared {workers}"] = run_workers(
            _raw_worker, url, raw_prefix, seconds, shared[:workers], False
        )
        out["runs"] = runs
        # Every committed command left exactly one event: nothing lost, nothing doubled.
        engine = sa.create_engine(normalize_url(url))
        with engine.connect() as connection:
            for prefix, who in ((sf_prefix, "supportflow"), (raw_prefix, "raw")):
                events = connection.scalar(sa.text(f"SELECT count(*) FROM {prefix}events"))
                committed = sum(r["commands"] for k, r in runs.items() if k.startswith(who))
                assert events == len(ids) * 5 + committed, (who, events, committed)
                bad = connection.scalar(
                    sa.text(
                        f"SELECT count(*) FROM {prefix}tickets t WHERE t.version <> "
                        f"(SELECT max(version) FROM {prefix}events e WHERE e.ticket_id = t.id)"
                    )
                )
                assert bad == 0, (who, bad)
        engine.dispose()
    finally:
        drop_postgres_tables(url, sf_prefix)
        drop_postgres_tables(url, raw_prefix)
    return out


# -- 4. claiming due timers -----------------------------------------------------------------------


def _ticket_row(ticket_id: str, at: datetime | str) -> tuple[Any, ...]:
    # The claim never reads tickets: a placeholder snapshot keeps the load small.
    return (ticket_id, 1, "in_progress", "high", "c@example.com", None, None, at, at, "{}")


def _timer_row(key: str, ticket_id: str, at: datetime | str) -> tuple[Any, ...]:
    return (key, ticket_id, at, "resolution", 1, "breach", None, 1, 0)


def _ticket_ids(count: int, tag: str) -> list[str]:
    return [f"{tag}{i:012d}" for i in range(count)]


def load_timers_sqlite(path: Path, size: int) -> tuple[list[str], float]:
    """``size`` tickets with one far-future timer each, by ``executemany`` in one transaction."""
    connection = sqlite_connect(path)
    ids = _ticket_ids(size, "t")
    start, future = _iso(START), START + timedelta(days=365)
    t0 = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        sql_insert("sf_", "tickets", TICKET_COLUMNS, "qmark"),
        (_ticket_row(i, start) for i in ids),
    )
    connection.executemany(
        sql_insert("sf_", "timers", TIMER_COLUMNS, "qmark"),
        (
            _timer_row(f"{i}:resolution:1:breach", i, _iso(future + timedelta(seconds=n)))
            for n, i in enumerate(ids)
        ),
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("ANALYZE")
    loaded = time.perf_counter() - t0
    connection.close()
    return ids, loaded


def load_timers_postgres(url: str, prefix: str, size: int) -> tuple[list[str], float]:
    """The same on PostgreSQL with ``COPY``, then ``ANALYZE`` (this server may run
    without autovacuum; a production one would have analysed the tables by itself)."""
    import psycopg

    ids = _ticket_ids(size, "t")
    future = START + timedelta(days=365)
    t0 = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as connection:
        with connection.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in TICKET_COLUMNS)
            with cursor.copy(f"COPY {prefix}tickets ({names}) FROM STDIN") as copy:
                for i in ids:
                    copy.write_row(_ticket_row(i, START))
            names = ", ".join(f'"{c}"' for c in TIMER_COLUMNS)
            with cursor.copy(f"COPY {prefix}timers ({names}) FROM STDIN") as copy:
                for n, i in enumerate(ids):
                    copy.write_row(
                        _timer_row(f"{i}:resolution:1:breach", i, future + timedelta(seconds=n))
                    )
        connection.commit()
        connection.autocommit = True
        connection.execute(f"ANALYZE {prefix}tickets")
        connection.execute(f"ANALYZE {prefix}timers")
    return ids, time.perf_counter() - t0


_CLAIM_LEASE = timedelta(minutes=5)


def _claim_into(claimed: list[Any], store: SQLStore, now: datetime, due: int) -> None:
    claims = store.claim_due_timers(now, lease=_CLAIM_LEASE, limit=due)
    claimed.extend(store.complete_timers(claims, now))


def measure_claims(
    store: SQLStore,
    insert_due: Callable[[list[tuple[Any, ...]]], None],
    ids: list[str],
    due: int,
    repeats: int,
    iso: bool,
) -> dict[str, Any]:
    """Best and median time of ``claim_due_timers(now, limit=due)`` with ``due`` timers
    due, re-inserted (with fresh keys: fired keys never come back) before each run."""
    now = START
    times: list[float] = []
    for round_ in range(repeats + 1):  # the first round is the warm-up
        rows = []
        for n in range(due):
            at = now - timedelta(minutes=5) + timedelta(microseconds=n)
            rows.append(
                _timer_row(f"due-{round_}-{n}", ids[(n * 7919) % len(ids)], _iso(at) if iso else at)
            )
        insert_due(rows)
        claimed: list[Any] = []
        elapsed = timed(functools.partial(_claim_into, claimed, store, now, due))
        assert len(claimed) == due, len(claimed)
        assert all(t.key.startswith(f"due-{round_}-") for t in claimed)
        if round_:
            times.append(elapsed)
    return {"us": min(times) * 1e6, "median_us": statistics.median(times) * 1e6}


def bench_timers(p: dict[str, Any], workdir: Path, url: str | None) -> dict[str, Any]:
    due, repeats = p["timer_due"], p["timer_repeats"]
    out: dict[str, Any] = {"due": due, "sqlite": {}, "postgresql": {}}
    insert_sqlite = sql_insert("sf_", "timers", TIMER_COLUMNS, "qmark")
    for size in p["timer_sizes"]:
        path = workdir / f"timers-{size}.db"
        sqlite_schema(path)
        ids, loaded = load_timers_sqlite(path, size)
        raw = sqlite_connect(path)

        def insert_due(rows: list[tuple[Any, ...]], raw: sqlite3.Connection = raw) -> None:
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(insert_sqlite, rows)
            raw.execute("COMMIT")

        store = SQLStore(f"sqlite:///{path}")
        result = measure_claims(store, insert_due, ids, due, repeats, iso=True)
        plan = raw.execute(
            "EXPLAIN QUERY PLAN SELECT key FROM sf_timers WHERE at <= ? ORDER BY at, key LIMIT ?",
            (_iso(START), due),
        ).fetchall()
        result.update(load_s=loaded, plan="; ".join(str(row[-1]) for row in plan))
        out["sqlite"][size] = result
        store.close()
        raw.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if url is None:
        return out
    import psycopg

    for size in p["timer_sizes"]:
        prefix = new_prefix("tm")
        try:
            store = SQLStore(url, prefix=prefix, create=True)
            ids, loaded = load_timers_postgres(url, prefix, size)
            insert_pg = sql_insert(prefix, "timers", TIMER_COLUMNS, "format")
            with psycopg.connect(libpq_url(url)) as raw_pg:

                def insert_due_pg(
                    rows: list[tuple[Any, ...]], raw_pg: Any = raw_pg, insert: str = insert_pg
                ) -> None:
                    with raw_pg.cursor() as cursor:
                        cursor.executemany(insert, rows)
                    raw_pg.commit()

                result = measure_claims(store, insert_due_pg, ids, due, repeats, iso=False)
                plan = raw_pg.execute(
                    f"EXPLAIN DELETE FROM {prefix}timers WHERE key IN (SELECT key FROM "
                    f"{prefix}timers WHERE at <= %s ORDER BY at, key LIMIT %s "
                    "FOR UPDATE SKIP LOCKED) RETURNING *",
                    (START, due),
                ).fetchall()
                raw_pg.rollback()
            scans = [
                row[0].split("  (")[0].replace("->", "").replace(prefix, "").strip()
                for row in plan
                if "Scan using" in row[0] or "Seq Scan" in row[0]
            ]
            result.update(load_s=loaded, plan="; ".join(scan.split(" on ")[0] for scan in scans))
            out["postgresql"][size] = result
            store.close()
        finally:
            drop_postgres_tables(url, prefix)
    return out


# -- report ---------------------------------------------------------------------------------------


def environment(url: str | None) -> dict[str, Any]:
    env = _common.environment(
        sqlite=sqlite3.sqlite_version,
        sqlalchemy=_pkg_version("sqlalchemy"),
        psycopg=_pkg_version("psycopg"),
        supportflow=_pkg_version("supportflow"),
        postgresql=None,
    )
    if url is not None:
        engine = sa.create_engine(normalize_url(url))
        with engine.connect() as connection:
            env["postgresql"] = connection.scalar(sa.text("SHOW server_version"))
            env["postgresql_settings"] = {
                name: connection.scalar(sa.text(f"SHOW {name}"))
                for name in ("synchronous_commit", "fsync", "shared_buffers", "autovacuum")
            }
        engine.dispose()
    return env


def report(results: dict[str, Any]) -> str:
    env = results["env"]
    out: list[str] = []
    pg_settings = env.get("postgresql_settings") or {}
    out.append(
        f"Python {env['python']} ({env['implementation']}) on {env['platform']}, "
        f"{env['machine']}, {env['cpu_count']} CPUs; SQLite {env['sqlite']}; "
        f"PostgreSQL {env['postgresql'] or 'not reachable'}"
        + (
            " (" + ", ".join(f"{k}={v}" for k, v in pg_settings.items()) + ")"
            if pg_settings
            else ""
        )
        + f"; SQLAlchemy {env['sqlalchemy']}, psycopg {env['psycopg']}, "
        f"supportflow {env['supportflow']}; mode: {results['mode']}\n"
    )
    summary: list[list[str]] = []

    # 1
    cm = results["commands"]
    tr = cm["transition"]
    sf_t = tr["Desk.transition, SQLStore (SQLite file)"]["us"]
    raw_t = tr["raw sqlite3, same writes"]["us"]
    out.append(
        f"## 1. Desk commands on a SQLite file vs raw sqlite3 ({cm['tickets']:,} tickets, "
        "in_progress ⇄ waiting_on_customer)\n"
    )
    out.append(
        table(
            ["what", "per command (best)", "median", "× raw same writes"],
            [
                [name, us(v["us"]), us(v["median_us"]), ratio(v["us"], raw_t)]
                for name, v in tr.items()
            ],
        )
    )
    op = cm["open_ticket"]
    sf_o = op["Desk.open_ticket, SQLStore (SQLite file)"]["us"]
    raw_o = op["raw sqlite3, same writes"]["us"]
    out.append("")
    out.append(
        table(
            [f"open_ticket × {cm['open_tickets']:,}", "per command (best)", "median", "× raw"],
            [
                [name, us(v["us"]), us(v["median_us"]), ratio(v["us"], raw_o)]
                for name, v in op.items()
            ],
        )
    )
    out.append(
        "\nRaw = one `BEGIN IMMEDIATE` transaction with the UPDATE the store issues (every "
        "column, `WHERE id = ? AND version = ?`) or the INSERT of the ticket row, plus the "
        "INSERT of the event row; JSON bodies with the same keys, `json.dumps`-ed per command.\n"
    )
    summary.append(
        [
            "Desk.transition on SQLite vs raw sqlite3",
            us(sf_t),
            us(raw_t),
            ratio(sf_t, raw_t),
            "≤ 2×",
            verdict(sf_t <= 2 * raw_t),
        ]
    )
    summary.append(
        [
            "Desk.open_ticket on SQLite vs raw sqlite3",
            us(sf_o),
            us(raw_o),
            ratio(sf_o, raw_o),
            "≤ 2×",
            verdict(sf_o <= 2 * raw_o),
        ]
    )

    # 2
    im = results["import"]
    rows = im["rows"]
    sf_i = rows["import_histories → SQLStore (SQLite file)"]["s"]
    raw_i = rows["raw sqlite3 executemany, rows built with json.dumps"]["s"]
    floor_i = rows["raw sqlite3 executemany, rows prepared (floor)"]["s"]
    out.append(
        f"## 2. Bulk import of {im['tickets']:,} tickets × {im['events_per_ticket']} events "
        f"into a SQLite file (batches of {im['batch']:,})\n"
    )
    out.append(
        table(
            ["what", "total (best)", "median", "tickets/s", "rows/s", "× raw", "× floor"],
            [
                [
                    name,
                    f"{v['s']:.2f} s",
                    f"{v['median_s']:.2f} s",
                    f"{v['tickets_per_s']:,.0f}",
                    f"{v['rows_per_s']:,.0f}",
                    ratio(v["s"], raw_i),
                    ratio(v["s"], floor_i),
                ]
                for name, v in rows.items()
            ],
        )
    )
    out.append(
        "\nimport_histories replays and checks every history against the lifecycle, then "
        "encodes it with the store's codec. The raw importer builds the same rows from the "
        "same event objects with `json.dumps` (byte-identical JSON, asserted); the floor "
        "only inserts rows prepared beforehand. Building the histories (untimed) took "
        f"{im['histories_built_s']:.1f} s.\n"
    )
    summary.append(
        [
            f"import {im['tickets']:,} tickets vs raw executemany",
            f"{sf_i:.2f} s",
            f"{raw_i:.2f} s",
            ratio(sf_i, raw_i),
            "≤ 2×",
            verdict(sf_i <= 2 * raw_i),
        ]
    )
    summary.append(
        [
            "import vs raw executemany of prepared rows (floor)",
            f"{sf_i:.2f} s",
            f"{floor_i:.2f} s",
            ratio(sf_i, floor_i),
            "—",
            "info",
        ]
    )

    # 3
    pg = results.get("postgres")
    if pg is None:
        out.append(f"## 3. PostgreSQL commands per second\n\nskipped: {results['pg_skipped']}\n")
        summary.append(["PostgreSQL commands/s", "—", "—", "—", "report", "skipped"])
    else:
        runs = pg["runs"]
        out.append(
            f"## 3. PostgreSQL commands per second (Desk.transition vs raw psycopg; "
            f"{pg['seconds_per_run']:.1f} s per run, forked workers with engines of their own)\n"
        )
        rows3 = []
        for key, run in runs.items():
            who, mode, workers = key.rsplit(" ", 2)
            label = {
                "supportflow": "Desk.transition, SQLStore",
                "raw": "raw psycopg, same writes",
                "raw read": "raw psycopg, read + same writes",
            }[who]
            base = runs.get(f"raw {mode} {workers}")
            rows3.append(
                [
                    label,
                    "own tickets" if mode == "own" else "shared tickets",
                    workers,
                    f"{run['per_s']:,.0f}",
                    f"{1e6 / run['per_s'] * int(workers):,.0f} µs",
                    f"{run['conflicts']:,}",
                    f"{run['refused']:,}",
                    ratio(base["per_s"], run["per_s"]) if base else "—",
                ]
            )
        out.append(
            table(
                [
                    "what",
                    "tickets",
                    "workers",
                    "commands/s",
                    "latency",
                    "conflicts",
                    "refused",
                    "raw/this",
                ],
                rows3,
            )
        )
        out.append(
            "\nlatency = workers / throughput. conflicts: lost optimistic-concurrency races "
            "(the desk retries them from a fresh read, up to 3 times; raw re-reads and retries "
            "the same way); refused: commands whose ticket another worker had already moved "
            "(InvalidTransition). `raw/this` is how many times faster raw psycopg was.\n"
        )
        for workers in results["params"]["pg_workers"]:
            sf = runs[f"supportflow own {workers}"]["per_s"]
            raw = runs[f"raw own {workers}"]["per_s"]
            summary.append(
                [
                    f"PostgreSQL commands/s, {workers} worker{'s' if workers > 1 else ''}, "
                    "own tickets",
                    f"{sf:,.0f}/s",
                    f"{raw:,.0f}/s",
                    f"{raw / sf:.2f}× slower",
                    "report (2×)",
                    "within 2×" if raw <= 2 * sf else "not within 2×",
                ]
            )
        workers = max(results["params"]["pg_workers"])
        sf_run, raw_run = runs[f"supportflow shared {workers}"], runs[f"raw shared {workers}"]
        summary.append(
            [
                f"PostgreSQL commands/s, {workers} workers, shared tickets",
                f"{sf_run['per_s']:,.0f}/s ({sf_run['conflicts']:,} conflicts)",
                f"{raw_run['per_s']:,.0f}/s ({raw_run['conflicts']:,} conflicts)",
                f"{raw_run['per_s'] / sf_run['per_s']:.2f}× slower",
                "report",
                "within 2×" if raw_run["per_s"] <= 2 * sf_run["per_s"] else "not within 2×",
            ]
        )

    # 4
    tm = results["timers"]
    out.append(f"## 4. claim_due_timers(now, limit={tm['due']}) with few and many open tickets\n")
    rows4 = []
    for backend in ("sqlite", "postgresql"):
        sizes = tm[backend]
        if not sizes:
            continue
        small = sizes[min(sizes)]["us"]
        for size, v in sizes.items():
            rows4.append(
                [
                    "SQLite" if backend == "sqlite" else "PostgreSQL",
                    f"{size:,}",
                    us(v["us"]),
                    us(v["median_us"]),
                    ratio(v["us"], small),
                    f"{v['load_s']:.1f} s",
                    v["plan"],
                ]
            )
        big = sizes[max(sizes)]["us"]
        summary.append(
            [
                f"claim 100 due timers, {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}, "
                f"{max(sizes):,} vs {min(sizes):,} tickets",
                us(big),
                us(small),
                ratio(big, small),
                "≤ 2×",
                verdict(big <= 2 * small),
            ]
        )
    if not tm["postgresql"]:
        summary.append(["claim due timers, PostgreSQL", "—", "—", "—", "≤ 2×", "skipped"])
    out.append(
        table(
            [
                "backend",
                "open tickets",
                "claim (best)",
                "median",
                "× smallest",
                "bulk load",
                "plan",
            ],
            rows4,
        )
    )
    out.append(
        "\nOne far-future timer per open ticket plus the due timers, re-inserted before each "
        "claim; the claim deletes them and records their keys as fired in one transaction.\n"
    )

    out.append("## Summary\n")
    out.append(
        table(["metric", "supportflow", "baseline", "ratio", "target", "PASS/FAIL"], summary)
    )
    results["summary"] = summary
    return "\n".join(out) + "\n"


def run(quick: bool, postgres_url: str | None) -> dict[str, Any]:
    p = {key: values[1 if quick else 0] for key, values in PARAMS.items()}
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "params": p}
    url = postgres_url
    if url is not None:
        problem = postgres_problem(url)
        if problem is not None:
            results["pg_skipped"] = f"PostgreSQL not reachable ({problem})"
            url = None
    else:
        results["pg_skipped"] = "--no-postgres"
    results["env"] = environment(url)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="supportflow-bench-"))
    try:
        results["commands"] = bench_commands(p, workdir)
        results["import"] = bench_import(p, workdir)
        if url is not None:
            results["postgres"] = bench_postgres(p, url)
        results["timers"] = bench_timers(p, workdir, url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = time.perf_counter() - started
    return results


def _postgres_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SUPPORTFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="the PostgreSQL server for sections 3 and 4 (default: "
        "$SUPPORTFLOW_TEST_POSTGRES_URL or %(default)s); its tables get a unique "
        "prefix and are dropped at the end",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")


def main(argv: Sequence[str] | None = None) -> int:
    args = _common.parse_args(__doc__, "smaller sizes (< 90 s)", argv, _postgres_options)
    results = run(args.quick, None if args.no_postgres else args.postgres_url)
    emit(results, report(results), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
