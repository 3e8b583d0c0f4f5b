"""Several runner processes work one shared timeline of due escalation steps.

The issue's figures: 4 runner processes × 40 ticks over 1,000 tickets on
PostgreSQL (2 on a SQLite file), with due instants spread across the run, 20 %
of the tickets paused, 10 % resolved before their first step is due and 5 %
re-prioritised. Every step that fell due during the run on a ticket still
running fires exactly once (one Escalated event), on the first tick at or
after its due instant; nothing else fires.

The parent prepares the tickets on a manual clock before the run starts and
works out what is due from the store's pending timers (cross-checked against
the policy arithmetic). The runners are spawned processes with desks and
engines of their own; a barrier makes them work each simulated tick together,
so every runner has finished tick ``i`` before anyone starts tick ``i + 1``.
"""

import json
import multiprocessing
import random
import sys
import time
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supportflow import (
    Actor,
    BusinessCalendar,
    Desk,
    EscalationPolicy,
    ManualClock,
    Priority,
    SLAPolicy,
)
from supportflow.escalation import Action, Level, Trigger, parse_step_key
from supportflow.events import Escalated

SPAWN = multiprocessing.get_context("spawn")
AGENT = Actor.agent("ann")

#: The simulated timeline: tick i runs at T0 + i * TICK.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICK = timedelta(minutes=1)
TICKS = 40
LAST = T0 + (TICKS - 1) * TICK
TICKETS = 1_000
#: Resolution targets (24×7, so business time is wall-clock time).
TARGETS = {
    Priority.URGENT: timedelta(minutes=30),
    Priority.HIGH: timedelta(minutes=60),
    Priority.MEDIUM: timedelta(minutes=90),
    Priority.LOW: timedelta(minutes=120),
}
#: Level 2 fires at the breach, then again every REPEAT_EVERY, REPEATS more times.
REPEAT_EVERY = timedelta(minutes=10)
REPEATS = 2
BREACH_AFTER = timedelta(microseconds=1)  # a breach is the first instant after the target
POLICY = "runner-chain"
#: Many first steps fall due in the minute after this instant.
BURST = T0 + 20 * TICK


def build_policies():
    """The desk's rules, rebuilt identically in every process (generation 1 everywhere)."""
    sla = SLAPolicy(
        "runner-sla",
        {priority: {"resolution": within} for priority, within in TARGETS.items()},
        warn_at=(),
    )
    escalation = EscalationPolicy(
        POLICY,
        [
            Level(Trigger.fraction(0.5), Action.notify("assignee")),
            Level(
                Trigger.at_breach(),
                Action.notify("supervisor"),
                repeat_every=REPEAT_EVERY,
                max_repeats=REPEATS,
            ),
        ],
        metric="resolution",
    )
    return sla, escalation


def make_desk(url, prefix, clock=None):
    from supportflow.sqlstore import SQLStore

    sla, escalation = build_policies()
    return Desk(
        store=SQLStore(url, prefix=prefix),
        clock=clock,
        sla=(sla,),
        escalation=(escalation,),
        calendar=BusinessCalendar.always("UTC"),
        load_entry_points=False,
    )


def model_steps(opened, within):
    """(level, loop, repeat, due) of every step of a ticket opened at ``opened`` whose
    resolution clock ran without a pause, for a target of ``within``."""
    steps = [(1, 0, 0, opened + within / 2)]
    breach = opened + within + BREACH_AFTER
    steps += [(2, 0, r, breach + r * REPEAT_EVERY) for r in range(REPEATS + 1)]
    return steps


# -- the runners ----------------------------------------------------------------------------


def _runner(url, prefix, name, barrier, out_path):
    """Run TICKS ticks in step with the other runners; write what was fired to ``out_path``."""
    report = {"name": name, "fired": [], "other": 0, "tick_s": [], "error": None}
    desk = None
    try:
        desk = make_desk(url, prefix)
        for tick in range(TICKS):
            barrier.wait(timeout=300)
            started = time.perf_counter()
            for timer in desk.run_due(now=T0 + tick * TICK):
                if timer.kind == "escalation":
                    report["fired"].append([tick, timer.key])
                else:
                    report["other"] += 1
            report["tick_s"].append(time.perf_counter() - started)
    except BaseException:
        report["error"] = traceback.format_exc()
        barrier.abort()  # release the others instead of leaving them waiting
    finally:
        if desk is not None:
            desk.store.close()
        Path(out_path).write_text(json.dumps(report))


# -- preparing the tickets --------------------------------------------------------------------


