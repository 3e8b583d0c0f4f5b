"""A dispatcher killed with SIGKILL mid-batch loses nothing: after its lease,
another dispatcher delivers everything it held, and the only duplicate is the
one notification it had sent but not yet recorded.

The dispatchers are forked processes with engines of their own, on a real
SQLite file and a real PostgreSQL server. The receiver is a file each send
appends a line to (flushed and fsynced before the send returns), so what was
received survives the kill.
"""

import multiprocessing
import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

from supportflow import Desk, ManualClock
from supportflow.notify import Receipt
from supportflow.notify._dispatch import Dispatcher

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
FORK = multiprocessing.get_context("fork")


class FileReceiver:
    """Appends each notification id to a file; optionally dies after ``die_after`` sends."""

    name = "file"
    channels = frozenset({"email"})

    def __init__(self, path, die_after=None):
        self.path = path
        self.die_after = die_after
        self.sent = 0

    def send(self, notification):
        with open(self.path, "a") as received:
            received.write(notification.id + "\n")
            received.flush()
            os.fsync(received.fileno())
        self.sent += 1
        if self.die_after is not None and self.sent == self.die_after:
            # Sent, not yet recorded: the worst moment to die.
            os.kill(os.getpid(), signal.SIGKILL)
        return Receipt(notification.id, self.name)

    def close(self):
        pass


def _store(url, prefix):
    from supportflow.sqlstore import SQLStore

    return SQLStore(url, prefix=prefix)


def _victim(url, prefix, path, die_after):
    store = _store(url, prefix)
    dispatcher = Dispatcher(
        store, [FileReceiver(path, die_after)], clock=ManualClock(START), lease=LEASE, batch=50
    )
    dispatcher.drain()
    os._exit(3)  # not reached: the receiver kills the process mid-batch


def _killed_dispatcher_loses_nothing(url, prefix, tmp_path):
    from supportflow.sqlstore import upgrade

    upgrade(url, prefix=prefix)
    store = _store(url, prefix)
    desk = Desk(store=store, clock=ManualClock(START), outbox=True, load_entry_points=False)
    tickets = 120
    for n in range(tickets):
        desk.open_ticket(subject=f"request {n}", requester=f"customer{n}@example.com")
    path = tmp_path / "received.txt"
    victim = FORK.Process(target=_victim, args=(url, prefix, str(path), 70))
    victim.start()
    victim.join(120)
    assert victim.exitcode == -signal.SIGKILL
    sent_by_victim = path.read_text().split()
    assert len(sent_by_victim) == 70
    counts = store.delivery_counts()
    assert counts["sent"] == 69  # the 70th was sent, then the process died
    assert counts["sent"] + counts["pending"] + store.outbox_backlog() == tickets

    # Before the lease runs out nobody else may take what the victim held.
    early = Dispatcher(store, [FileReceiver(path)], clock=ManualClock(START), lease=LEASE)
    early.drain()
    held = store.delivery_counts()["pending"]
    assert held > 0

    after_lease = ManualClock(START + LEASE)
    survivor = Dispatcher(store, [FileReceiver(path)], clock=after_lease, lease=LEASE)
    survivor.drain()
    assert store.delivery_counts() == {"pending": 0, "sent": tickets, "dead": 0}
    received = Counter(path.read_text().split())
    assert set(received) == {d.notification.id for d in store.deliveries()}
    duplicates = {i for i, n in received.items() if n > 1}
    assert duplicates == {sent_by_victim[-1]}
    assert received[sent_by_victim[-1]] == 2
    store.close()


def test_sqlite_a_killed_dispatcher_loses_nothing(tmp_path, sql_prefix):
    _killed_dispatcher_loses_nothing(f"sqlite:///{tmp_path / 'desk.db'}", sql_prefix, tmp_path)


def test_postgresql_a_killed_dispatcher_loses_nothing(postgres_url, sql_prefix, tmp_path):
    _killed_dispatcher_loses_nothing(postgres_url, sql_prefix, tmp_path)
