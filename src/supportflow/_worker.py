"""The due-work worker: fires timers and delivers notifications until told to stop.

A :class:`Worker` loops over two jobs, each safe with any number of workers on
the same database:

- ``desk.run_due()``: SLA warnings and breaches, and escalation steps;
- ``dispatcher.run_once()``: outbox rows expanded into notifications, and due
  notifications delivered.

Between passes that found nothing to do it waits for the poll interval, or
less: on PostgreSQL it ``LISTEN`` s on the store's outbox channel, so a commit
that writes outbox rows wakes it at once. :meth:`Worker.stop` (wired to
SIGTERM and SIGINT by ``supportflow worker``) lets the current pass finish and
then returns: nothing is left half-done, and whatever a killed worker held
returns to the others when its leases run out.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from attrs import define, field

from supportflow._desk import Desk
from supportflow.errors import ConfigError
from supportflow.notify._dispatch import Dispatcher

__all__ = ["Worker", "WorkerTotals"]

_log = logging.getLogger("supportflow.worker")


@define
class WorkerTotals:
    """What a worker has done since it started."""

    passes: int = 0
    timers: int = 0
    escalations: int = 0
    notifications_sent: int = 0
    notifications_retried: int = 0
    notifications_dead: int = 0

    def line(self) -> str:
        """The totals as one console line."""
        return (
            f"{self.passes} passes: {self.timers} timers fired ({self.escalations} escalations), "
            f"{self.notifications_sent} notifications sent, {self.notifications_retried} retried, "
            f"{self.notifications_dead} dead-lettered"
        )


@define(eq=False)
class Worker:
    """Runs a desk's due work and a dispatcher's deliveries in a loop.

    Args:
        desk: the desk whose timers to fire (its store, clock and policies).
        dispatcher: delivers notifications; ``None`` for timers only.
        poll: the longest wait between passes that found nothing to do.
        limit: the most timers one pass fires.
        report: called with the totals after every pass that did something.
        name: recorded with the worker's timer leases, for operators
            (host and process id by default).
    """

    desk: Desk
    dispatcher: Dispatcher | None = None
    poll: timedelta = timedelta(seconds=5)
    limit: int = 500
    report: Callable[[WorkerTotals], None] | None = None
    totals: WorkerTotals = field(factory=WorkerTotals)
    name: str = field(factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    _stopping: threading.Event = field(factory=threading.Event)

    def __attrs_post_init__(self) -> None:
        if self.poll <= timedelta(0):
            raise ConfigError(f"poll must be a positive interval, got {self.poll}")
        if self.dispatcher is not None and self.dispatcher.store is not self.desk.store:
            raise ConfigError("the dispatcher must work on the desk's store")

    def stop(self) -> None:
        """Finish the current pass, then return from :meth:`run` (thread- and signal-safe)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping.is_set()

    def run_once(self) -> bool:
        """One pass of both jobs; whether it found anything to do."""
        fired = self.desk.run_due(limit=self.limit, worker=self.name)
        self.totals.passes += 1
        self.totals.timers += len(fired)
        self.totals.escalations += sum(1 for t in fired if t.kind == "escalation")
        busy = bool(fired)
        if self.dispatcher is not None:
            report = self.dispatcher.run_once()
            self.totals.notifications_sent += report.sent
            self.totals.notifications_retried += report.retried
            self.totals.notifications_dead += report.dead
            busy = busy or not report.idle
        if busy and self.report is not None:
            self.report(self.totals)
        return busy

    def run(self, *, max_passes: int | None = None) -> WorkerTotals:
        """Loop until :meth:`stop` (or ``max_passes``); returns the totals."""
        with _Waker(self.desk.store, self.poll) as waker:
            while not self.stopping:
                busy = self.run_once()
                if max_passes is not None and self.totals.passes >= max_passes:
                    break
                if not busy:
                    waker.wait(self._stopping)
        return self.totals


class _Waker:
    """Waits for the poll interval, woken early by PostgreSQL NOTIFY where possible."""

    def __init__(self, store: Any, poll: timedelta) -> None:
        self.poll = poll.total_seconds()
        self.listener: Any = None
        self.channel: str | None = getattr(store, "notify_channel", None)
        capabilities: frozenset[str] = getattr(store, "capabilities", frozenset())
        if "listen_notify" in capabilities and self.channel is not None:
            try:
                self.listener = _listen(store, self.channel)
            except Exception as exc:  # polling still works; say why we fell back
                _log.warning("LISTEN on %s failed (%s); polling instead", self.channel, exc)

    def __enter__(self) -> _Waker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.listener is not None:
            self.listener.close()

    def wait(self, stopping: threading.Event) -> None:
        if self.listener is None:
            stopping.wait(self.poll)
            return
        # Wake on a notification, on stop() (checked every half second), or after poll.
        remaining = self.poll
        while remaining > 0 and not stopping.is_set():
            slice_ = min(0.5, remaining)
            ready, _, _ = select.select([self.listener.fileno()], [], [], slice_)
            if ready:
                for _ in self.listener.notifies(timeout=0):
                    pass
                return
            remaining -= slice_


def _listen(store: Any, channel: str) -> Any:
    import psycopg
    from psycopg import sql

    url = store.engine.url.set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    connection = psycopg.connect(dsn, autocommit=True)
    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return connection
