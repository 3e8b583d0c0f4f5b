"""Many OS processes against one database: no lost update, no lost or doubled
outbox row, even when a consumer is killed mid-claim.

These are the figures the storage layer promises. Workers are forked
processes, each with its own engine, talking to a real SQLite file or a real
PostgreSQL server.
"""

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from supportflow import Actor, ConcurrencyConflict, Desk, InvalidTransition
from supportflow.events import replay

AGENT = Actor.agent("worker")
# Transitions that keep a ticket cycling between working and waiting.
CYCLE = ("wait_for_customer", "wait_for_third_party", "resume")
FORK = multiprocessing.get_context("fork")


def _store(url, prefix):
    from supportflow.sqlstore import SQLStore

    return SQLStore(url, prefix=prefix)


def _transition_worker(url, prefix, ticket_ids, seed, count, results):
    store = _store(url, prefix)
    desk = Desk(store=store, retries=0, load_entry_points=False)
    rng = random.Random(seed)
    successes, conflicts, refused = Counter(), 0, 0
    for _ in range(count):
        ticket_id = rng.choice(ticket_ids)
        state = desk.get(ticket_id).state
        event = rng.choice([e for e in desk.lifecycle.events_from(state) if e in CYCLE])
        try:
            desk.transition(ticket_id, event, by=AGENT)
            successes[ticket_id] += 1
        except ConcurrencyConflict:
            conflicts += 1  # lost the race between reading and writing
        except InvalidTransition:
            refused += 1  # someone moved the ticket first; the event no longer applies
    store.close()
    results.put((dict(successes), conflicts, refused))


def _prepare(url, prefix, tickets):
    from supportflow.sqlstore import upgrade

    upgrade(url, prefix=prefix)
    store = _store(url, prefix)
    desk = Desk(store=store, load_entry_points=False)
    ids = []
    for number in range(tickets):
        ticket = desk.open_ticket(subject=f"shared {number}", requester="c@example.com")
        desk.transition(ticket.id, "triage", by=AGENT)
        desk.transition(ticket.id, "start", by=AGENT)
        ids.append(ticket.id)
    store.close()
    return ids


def _race(url, prefix, processes, per_process, tickets=20):
    ids = _prepare(url, prefix, tickets)
    results = FORK.Queue()
    workers = [
        FORK.Process(target=_transition_worker, args=(url, prefix, ids, seed, per_process, results))
        for seed in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    successes = Counter()
    for seen, _, _ in outcomes:
        successes.update(seen)
    conflicts = sum(conflict for _, conflict, _ in outcomes)
    attempts = sum(sum(seen.values()) + c + r for seen, c, r in outcomes)
    assert attempts == processes * per_process

    store = _store(url, prefix)
    try:
        for ticket_id in ids:
            ticket = store.load(ticket_id)
            history = store.history(ticket_id)
            # open + triage + start, then exactly the transitions clients saw succeed
            assert ticket.version == len(history) == 3 + successes[ticket_id]
            assert [e.version for e in history] == list(range(1, len(history) + 1))
            assert replay(history) == ticket
    finally:
        store.close()
    return successes, conflicts


def test_postgresql_8_processes_lose_no_update(postgres_url, sql_prefix):
    successes, conflicts = _race(postgres_url, sql_prefix, processes=8, per_process=200)
    assert sum(successes.values()) > 0
    assert conflicts > 0, "8 processes on 20 tickets should have raced at least once"


def test_sqlite_4_processes_lose_no_update(tmp_path, sql_prefix):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    successes, _ = _race(url, sql_prefix, processes=4, per_process=200)
    assert sum(successes.values()) > 0


# -- the outbox ---------------------------------------------------------------------------

LEASE = timedelta(seconds=1)


def _consumer(url, prefix, name, delivered):
    store = _store(url, prefix)
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 5:
        claims = store.claim_outbox(datetime.now(UTC), lease=LEASE, limit=25, worker=name)
        if not claims:
            time.sleep(0.05)
            continue
        idle_since = time.monotonic()
        for claim in claims:
            if store.complete_outbox(claim, datetime.now(UTC)):
                delivered.put(claim.message.id)
    store.close()


def _victim(url, prefix, claimed, ready):
    store = _store(url, prefix)
    claims = store.claim_outbox(datetime.now(UTC), lease=LEASE, limit=50, worker="victim")
    for claim in claims:
        claimed.put(claim.message.id)
    claimed.close()
    claimed.join_thread()  # the ids must reach the parent before this process is killed
    ready.set()
    time.sleep(600)  # holds its claims until it is killed


def _fill_outbox(url, prefix, rows):
    from supportflow.sqlstore import upgrade

    upgrade(url, prefix=prefix)
    store = _store(url, prefix)
    desk = Desk(store=store, outbox=True, load_entry_points=False)
    while True:  # opened + triage + start + wait + resume = 5 rows per ticket
        ticket = desk.open_ticket(subject="notify me", requester="c@example.com")
        for event in ("triage", "start", "wait_for_customer", "resume"):
            desk.transition(ticket.id, event, by=AGENT)
        if store.outbox_backlog() >= rows:
            break
    total = store.outbox_backlog()
    store.close()
    return total


def test_sqlite_outbox_rows_are_delivered_exactly_once_even_when_a_consumer_dies(
    tmp_path, sql_prefix
):
    _drain_with_a_casualty(f"sqlite:///{tmp_path / 'outbox.db'}", sql_prefix)


def test_postgresql_outbox_rows_are_delivered_exactly_once_even_when_a_consumer_dies(
    postgres_url, sql_prefix
):
    _drain_with_a_casualty(postgres_url, sql_prefix)


def _drain_with_a_casualty(url, sql_prefix):
    total = _fill_outbox(url, sql_prefix, 2000)
    assert total == 2000

    claimed, ready = FORK.Queue(), FORK.Event()
    victim = FORK.Process(target=_victim, args=(url, sql_prefix, claimed, ready))
    victim.start()
    assert ready.wait(timeout=60)
    os.kill(victim.pid, signal.SIGKILL)  # dies holding 50 leased rows
    victim.join(timeout=10)
    held = {claimed.get(timeout=10) for _ in range(50)}

    delivered = FORK.Queue()
    consumers = [
        FORK.Process(target=_consumer, args=(url, sql_prefix, f"c{n}", delivered)) for n in range(4)
    ]
    for consumer in consumers:
        consumer.start()
    ids = [delivered.get(timeout=120) for _ in range(total)]
    for consumer in consumers:
        consumer.join(timeout=60)
        assert consumer.exitcode == 0
    assert delivered.empty()
    assert len(ids) == len(set(ids)) == total  # every row exactly once
    assert held <= set(ids)  # the dead consumer's rows came back after the lease
    store = _store(url, sql_prefix)
    try:
        assert store.outbox_backlog() == 0
    finally:
        store.close()
