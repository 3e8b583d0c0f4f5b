"""Runner benchmark: one tick of ``Desk.run_due`` over few and many open tickets.

Run::

    python benchmarks/bench_runner.py --quick      # 10,000 vs 100,000 tickets, < 2 minutes
    python benchmarks/bench_runner.py              # 10,000 vs 1,000,000 tickets
    python benchmarks/bench_runner.py --json runner.json
    python benchmarks/bench_runner.py --postgres-url postgresql://postgres@127.0.0.1/test

The target comes from the escalation issue: a tick of the runner over 10,000
and over 1,000,000 open tickets, with 100 escalation steps due, costs the same
within 2× (the due work is found through an index, not by a scan).

Every store holds ``size`` open tickets with real rows: the snapshot, the
``TicketOpened`` event, the SLA projection and the pending timers (an
escalation step, a breach, a second step) that a desk with the benchmark's
policies writes. All of them are due days ahead, except for the due batches:
100 tickets per repetition whose first escalation step falls due at that
repetition's instant (``START + r minutes``), so each tick fires a fresh 100.

How the stores are built (untimed): a few hundred template tickets and every
due ticket are opened by a real desk (on a MemoryStore) and written with
``SQLStore.import_tickets``; the rest are copies of the templates' rows under
new ticket ids, read back from the database and bulk-inserted (``executemany``
in one transaction on SQLite, ``COPY`` on PostgreSQL), then ``ANALYZE``. The
copies go through no desk code, so the script checks that a few of them load
back through the store exactly as the templates do (snapshot, SLA projection,
timers).

What is timed: ``desk.run_due(now=...)`` on a desk with its own engine, the
store's defaults, and the garbage collector off inside the timed call. Each
repetition times both sizes back to back (interleaved), after an untimed
warm-up repetition; the table reports the median and the best. Each tick must
return exactly its 100 steps. An idle tick (the same call half a minute
later, nothing due) is timed as well, for information. PostgreSQL runs the
same when the server is reachable (``--postgres-url``, else
``$SUPPORTFLOW_TEST_POSTGRES_URL``, else the test suite's server); its tables
get a unique prefix and are dropped at the end, and the SQLite files live in
a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common
import attrs
from _common import emit, package_version, table, verdict
from bench_store import (
    DEFAULT_POSTGRES_URL,
    drop_postgres_tables,
    libpq_url,
    new_prefix,
    postgres_problem,
    sqlite_connect,
    timed,
)

from supportflow import (
    BusinessCalendar,
    Desk,
    EscalationPolicy,
    ManualClock,
    SLAPolicy,
)
from supportflow.escalation import Action, Level, Trigger
from supportflow.sqlstore import SQLStore
from supportflow.store import TicketChange

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
#: Ticks run START + r * STEP (r = 0 is the warm-up); the idle tick IDLE later.
STEP = timedelta(minutes=1)
IDLE = timedelta(seconds=30)

#: Sizes and repeats: (full, quick).
PARAMS: dict[str, tuple[Any, Any]] = {
    "sizes": ((10_000, 1_000_000), (10_000, 100_000)),
    "due": (100, 100),
    "repeats": (15, 7),
    "templates": (200, 200),
}

#: The tables a ticket has rows in, and the column naming the ticket.
TICKET_TABLES = (
    ("tickets", "id"),
    ("events", "ticket_id"),
    ("sla", "ticket_id"),
    ("timers", "ticket_id"),
)


def policies() -> tuple[SLAPolicy, EscalationPolicy]:
    """High tickets (the due batches) have 2 hours to resolve, low ones (the
    background) 30 days; level 1 at half the target, level 2 at the breach."""
    sla = SLAPolicy(
        "bench",
        {"high": {"resolution": 2 * H}, "low": {"resolution": 30 * 24 * H}},
        warn_at=(),
    )
    chain = EscalationPolicy(
        "chain",
        [
            Level(Trigger.fraction(0.5), Action.notify("assignee")),
            Level(Trigger.at_breach(), Action.notify("supervisor")),
        ],
        metric="resolution",
    )
    return sla, chain


def make_desk(store: Any, clock: ManualClock | None = None) -> Desk:
    sla, chain = policies()
    return Desk(
        store=store,
        clock=clock,
        sla=(sla,),
        escalation=(chain,),
        calendar=BusinessCalendar.always("UTC"),
        load_entry_points=False,
    )


def tick_at(r: int) -> datetime:
    return START + r * STEP


# -- the tickets --------------------------------------------------------------------------------


def _change(desk: Desk, ticket_id: str) -> TicketChange:
    """The ticket as a new-ticket change, with what the desk stored for it."""
    store = desk.store
    ticket = store.load(ticket_id)
    assert ticket is not None
    return TicketChange(
        ticket,
        0,
        tuple(store.history(ticket_id)),
        sla=store.sla_projection(ticket_id),
        timers=store.pending_timers(ticket_id),
    )


def make_tickets(templates: int, due: int, rounds: int) -> tuple[list[TicketChange], ...]:
    """Background templates (low, opened over the 10 days before START: every step
    and breach at least 5 days after START) and ``rounds`` batches of ``due`` high
    tickets whose first step falls due exactly at tick ``r``."""
    clock = ManualClock(START - timedelta(days=11))
    desk = make_desk(None, clock)
    background = []
    for n in range(templates):
        clock.set(START - timedelta(days=10) + n * timedelta(days=10) / templates)
        ticket = desk.open_ticket(
            subject=f"background {n}", requester="c@example.com", priority="low"
        )
        background.append(_change(desk, ticket.id))
    batches = []
    for r in range(rounds):
        clock.set(tick_at(r) - H)  # level 1 at half of 2 hours: exactly tick r
        batch = []
        for n in range(due):
            ticket = desk.open_ticket(
                subject=f"due {r}.{n}", requester=f"c{n}@example.com", priority="high"
            )
            batch.append(_change(desk, ticket.id))
        batches.append(batch)
    first = tick_at(rounds)
    for change in background + [c for b in batches for c in b]:
        assert change.timers
        # A due ticket's first step falls in the run, and nothing else of anyone's.
        steps = [t for t in change.timers if t.kind == "escalation"]
        in_run = [t for t in change.timers if t.at < first]
        if change.ticket.priority.value == "high":
            assert in_run == steps[:1]
        else:
            assert in_run == []
    return background, *batches


def clone_id(n: int) -> str:
    """The id of background copy ``n``: shaped like the desk's UUIDs, sorted by ``n``."""
    return str(uuid.UUID(int=(0x7 << 76) | (0x8 << 60) | n))


