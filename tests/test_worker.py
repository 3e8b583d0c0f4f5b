"""The worker: one loop for due timers and notifications, stopped cleanly by
SIGTERM, woken early by PostgreSQL NOTIFY."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from supportflow import ConfigError, Desk, EscalationPolicy, ManualClock, SLAPolicy
from supportflow._worker import Worker
from supportflow.escalation import Action, Level, Trigger
from supportflow.notify import Dispatcher
from supportflow.testing.notifiers import RecordingNotifier

H = timedelta(hours=1)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_one_pass_fires_due_steps_and_delivers_what_they_announce():
    clock = ManualClock(START)
    desk = Desk(
        clock=clock,
        outbox=True,
        sla=[SLAPolicy("p", {"high": {"first_response": H}}, warn_at=())],
        escalation=[
            EscalationPolicy(
                "page",
                [Level(Trigger.at_breach(), Action.notify("supervisor"))],
                metric="first_response",
            )
        ],
        load_entry_points=False,
    )
    inbox = RecordingNotifier()
    dispatcher = Dispatcher.for_desk(desk, [inbox])
    worker = Worker(desk, dispatcher)
    desk.open_ticket(subject="VPN", requester="alice@example.com", priority="high")
    assert worker.run_once() is True  # the acknowledgement goes out
    assert worker.run_once() is False
    clock.advance(2 * H)
    assert worker.run_once() is True
    assert (worker.totals.timers, worker.totals.escalations) == (2, 1)  # breach + step
    assert worker.totals.notifications_sent == 1
    assert "2 timers fired (1 escalations)" in worker.totals.line()


def test_a_dispatcher_on_another_store_is_refused():
    with pytest.raises(ConfigError, match="desk's store"):
        Worker(
            Desk(load_entry_points=False),
            Dispatcher(Desk(outbox=True).store, [RecordingNotifier()]),
        )


def test_the_command_runs_until_sigterm_and_stops_cleanly(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    desk = Desk(store=url, outbox=True, load_entry_points=False)
    for n in range(3):
        desk.open_ticket(subject=f"request {n}", requester=f"c{n}@example.com")
    desk.store.close()
    command = [sys.executable, "-m", "supportflow.cli", "worker", "--store", url]
    command += ["--notify", "log://desk.audit?channels=email", "--poll", "0.2"]
    worker = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = worker.stdout.readline()
            lines.append(line)
            if "3 notifications sent" in line:
                break
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    text = "".join(lines) + out
    assert worker.returncode == 0, text
    assert "3 notifications sent" in text
    assert "SIGTERM, finishing the pass" in text
    assert "stopped after" in text


def test_postgresql_notify_wakes_an_idle_worker_long_before_its_poll(postgres_url, sql_prefix):
    from supportflow.sqlstore import SQLStore

    store = SQLStore(postgres_url, prefix=sql_prefix, create=True)
    desk = Desk(store=store, outbox=True, load_entry_points=False)
    inbox = RecordingNotifier()
    worker = Worker(desk, Dispatcher.for_desk(desk, [inbox]), poll=timedelta(seconds=60))
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        time.sleep(1.0)  # the worker is idle, waiting on LISTEN
        started = time.monotonic()
        desk.open_ticket(subject="VPN", requester="alice@example.com")
        while not inbox.got and time.monotonic() - started < 20:
            time.sleep(0.05)
        woke_after = time.monotonic() - started
    finally:
        worker.stop()
        runner.join(10)
        store.close()
    assert [n.event_kind for n in inbox.got] == ["opened"]
    assert woke_after < 5  # not the 60 s poll
    assert not runner.is_alive()