def _plan(rng):
    """What happens to each ticket before the run, in time order.

    Every ticket is opened before T0 at an instant such that its first step falls
    due at or after T0 (nothing is overdue when the run starts): opened at
    ``T0 - d`` with ``0 < d <= within / 2``. Then:

    - 20 % are paused (triaged, then waiting on the customer) before T0;
    - 10 % are resolved before T0, so before their first step;
    - 5 % change priority before T0, voiding the steps of the old target;
    - the rest run untouched; about a fifth of them have their first step due in
      one minute (a burst that tick 21 must work through).
    """
    roles = ["paused"] * 200 + ["resolved"] * 100 + ["reprioritised"] * 50
    roles += ["running"] * (TICKETS - len(roles))
    rng.shuffle(roles)
    roles.insert(0, roles.pop(roles.index("running")))
    plan = []
    for number, role in enumerate(roles):
        priority = rng.choice(list(TARGETS))
        new_priority = None
        shortest = TARGETS[priority]
        if role == "reprioritised":
            new_priority = rng.choice([p for p in TARGETS if p is not priority])
            shortest = min(shortest, TARGETS[new_priority])
        if number == 0:
            back = shortest / 2  # its first step is due at T0 itself, on tick 0
        elif role == "running" and priority is not Priority.URGENT and rng.random() < 0.3:
            # A burst: first steps due within one minute, more than one claim's worth,
            # so the runners race for them on the same tick.
            due = BURST + timedelta(microseconds=rng.randrange(1, TICK // BREACH_AFTER))
            back = shortest / 2 - (due - T0)
        elif rng.random() < 0.1:
            # Whole minutes: the first step is due exactly on a tick, and fires on it.
            back = TICK * rng.randrange(1, shortest // 2 // TICK + 1)
        else:
            # Microseconds too: most due instants fall between ticks.
            back = timedelta(microseconds=rng.randrange(1, shortest // 2 // BREACH_AFTER + 1))
        opened = T0 - back
        later = opened + (T0 - opened) * rng.uniform(0.1, 0.9)  # before T0
        plan.append(
            {
                "number": number,
                "role": role,
                "priority": priority,
                "new_priority": new_priority,
                "opened": opened,
                "later": later,
            }
        )
    return plan


def _prepare(url, prefix, seed):
    from supportflow.sqlstore import upgrade

    upgrade(url, prefix=prefix)
    clock = ManualClock(T0 - timedelta(days=1))
    desk = make_desk(url, prefix, clock)
    plan = _plan(random.Random(seed))
    actions = sorted(
        [(p["opened"], 0, p) for p in plan]
        + [(p["later"], 1, p) for p in plan if p["role"] != "running"],
        key=lambda action: (action[0], action[1], action[2]["number"]),
    )

    def escalation_keys(ticket_id):
        return {t.key for t in desk.store.pending_timers(ticket_id) if t.kind == "escalation"}

    for at, phase, p in actions:
        clock.set(at)
        if phase == 0:
            ticket = desk.open_ticket(
                subject=f"runner {p['number']}",
                requester=f"c{p['number']}@example.com",
                priority=p["priority"],
            )
            p["id"] = ticket.id
            continue
        # Steps scheduled before the change: none of these may fire.
        p["void"] = escalation_keys(p["id"])
        if p["role"] == "paused":
            desk.transition(p["id"], "triage", by=AGENT)
            desk.transition(p["id"], "wait_for_customer", by=AGENT)
        elif p["role"] == "resolved":
            desk.transition(p["id"], "resolve", by=AGENT, resolution="fixed early")
        else:
            desk.set_priority(p["id"], p["new_priority"], by=AGENT)
        assert p["void"], f"ticket {p['id']} had no steps scheduled before its {p['role']}"

    expected, voided, later_steps = {}, set(), 0
    for p in plan:
        pending = [t for t in desk.store.pending_timers(p["id"]) if t.kind == "escalation"]
        if p["role"] in ("paused", "resolved"):
            assert pending == [], f"{p['role']} ticket {p['id']} still has steps: {pending}"
        voided |= p.get("void", set()) - {t.key for t in pending}
        # The policy arithmetic must agree with what the desk scheduled.
        if p["role"] in ("running", "reprioritised"):
            within = TARGETS[p["new_priority"] or p["priority"]]
            model = sorted(model_steps(p["opened"], within), key=lambda s: s[3])
            scheduled = []
            for t in pending:
                step = parse_step_key(t.key)
                scheduled.append((step.level, step.loop, step.repeat, t.at))
            assert sorted(scheduled, key=lambda s: s[3]) == model, p["id"]
        for t in pending:
            assert t.at >= T0, f"step {t.key} is overdue before the run starts"
            if t.at <= LAST:
                expected[t.key] = t.at
            else:
                later_steps += 1
    desk.store.close()
    return plan, expected, voided, later_steps


# -- the run ------------------------------------------------------------------------------------


def _run(url, prefix, processes, workdir, seed=20260302):
    started = time.perf_counter()
    plan, expected, voided, later_steps = _prepare(url, prefix, seed)
    prepared = time.perf_counter() - started
    ids = [p["id"] for p in plan]
    assert len(set(ids)) == TICKETS
    # Some of every kind: due on early, middle and late ticks, and after the run.
    due_ticks = Counter(-((T0 - at) // TICK) for at in expected.values())  # first tick at/after
    assert min(due_ticks) == 0
    assert max(due_ticks) == TICKS - 1
    assert len(due_ticks) >= 35
    assert later_steps > 0
    assert voided

    barrier = SPAWN.Barrier(processes)
    outputs = [Path(workdir) / f"runner-{n}.json" for n in range(processes)]
    runners = [
        SPAWN.Process(target=_runner, args=(url, prefix, f"runner-{n}", barrier, str(outputs[n])))
        for n in range(processes)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=600)
    ran = time.perf_counter() - started - prepared
    reports = []
    for runner, output in zip(runners, outputs, strict=True):
        assert runner.exitcode == 0, f"{runner.name} exited with {runner.exitcode}"
        report = json.loads(output.read_text())
        assert report["error"] is None, f"{report['name']} failed:\n{report['error']}"
        reports.append(report)

    # Every Escalated event in every ticket's history.
    desk = make_desk(url, prefix)
    try:
        events = [e for ticket_id in ids for e in desk.history(ticket_id)]
        escalated = [e for e in events if isinstance(e, Escalated)]
        leftover = [
            t
            for ticket_id in ids
            for t in desk.store.pending_timers(ticket_id)
            if t.kind == "escalation" and t.at <= LAST
        ]
    finally:
        desk.store.close()

    counts = Counter(e.step for e in escalated)
    twice = sorted(key for key, n in counts.items() if n > 1)
    assert twice == [], f"{len(twice)} step(s) fired more than once, e.g. {twice[:3]}"
    fired = set(counts)
    missing = sorted(set(expected) - fired)
    extra = sorted(fired - set(expected))
    assert missing == [], f"{len(missing)} due step(s) never fired, e.g. {missing[:3]}"
    assert extra == [], f"{len(extra)} step(s) fired that were not due, e.g. {extra[:3]}"
    assert fired.isdisjoint(voided)
    assert leftover == []

    lateness = []
    for event in escalated:
        due = expected[event.step]
        step = parse_step_key(event.step)
        assert (event.kind, event.policy, event.level, event.loop, event.repeat) == (
            "escalated",
            step.policy,
            step.level,
            step.loop,
            step.repeat,
        )
        assert event.step.startswith(event.ticket_id + "/")
        assert due <= event.at < due + TICK, (event.step, due, event.at)
        assert (event.at - T0) % TICK == timedelta(0), "fired at an instant that is no tick"
        lateness.append(event.at - due)

    # What the runners say they carried out is exactly what the histories hold.
    claimed = Counter(key for report in reports for _, key in report["fired"])
    assert all(n == 1 for n in claimed.values()), "two runners carried out one step"
    assert set(claimed) == fired
    by_tick = {key: tick for report in reports for tick, key in report["fired"]}
    for event in escalated:
        assert T0 + by_tick[event.step] * TICK == event.at

    figures = {
        "processes": processes,
        "tickets": TICKETS,
        "steps expected": len(expected),
        "steps fired": len(fired),
        "steps due after the run": later_steps,
        "most steps on one tick": max(Counter(by_tick.values()).values()),
        "voided keys": len(voided),
        "max lateness": str(max(lateness)),
        "fired per runner": [len(report["fired"]) for report in reports],
        "other timers (breaches)": sum(report["other"] for report in reports),
        "slowest tick s": round(max(max(report["tick_s"]) for report in reports), 3),
        "prepare s": round(prepared, 1),
        "run s": round(ran, 1),
    }
    print(f"\nrunner figures: {figures}", file=sys.stderr)
    return figures


@pytest.fixture
def importable(monkeypatch):
    """Spawned runners unpickle ``_runner`` by importing this module by its name
    (``tests.test_runner_processes`` under ``--import-mode=importlib``): put the
    folder that name is relative to on the path they inherit."""
    root = Path(__file__).resolve().parents[__name__.count(".")]
    monkeypatch.syspath_prepend(str(root))


def test_postgresql_4_runner_processes_fire_each_due_step_exactly_once(
    postgres_url, sql_prefix, tmp_path, importable
):
    figures = _run(postgres_url, sql_prefix, processes=4, workdir=tmp_path)
    assert figures["steps fired"] == figures["steps expected"] > 1_000


def test_sqlite_2_runner_processes_fire_each_due_step_exactly_once(
    sql_prefix, tmp_path, importable
):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    figures = _run(url, sql_prefix, processes=2, workdir=tmp_path)
    assert figures["steps fired"] == figures["steps expected"] > 1_000