def clone_change(template: TicketChange, ticket_id: str) -> TicketChange:
    """What the store should hold for a copy of ``template`` under ``ticket_id``."""
    old = template.ticket.id
    ticket = attrs.evolve(template.ticket, id=ticket_id)
    return TicketChange(
        ticket,
        0,
        tuple(attrs.evolve(e, ticket_id=ticket_id) for e in template.events),
        sla=None if template.sla is None else attrs.evolve(template.sla, ticket=ticket),
        timers=tuple(
            attrs.evolve(t, key=t.key.replace(old, ticket_id, 1), ticket_id=ticket_id)
            for t in template.timers or ()
        ),
    )


def _copies(rows: dict[str, list[tuple[Any, ...]]], count: int) -> Iterator[tuple[Any, ...]]:
    """The template rows of one table, copied ``count`` times round-robin, each
    copy's text columns naming its own ticket id instead of the template's."""
    templates = list(rows.items())
    for n in range(count):
        old, template_rows = templates[n % len(templates)]
        new = clone_id(n)
        for row in template_rows:
            yield tuple(v.replace(old, new) if isinstance(v, str) else v for v in row)


def _template_rows(
    fetch: Callable[[str, str, str], tuple[list[str], list[tuple[Any, ...]]]],
    template_ids: Sequence[str],
) -> dict[str, tuple[list[str], dict[str, list[tuple[Any, ...]]]]]:
    out = {}
    for name, column in TICKET_TABLES:
        per_ticket: dict[str, list[tuple[Any, ...]]] = {}
        columns: list[str] = []
        for ticket_id in template_ids:
            columns, rows = fetch(name, column, ticket_id)
            per_ticket[ticket_id] = rows
        out[name] = (columns, per_ticket)
    return out


def load_sqlite(path: Path, prefix: str, templates: Sequence[str], count: int) -> None:
    """``count`` copies of the templates' rows, one ``executemany`` per table, one transaction."""
    connection = sqlite_connect(path)

    def fetch(name: str, column: str, ticket_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = connection.execute(
            f'SELECT * FROM {prefix}{name} WHERE "{column}" = ?', (ticket_id,)
        )
        return [d[0] for d in cursor.description], cursor.fetchall()

    try:
        connection.execute("BEGIN IMMEDIATE")
        for name, (columns, rows) in _template_rows(fetch, templates).items():
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {prefix}{name} ({names}) VALUES ({marks})", _copies(rows, count)
            )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("ANALYZE")
    finally:
        connection.close()


