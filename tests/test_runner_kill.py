"""A due-work runner killed with SIGKILL mid-batch: after its lease, another
runner carries out every step it held, and none twice.

The victim claims a batch of escalation steps, carries out a few of them, and
stops dead inside the next one (a hook signals the parent and sleeps; the
parent sends SIGKILL). A second runner, started at once, finds the victim's
claims still leased and takes nothing; once the lease has run out it takes
them all. Every step key must appear exactly once as an Escalated event.
"""

import multiprocessing
import os
import signal
from datetime import UTC, datetime, timedelta

from supportflow import Desk, EscalationPolicy, ManualClock, SLAPolicy, hookimpl
from supportflow.escalation import Action, Level, Trigger
from supportflow.events import Escalated
from supportflow.sqlstore import SQLStore, upgrade

H = timedelta(hours=1)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Two steps and a breach each: 90 timers, all in the victim's one batch of 100.
TICKETS = 30
#: The victim carries out this many steps, then dies inside the next one.
DONE_BEFORE_DEATH = 7
LEASE = timedelta(minutes=5)
SLA = SLAPolicy("standard", {"high": {"first_response": H, "resolution": 8 * H}}, warn_at=())
POLICY = EscalationPolicy(
    "page",
    [
        Level(Trigger.fraction(0.5), Action.add_tag("half-way")),
        Level(Trigger.at_breach(), Action.add_tag("breached")),
    ],
    metric="first_response",
)


def _desk(url, prefix, *, plugins=(), clock=None):
    return Desk(
        store=SQLStore(url, prefix=prefix),
        sla=[SLA],
        escalation=[POLICY],
        clock=clock or ManualClock(START),
        plugins=plugins,
        load_entry_points=False,
    )


class _DieInside:
    """Hangs in the hook of the ``DONE_BEFORE_DEATH``-th step until killed: that
    step is committed, the rest of the batch is claimed and untouched."""

    def __init__(self, stuck):
        self.count = 0
        self.stuck = stuck

    @hookimpl
    def supportflow_escalated(self, ticket, event):
        self.count += 1
        if self.count == DONE_BEFORE_DEATH:
            self.stuck.set()
            signal.pause()  # SIGKILL ends it here


def _victim(url, prefix, stuck):
    desk = _desk(url, prefix, plugins=[_DieInside(stuck)])
    desk.run_due(now=START + 2 * H, lease=LEASE, worker=f"victim-{os.getpid()}")
    raise AssertionError("the victim was meant to be killed mid-batch")  # pragma: no cover


def _kill_a_runner_mid_batch(url, prefix):
    upgrade(url, prefix=prefix)
    desk = _desk(url, prefix)
    ids = [
        desk.open_ticket(subject=f"ticket {n}", requester="c@example.com", priority="high").id
        for n in range(TICKETS)
    ]
    due = {
        timer.key
        for ticket_id in ids
        for timer in desk.store.pending_timers(ticket_id)
        if timer.kind == "escalation" and timer.at <= START + 2 * H
    }
    desk.store.close()  # nothing open crosses the fork
    assert len(due) == 2 * TICKETS, "each ticket has a half-way step and a breach step due"

    context = multiprocessing.get_context("fork")
    stuck = context.Event()
    victim = context.Process(target=_victim, args=(url, prefix, stuck))
    victim.start()
    try:
        assert stuck.wait(60), "the victim never reached its last step"
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(30)
        assert victim.exitcode == -signal.SIGKILL
    finally:
        if victim.is_alive():  # pragma: no cover - only when an assertion above failed
            victim.kill()
            victim.join()

    survivor = _desk(url, prefix)
    # While the victim's lease runs, its claims are nobody else's.
    within = survivor.run_due(now=START + 2 * H + LEASE - timedelta(seconds=1), lease=LEASE)
    after = survivor.run_due(now=START + 2 * H + LEASE, lease=LEASE)
    fired = [
        event.step
        for ticket_id in ids
        for event in survivor.history(ticket_id)
        if isinstance(event, Escalated)
    ]
    survivor.store.close()
    assert len(fired) == len(set(fired)), "no step was carried out twice"
    assert set(fired) == due, "every due step was carried out"
    assert [t for t in within if t.kind == "escalation"] == [], "nothing before the lease ends"
    taken = [timer.key for timer in after if timer.kind == "escalation"]
    by_victim = due - set(taken)
    # The victim committed DONE_BEFORE_DEATH steps (the last one's commit came
    # before the hook it died in) and held the rest; the survivor took those.
    assert len(by_victim) == DONE_BEFORE_DEATH
    assert len(taken) == len(set(taken)) == len(due) - DONE_BEFORE_DEATH


def test_sqlite_a_killed_runner_s_steps_are_taken_over_once(tmp_path, sql_prefix):
    _kill_a_runner_mid_batch(f"sqlite:///{tmp_path / 'runner.db'}", sql_prefix)


def test_postgresql_a_killed_runner_s_steps_are_taken_over_once(postgres_url, sql_prefix):
    _kill_a_runner_mid_batch(postgres_url, sql_prefix)
