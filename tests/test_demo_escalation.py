"""The escalation part of ``supportflow demo``: front line, senior, manager on a ManualClock."""

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from supportflow import Actor, ManualClock
from supportflow._demo import (
    DEMO_SLA,
    ESCALATION_END,
    ESCALATION_POLICY,
    ESCALATION_START,
    ESCALATION_TICK,
    escalation_desk,
    format_escalation,
    run_escalation_demo,
)
from supportflow.events import Assigned, Escalated, FieldChanged, PriorityChanged

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(sys.executable).parent
H = timedelta(hours=1)
TINY = timedelta(microseconds=1)

# Opened Tuesday 09:00 (GMT = UTC in early March); 8 business hours to resolve,
# business hours 08:00-18:00 London.
OPENED = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
L1_DUE = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 6 of 8 business hours used
L2_DUE = datetime(2026, 3, 3, 17, 0, tzinfo=UTC) + TINY  # the first instant of the breach
L3_DUE = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # 2 business hours later, overnight between


def demo():
    clock = ManualClock(ESCALATION_START)
    desk = escalation_desk(clock)
    rows = run_escalation_demo(desk, clock=clock)
    return desk, clock, rows


def the_ticket(desk):
    (ticket,) = [t for t in desk.tickets() if t.subject == "Core switch drops packets"]
    return ticket


def test_the_chain_goes_front_line_then_senior_then_manager():
    _, _, rows = demo()
    assert [(r.level, r.mode, r.assignee, r.group, r.priority) for r in rows] == [
        (1, "hierarchical", "ann", "service-desk", "high"),
        (2, "functional", "omar", "network", "high"),  # lea already holds a ticket
        (3, "functional", "mia", "managers", "urgent"),
    ]
    assert [r.targets for r in rows] == [
        ("supervisor=kim", "watcher:kim"),
        ("omar",),
        ("mia",),
    ]
    assert [r.trigger for r in rows] == ["75% of target", "at breach", "breach + 2 h"]


def test_each_step_fires_at_its_configured_instant_within_one_tick():
    _, _, rows = demo()
    calendar = DEMO_SLA.calendar
    # The same instants, computed from the policy and the business calendar.
    target = 8 * H
    assert calendar.add(OPENED, 0.75 * target) == L1_DUE
    assert calendar.add(OPENED, target) + TINY == L2_DUE
    assert calendar.add(OPENED, target + 2 * H) == L3_DUE
    assert len(ESCALATION_POLICY.levels) == len(rows) == 3
    for row, due in zip(rows, [L1_DUE, L2_DUE, L3_DUE], strict=True):
        assert row.due == due
        assert due <= row.fired < due + ESCALATION_TICK
        assert (row.fired - ESCALATION_START) % ESCALATION_TICK == timedelta(0)  # on a tick
        assert str(row.fired.tzinfo) == "Europe/London"
    # On time where the due instant is a tick; a breach (+1 µs) waits for the next one.
    assert [r.fired for r in rows] == [L1_DUE, L2_DUE - TINY + ESCALATION_TICK, L3_DUE]


def test_the_history_records_each_step_with_its_changes_once():
    desk, clock, _ = demo()
    ticket = the_ticket(desk)
    history = desk.history(ticket.id)
    steps = [e for e in history if isinstance(e, Escalated)]
    assert [(e.policy, e.level, e.loop, e.repeat) for e in steps] == [
        ("high-resolution", 1, 0, 0),
        ("high-resolution", 2, 0, 0),
        ("high-resolution", 3, 0, 0),
    ]
    assert all(e.by == Actor.system() for e in steps)
    assigned = [(e.assignee, e.group) for e in history if isinstance(e, Assigned)]
    assert assigned == [("omar", "network"), ("mia", "managers")]
    raised = [
        (e.previous.value, e.priority.value) for e in history if isinstance(e, PriorityChanged)
    ]
    assert raised == [("high", "urgent")]
    watchers = [e.value for e in history if isinstance(e, FieldChanged) and e.field == "watchers"]
    assert watchers == [["kim"]]
    after = desk.get(ticket.id)
    assert (after.assignee, after.group, after.priority.value) == ("mia", "managers", "urgent")
    # Urgent is outside the policy: nothing more is pending, and later ticks fire nothing.
    assert [t for t in desk.store.pending_timers(ticket.id) if t.kind == "escalation"] == []
    assert clock.now() == ESCALATION_END
    later = desk.run_due(now=ESCALATION_END + 24 * H)
    assert [t for t in later if t.kind == "escalation"] == []
    assert len([e for e in desk.history(ticket.id) if isinstance(e, Escalated)]) == 3


def test_the_demo_is_deterministic_and_formats_a_table():
    _, _, first = demo()
    second = run_escalation_demo()  # a fresh in-memory desk of its own
    assert first == second
    table = format_escalation(first).splitlines()
    assert table[0].split() == [
        "level", "trigger", "due", "fired", "mode", "targets", "assignee", "group", "priority",
    ]  # fmt: skip
    assert set(table[1]) == {"-", " "}
    assert table[3].split() == [
        "2", "at", "breach", "Tue", "17:00", "GMT", "Tue", "17:15", "GMT",
        "functional", "omar", "omar", "network", "high",
    ]  # fmt: skip
    assert len(table) == 5


def test_supportflow_demo_prints_the_escalation_section(tmp_path):
    result = subprocess.run(
        [str(SCRIPTS / "supportflow"), "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    day, _, escalation = out.partition("\nEscalation: ")
    assert "Printer on floor 3 jams" in day
    assert escalation.startswith("a high-priority ticket nobody resolves")
    # The SQLite store gives the same timeline as the in-memory desk.
    assert format_escalation(run_escalation_demo()) in escalation
    lines = escalation.splitlines()
    level_rows = [line for line in lines if line[:1] in {"1", "2", "3"}]
    assert [line.split()[0] for line in level_rows] == ["1", "2", "3"]
    assert "supervisor=kim, watcher:kim" in level_rows[0]
    assert "assignee: ann (front_line) > omar (senior) > mia (manager)" in escalation
    # The escalation guide shows this very output.
    guide = (ROOT / "docs" / "escalation.md").read_text()
    shown = guide.split("## The demo", 1)[1]
    (block,) = re.findall(r"```text\n(.*?)```", shown, re.DOTALL)
    assert block.startswith("Escalation: ")
    assert block in out