def load_postgres(url: str, prefix: str, templates: Sequence[str], count: int) -> None:
    """The same with ``COPY``, then ``ANALYZE``."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as connection:

        def fetch(
            name: str, column: str, ticket_id: str
        ) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor = connection.execute(
                f'SELECT * FROM {prefix}{name} WHERE "{column}" = %s', (ticket_id,)
            )
            assert cursor.description is not None
            return [d.name for d in cursor.description], cursor.fetchall()

        for name, (columns, rows) in _template_rows(fetch, templates).items():
            names = ", ".join(f'"{c}"' for c in columns)
            statement = f"COPY {prefix}{name} ({names}) FROM STDIN"
            with connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in _copies(rows, count):
                    copy.write_row(row)
        connection.commit()
        connection.autocommit = True
        for name, _ in TICKET_TABLES:
            connection.execute(f"ANALYZE {prefix}{name}")


def build(
    url: str,
    prefix: str,
    size: int,
    tickets: tuple[list[TicketChange], ...],
    bulk: Callable[[Sequence[str], int], None],
) -> dict[str, Any]:
    """A store with ``size`` open tickets: the templates and due batches through
    ``import_tickets``, the rest copied by ``bulk``. Checks a few copies."""
    background, *batches = tickets
    started = time.perf_counter()
    store = SQLStore(url, prefix=prefix, create=True)
    try:
        store.import_tickets(background)
        for batch in batches:
            store.import_tickets(batch)
        count = size - len(background) - sum(len(b) for b in batches)
        assert count > 0, f"{size:,} tickets leave no room for the background copies"
        bulk([c.ticket.id for c in background], count)
        for n in (0, count // 2, count - 1):
            expected = clone_change(background[n % len(background)], clone_id(n))
            ticket_id = expected.ticket.id
            assert store.load(ticket_id) == expected.ticket, ticket_id
            assert tuple(store.history(ticket_id)) == expected.events, ticket_id
            assert store.sla_projection(ticket_id) == expected.sla, ticket_id
            assert store.pending_timers(ticket_id) == expected.timers, ticket_id
    finally:
        store.close()
    return {"size": size, "build_s": time.perf_counter() - started}


# -- timing -------------------------------------------------------------------------------------


def _tick(desk: Desk, now: datetime, into: list[Any]) -> None:
    into.extend(desk.run_due(now=now))


def measure(
    desks: dict[int, Desk], batches: Sequence[list[TicketChange]], due: int
) -> dict[int, dict[str, Any]]:
    """Tick r on every desk in turn (r = 0 untimed): time ``run_due(now=tick r)``, which
    must carry out batch r's ``due`` first steps and nothing else, then an idle tick."""
    ticks: dict[int, list[float]] = {size: [] for size in desks}
    idle: dict[int, list[float]] = {size: [] for size in desks}
    for r, batch in enumerate(batches):
        expected = sorted(t.key for c in batch for t in c.timers or () if t.at == tick_at(r))
        assert len(expected) == due
        for size, desk in desks.items():
            fired: list[Any] = []
            elapsed = timed(functools.partial(_tick, desk, tick_at(r), fired))
            assert sorted(t.key for t in fired) == expected, (size, r, len(fired))
            assert {t.kind for t in fired} == {"escalation"}
            nothing: list[Any] = []
            quiet = timed(functools.partial(_tick, desk, tick_at(r) + IDLE, nothing))
            assert nothing == [], (size, r, nothing)
            if r:
                ticks[size].append(elapsed)
                idle[size].append(quiet)
    return {
        size: {
            "median_s": statistics.median(ticks[size]),
            "best_s": min(ticks[size]),
            "idle_median_s": statistics.median(idle[size]),
            "idle_best_s": min(idle[size]),
            "ticks": ticks[size],
        }
        for size in desks
    }


def bench_backend(
    backend: str,
    p: dict[str, Any],
    tickets: tuple[list[TicketChange], ...],
    workdir: Path,
    pg_url: str | None,
) -> dict[int, dict[str, Any]]:
    built: dict[int, dict[str, Any]] = {}
    desks: dict[int, Desk] = {}
    prefixes: list[str] = []
    try:
        for size in p["sizes"]:
            bulk: Callable[[Sequence[str], int], None]
            if backend == "sqlite":
                path = workdir / f"runner-{size}.db"
                url, prefix = f"sqlite:///{path}", "sf_"
                bulk = functools.partial(load_sqlite, path, prefix)
            else:
                assert pg_url is not None
                url, prefix = pg_url, new_prefix("rn")
                prefixes.append(prefix)
                bulk = functools.partial(load_postgres, pg_url, prefix)
            built[size] = build(url, prefix, size, tickets, bulk)
            desks[size] = make_desk(SQLStore(url, prefix=prefix))
        results = measure(desks, tickets[1:], p["due"])
        for size, result in results.items():
            result.update(built[size])
        return results
    finally:
        for desk in desks.values():
            desk.store.close()
        for prefix in prefixes:
            assert pg_url is not None
            drop_postgres_tables(pg_url, prefix)
        for path in workdir.glob("runner-*.db*"):
            path.unlink()


# -- report -------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def report(results: dict[str, Any]) -> str:
    env = results["env"]
    out = [
        f"Python {env['python']} ({env['implementation']}) on {env['platform']}, "
        f"{env['machine']}, {env['cpu_count']} CPUs; SQLite {env['sqlite']}; "
        f"PostgreSQL {env['postgresql'] or 'not reachable'}"
        + "".join(f", {k}={v}" for k, v in (env.get("postgresql_settings") or {}).items())
        + f"; SQLAlchemy {env['sqlalchemy']}, "
        f"psycopg {env['psycopg']}, supportflow {env['supportflow']}; mode: {results['mode']}\n",
        f"## run_due: one tick with {results['params']['due']} escalation steps due\n",
    ]
    rows, summary = [], []
    for backend, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        sizes = results.get(backend)
        if not sizes:
            continue
        small, big = min(sizes), max(sizes)
        for size, v in sorted(sizes.items()):
            rows.append(
                [
                    label,
                    f"{size:,}",
                    ms(v["median_s"]),
                    ms(v["best_s"]),
                    _common.micros(v["median_s"] / results["params"]["due"] * 1e6, 0),
                    _common.times(v["median_s"], sizes[small]["median_s"], 2),
                    ms(v["idle_median_s"]),
                    _common.times(v["idle_median_s"], sizes[small]["idle_median_s"], 2),
                    f"{v['build_s']:.0f} s",
                ]
            )
        ratio = sizes[big]["median_s"] / sizes[small]["median_s"]
        summary.append(
            [
                f"run_due tick, {results['params']['due']} steps due, {label}, "
                f"{big:,} vs {small:,} open tickets",
                ms(sizes[big]["median_s"]),
                ms(sizes[small]["median_s"]),
                f"{ratio:.2f}×",
                "≤ 2×",
                verdict(ratio <= 2),
            ]
        )
    if not results.get("postgresql"):
        summary.append(["run_due tick, PostgreSQL", "—", "—", "—", "≤ 2×", "skipped"])
    out.append(
        table(
            [
                "backend",
                "open tickets",
                "tick (median)",
                "best",
                "per step",
                "× smallest",
                "idle tick (median)",
                "× smallest",
                "build",
            ],
            rows,
        )
    )
    out.append(
        f"\nMedian of {results['params']['repeats']} ticks per size, the sizes interleaved. "
        "A tick claims the due steps and fires each: load the ticket and its SLA projection, "
        "commit the Escalated event with the new projection and timers, record the step "
        "as fired. The idle tick is the same call when nothing is due.\n"
    )
    if "pg_skipped" in results:
        out.append(f"PostgreSQL skipped: {results['pg_skipped']}\n")
    out.append("## Summary\n")
    out.append(
        table(["metric", "supportflow", "baseline", "ratio", "target", "PASS/FAIL"], summary)
    )
    results["summary"] = summary
    return "\n".join(out) + "\n"


# -- main ---------------------------------------------------------------------------------------


def environment(url: str | None) -> dict[str, Any]:
    env = _common.environment(
        sqlite=sqlite3.sqlite_version,
        sqlalchemy=package_version("sqlalchemy", "not installed"),
        psycopg=package_version("psycopg", "not installed"),
        supportflow=package_version("supportflow", "not installed"),
        postgresql=None,
    )
    if url is not None:
        store = SQLStore(url)
        try:
            with store.engine.connect() as connection:
                env["postgresql"] = connection.exec_driver_sql("SHOW server_version").scalar()
                env["postgresql_settings"] = {
                    name: connection.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in ("synchronous_commit", "fsync", "autovacuum")
                }
        finally:
            store.close()
    return env


def run(quick: bool, postgres_url: str | None) -> dict[str, Any]:
    p = {key: values[1 if quick else 0] for key, values in PARAMS.items()}
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "params": p}
    url = postgres_url
    if url is None:
        results["pg_skipped"] = "--no-postgres"
    else:
        problem = postgres_problem(url)
        if problem is not None:
            results["pg_skipped"] = f"PostgreSQL not reachable ({problem})"
            url = None
    results["env"] = environment(url)
    started = time.perf_counter()
    tickets = make_tickets(p["templates"], p["due"], p["repeats"] + 1)
    workdir = Path(tempfile.mkdtemp(prefix="supportflow-bench-runner-"))
    try:
        results["sqlite"] = bench_backend("sqlite", p, tickets, workdir, None)
        if url is not None:
            results["postgresql"] = bench_backend("postgresql", p, tickets, workdir, url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = time.perf_counter() - started
    return results


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SUPPORTFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="the PostgreSQL server (default: $SUPPORTFLOW_TEST_POSTGRES_URL or %(default)s); "
        "its tables get a unique prefix and are dropped at the end",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")


def main(argv: Sequence[str] | None = None) -> int:
    args = _common.parse_args(__doc__, "10,000 vs 100,000 tickets (< 2 minutes)", argv, _options)
    results = run(args.quick, None if args.no_postgres else args.postgres_url)
    emit(results, report(results), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
