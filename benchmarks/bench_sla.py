"""SLA benchmarks: SLA reports, full replays, and what SLA tracking adds to every command.

Run::

    python benchmarks/bench_sla.py            # full run (under 3 minutes)
    python benchmarks/bench_sla.py --quick    # smaller sizes, < 30 s
    python benchmarks/bench_sla.py --json out.json

Everything runs side by side in one process, on ``supportflow.lifecycles.standard()``,
the Europe/Berlin calendar ``mon-fri 09:00-12:00,13:00-17:00`` (so lunch breaks,
nights and weekends pause business time) and one policy with targets for all
four standard metrics (first_response, next_response, periodic_update,
resolution) at every priority, warning at 50 % and 75 %.

Tickets follow a scripted, realistic story (see ``WEEKS_ONE_AND_TWO`` and
``STEADY_WEEK``): opened on Monday 2 March 2026 at 09:05 Berlin time, public
replies both ways, internal notes, waits on the customer and on a third party,
resumes (some by a customer reply), a priority change, a resolve and a reopen by
a customer reply, some events in the lunch break, one on a Saturday. The first
50 events span two business weeks and a weekend; longer histories repeat a
steady week (21 events) and run past the change to summer time on 29 March.

1. SLA report for the 50-event ticket: ``desk.sla(id, at=...)`` from the stored
   projection, ``desk.sla(id, at=..., fresh=True)`` (a full replay), and the
   pure parts alone: ``SLAProjection.empty().fold(history, ...)``,
   ``.report(...)`` and ``.timers(...)``. The two ``desk.sla`` reports are
   checked to be equal (outside the timing).
2. Per-command overhead of SLA tracking: ``Desk.transition`` (the 4-step cycle
   ``in_progress -> waiting_on_customer -> in_progress -> waiting_on_third_party
   -> in_progress`` of ``bench_core.py``) and ``Desk.reply`` (a customer reply,
   then an agent reply) on a desk with the policy against the same desk without
   ``sla=``, on young tickets (6 events) and on tickets with 50 events. Every
   round works on its own, untouched tickets, so every round sees the same
   ticket age. The clock moves 7 minutes before each step.
3. Scaling: a full replay (``fold``, and ``desk.sla(fresh=True)``) of histories
   of 10, 50 and 200 events, in µs per event; plus what one command pays at that
   age (folding the last event into the stored projection, then ``timers``).

Timings are the best of N repeats of ``time.perf_counter`` around a loop, with
the garbage collector disabled inside the loop (collected and re-enabled between
repeats) and an untimed warm-up first; rows of a table are timed in interleaved
rounds, so a noisy moment of the machine hits all of them alike. The calendar's
day cache is warm (the steady state of a running desk). No row has a target:
the numbers are information for users.
"""

from __future__ import annotations

import gc
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import _common
from _common import emit, package_version, table

from supportflow import Actor, BusinessCalendar, Desk, ManualClock, SLAPolicy, Ticket
from supportflow.sla import SLAProjection

CALENDAR_SPEC = "mon-fri 09:00-12:00,13:00-17:00"
TZ = "Europe/Berlin"
BERLIN = ZoneInfo(TZ)
#: Monday of the first week of every scripted ticket.
FIRST_MONDAY = date(2026, 3, 2)
HOUR = timedelta(hours=1)
#: Business-time targets per priority; every metric at every priority.
TARGETS: dict[str, dict[str, timedelta]] = {
    "urgent": {
        "first_response": HOUR / 2,
        "next_response": HOUR,
        "periodic_update": 2 * HOUR,
        "resolution": 8 * HOUR,
    },
    "high": {
        "first_response": HOUR,
        "next_response": 2 * HOUR,
        "periodic_update": 4 * HOUR,
        "resolution": 16 * HOUR,
    },
    "medium": {
        "first_response": 4 * HOUR,
        "next_response": 8 * HOUR,
        "periodic_update": 8 * HOUR,
        "resolution": 40 * HOUR,
    },
    "low": {
        "first_response": 8 * HOUR,
        "next_response": 16 * HOUR,
        "periodic_update": 16 * HOUR,
        "resolution": 80 * HOUR,
    },
}
WARN_AT = (0.5, 0.75)

AGENT = Actor.agent("ann")
REQUESTER = "bob@example.com"
CUSTOMER = Actor.customer(REQUESTER)

# A step: (day from FIRST_MONDAY, local "HH:MM", action, argument). Actions:
# "open" (argument: priority), "agent" / "customer" (a public reply), "note" (an
# internal note), "fire" (argument: lifecycle event), "priority" (argument: priority).
Step = tuple[int, str, str, str]

#: The first 50 events (event count after each step in the comment).
WEEKS_ONE_AND_TWO: tuple[Step, ...] = (
    # Monday 2 March
    (0, "09:05", "open", "high"),  # 1
    (0, "09:50", "agent", ""),  # 3: the reply acknowledges the new ticket
    (0, "10:05", "note", ""),  # 4
    (0, "10:30", "fire", "triage"),  # 5
    (0, "11:10", "fire", "start"),  # 6
    (0, "11:40", "agent", ""),  # 7
    (0, "11:45", "fire", "wait_for_customer"),  # 8
    (0, "12:20", "customer", ""),  # 10: lunch break; the reply resumes
    (0, "14:00", "note", ""),  # 11
    (0, "15:30", "agent", ""),  # 12
    (0, "16:45", "fire", "wait_for_third_party"),  # 13
    # Tuesday
    (1, "10:15", "note", ""),  # 14
    (1, "13:30", "fire", "resume"),  # 15
    (1, "13:45", "agent", ""),  # 16
    (1, "16:10", "customer", ""),  # 17
    # Wednesday
    (2, "09:20", "agent", ""),  # 18
    (2, "09:30", "priority", "urgent"),  # 19
    (2, "11:55", "note", ""),  # 20
    (2, "12:30", "customer", ""),  # 21: lunch break
    (2, "13:05", "agent", ""),  # 22
    (2, "15:00", "fire", "wait_for_customer"),  # 23
    # Thursday
    (3, "08:30", "customer", ""),  # 25: before opening; the reply resumes
    (3, "09:10", "agent", ""),  # 26
    (3, "14:20", "fire", "wait_for_third_party"),  # 27
    # Friday
    (4, "11:30", "note", ""),  # 28
    (4, "16:50", "fire", "resume"),  # 29
    (4, "16:55", "agent", ""),  # 30
    # Saturday
    (5, "10:00", "customer", ""),  # 31: weekend
    # Monday 9 March
    (7, "09:15", "agent", ""),  # 32
    (7, "10:40", "note", ""),  # 33
    (7, "11:20", "fire", "resolve"),  # 34
    # Tuesday
    (8, "09:45", "customer", ""),  # 36: the reply reopens
    (8, "10:05", "agent", ""),  # 37
    (8, "12:15", "note", ""),  # 38: lunch break
    (8, "14:00", "fire", "wait_for_third_party"),  # 39
    # Wednesday
    (9, "11:00", "fire", "resume"),  # 40
    (9, "11:10", "agent", ""),  # 41
    (9, "15:30", "customer", ""),  # 42
    # Thursday
    (10, "09:05", "agent", ""),  # 43
    (10, "10:00", "fire", "wait_for_customer"),  # 44
    (10, "13:40", "customer", ""),  # 46: the reply resumes
    (10, "14:10", "note", ""),  # 47
    # Friday
    (11, "10:30", "agent", ""),  # 48
    (11, "12:40", "customer", ""),  # 49: lunch break
    (11, "13:20", "agent", ""),  # 50
)
#: Weeks three on: 21 events a week, starting and ending in ``in_progress``;
#: the priority goes back and forth between high and urgent.
STEADY_WEEK: tuple[Step, ...] = (
    (0, "09:30", "customer", ""),
    (0, "10:10", "agent", ""),
    (0, "11:30", "note", ""),
    (0, "14:00", "fire", "wait_for_customer"),
    (0, "16:00", "customer", ""),  # resumes: 2 events
    (1, "09:40", "agent", ""),
    (1, "09:50", "priority", "high|urgent"),
    (1, "12:10", "note", ""),
    (1, "15:00", "fire", "wait_for_third_party"),
    (2, "10:00", "fire", "resume"),
    (2, "10:20", "agent", ""),
    (2, "16:30", "customer", ""),
    (3, "09:15", "agent", ""),
    (3, "11:00", "fire", "resolve"),
    (3, "14:30", "customer", ""),  # reopens: 2 events
    (4, "09:30", "agent", ""),
    (4, "12:30", "customer", ""),
    (4, "13:15", "agent", ""),
    (4, "15:00", "note", ""),
)

#: The transition cycle of section 2; it starts and ends in ``in_progress``.
CYCLE: tuple[str, ...] = ("wait_for_customer", "resume", "wait_for_third_party", "resume")
STEP_GAP = timedelta(minutes=7)
#: The age of a "young" ticket: opened, acknowledged by a reply, a note, triaged, started.
YOUNG_EVENTS = 6
REPORT_EVENTS = 50
#: How long after the last event the reports of sections 1 and 3 are asked for.
REPORT_DELAY = 3 * HOUR

#: Sizes and repeats: (full, quick).
PARAMS: dict[str, tuple[Any, Any]] = {
    "report_repeats": (15, 5),
    "report_calls": (
        {"a": 400, "b": 40, "c": 40, "d": 400, "e": 800},
        {"a": 150, "b": 15, "c": 15, "d": 150, "e": 300},
    ),
    "command_rounds": (5, 3),
    "command_tickets": ({"young": 300, "aged": 60}, {"young": 100, "aged": 25}),
    "scaling_sizes": ((10, 50, 200), (10, 50, 200)),
    "scaling_repeats": (9, 3),
    "scaling_events_per_repeat": (4_000, 1_200),
}


# -- timing ----------------------------------------------------------------------------------


def measure(
    make: Callable[[], Callable[[], object]],
    repeats: int,
    *,
    warmup: bool = True,
) -> list[float]:
    """Seconds per repeat of the callable that ``make()`` returns (``make`` is untimed).

    An untimed warm-up runs first unless ``warmup`` is false. The garbage
    collector is disabled inside each timed call and collected in between.
    """
    if warmup:
        make()()
    times: list[float] = []
    for _ in range(repeats):
        run = make()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            run()
            t1 = time.perf_counter()
        finally:
            gc.enable()
        times.append(t1 - t0)
    return times


def repeat_call(fn: Callable[[], object], calls: int) -> Callable[[], Callable[[], object]]:
    """A ``make`` for :func:`measure` that calls ``fn`` ``calls`` times."""

    def run() -> None:
        for _ in range(calls):
            fn()

    return lambda: run


def interleaved(
    rows: dict[str, Callable[[], Callable[[], object]]], repeats: int
) -> dict[str, list[float]]:
    """Time every row once per round, ``repeats`` rounds; each row is warmed up first."""
    times: dict[str, list[float]] = {name: [] for name in rows}
    for name, make in rows.items():
        times[name] += measure(make, 1)
    for _ in range(repeats - 1):
        for name, make in rows.items():
            times[name] += measure(make, 1, warmup=False)
    return times


# -- the scripted ticket ------------------------------------------------------------------------


def policy() -> SLAPolicy:
    return SLAPolicy("standard", targets=TARGETS, warn_at=WARN_AT)


def calendar() -> BusinessCalendar:
    return BusinessCalendar.weekly(CALENDAR_SPEC, tz=TZ)


def new_desk(clock: ManualClock, *, sla: bool) -> Desk:
    return Desk(
        clock=clock,
        sla=[policy()] if sla else [],
        calendar=calendar(),
        load_entry_points=False,
    )


def _instant(day: int, hhmm: str) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    local = datetime.combine(FIRST_MONDAY + timedelta(days=day), datetime.min.time())
    return local.replace(hour=hours, minute=minutes, tzinfo=BERLIN).astimezone(UTC)


def script() -> Iterator[tuple[datetime, str, str]]:
    """The story of a ticket, step by step, as (UTC instant, action, argument); endless."""
    for day, hhmm, action, argument in WEEKS_ONE_AND_TWO:
        yield _instant(day, hhmm), action, argument
    week = 2
    while True:
        for day, hhmm, action, argument in STEADY_WEEK:
            if action == "priority":
                argument = argument.split("|")[week % 2]
            yield _instant(7 * week + day, hhmm), action, argument
        week += 1


def _events_of(action: str, state: str) -> int:
    """How many events ``action`` records in ``state`` (a reply may also move the ticket)."""
    if action == "agent" and state == "new":
        return 2
    if action == "customer" and state in ("waiting_on_customer", "resolved"):
        return 2
    return 1


def _perform(desk: Desk, ticket_id: str, action: str, argument: str) -> None:
    if action == "agent":
        desk.reply(ticket_id, "Thanks, we are on it.", by=AGENT)
    elif action == "customer":
        desk.reply(ticket_id, "Here is what I see.", by=CUSTOMER)
    elif action == "note":
        desk.comment(ticket_id, "Checked the logs.", by=AGENT)
    elif action == "fire" and argument == "resolve":
        desk.transition(ticket_id, "resolve", by=AGENT, resolution="Replaced the firmware.")
    elif action == "fire":
        desk.transition(ticket_id, argument, by=AGENT)
    elif action == "priority":
        desk.set_priority(ticket_id, argument, by=AGENT, reason="impact reassessed")
    else:
        raise AssertionError(f"unknown action {action!r}")


def build_tickets(
    desks: Sequence[tuple[Desk, ManualClock]], n_events: int, count: int
) -> list[list[str]]:
    """Open ``count`` tickets on every desk and play the script on all of them in
    lockstep until each has exactly ``n_events`` events; the ids per desk."""
    steps = script()
    when, action, argument = next(steps)
    assert action == "open"
    ids: list[list[str]] = []
    for desk, clock in desks:
        clock.set(when)
        ids.append(
            [
                desk.open_ticket(
                    subject="VPN drops every few minutes",
                    requester=REQUESTER,
                    priority=argument,
                    channel="email",
                ).id
                for _ in range(count)
            ]
        )
    recorded = 1
    while recorded < n_events:
        when, action, argument = next(steps)
        state = desks[0][0].get(ids[0][0]).state
        if _events_of(action, state) > n_events - recorded:
            action, argument = "note", ""  # one event left: a note instead
        for (desk, clock), tickets in zip(desks, ids, strict=True):
            clock.set(when)
            for ticket_id in tickets:
                _perform(desk, ticket_id, action, argument)
        recorded += _events_of(action, state)
    for (desk, _clock), tickets in zip(desks, ids, strict=True):
        assert all(len(desk.history(t)) == n_events for t in tickets)
    return ids


def one_ticket(n_events: int) -> tuple[Desk, Ticket]:
    """A desk with the SLA policy holding one scripted ticket of ``n_events`` events."""
    clock = ManualClock(_instant(0, "08:00"))
    desk = new_desk(clock, sla=True)
    [[ticket_id]] = build_tickets([(desk, clock)], n_events, 1)
    return desk, desk.get(ticket_id)


class Parts:
    """What the pure SLA functions need for one ticket of a desk."""

    def __init__(self, desk: Desk, ticket: Ticket) -> None:
        stored = desk.store.sla_projection(ticket.id)
        assert stored is not None
        self.history = tuple(desk.history(ticket.id))
        self.generation = stored.policy_set
        self.stored = stored
        self.kwargs: dict[str, Any] = {
            "lifecycle": desk.lifecycle,
            "policies": desk.sla_policies,
            "calendar": desk.calendar,
            "metrics": desk.metrics,
        }
        self.report_kwargs: dict[str, Any] = {
            "policies": desk.sla_policies,
            "calendar": desk.calendar,
        }

    def fold(self, events: Sequence[Any] | None = None) -> SLAProjection:
        return SLAProjection.empty(self.generation).fold(
            self.history if events is None else events, **self.kwargs
        )


# -- 1. the SLA report of a 50-event ticket ---------------------------------------------------


def bench_report(p: dict[str, Any]) -> dict[str, Any]:
    desk, ticket = one_ticket(REPORT_EVENTS)
    at = ticket.updated_at + REPORT_DELAY
    parts = Parts(desk, ticket)
    projection = parts.fold()
    # Checks, outside the timing: the stored projection is the replayed one, and the
    # report from it equals the report from a fresh replay.
    assert projection == parts.stored, "fold(history) differs from the stored projection"
    stored_report = desk.sla(ticket.id, at=at)
    fresh_report = desk.sla(ticket.id, at=at, fresh=True)
    assert stored_report == fresh_report, "desk.sla(at=...) != desk.sla(at=..., fresh=True)"
    assert stored_report == projection.report(at, **parts.report_kwargs)

    calls = p["report_calls"]
    rows = {
        "a": repeat_call(lambda: desk.sla(ticket.id, at=at), calls["a"]),
        "b": repeat_call(lambda: desk.sla(ticket.id, at=at, fresh=True), calls["b"]),
        "c": repeat_call(parts.fold, calls["c"]),
        "d": repeat_call(lambda: projection.report(at, **parts.report_kwargs), calls["d"]),
        "e": repeat_call(lambda: projection.timers(**parts.report_kwargs), calls["e"]),
    }
    times = interleaved(rows, p["report_repeats"])
    cycles = projection.cycles
    return {
        "events": len(parts.history),
        "first_event": parts.history[0].at.isoformat(),
        "last_event": ticket.updated_at.isoformat(),
        "at": at.isoformat(),
        "state": ticket.state,
        "cycles": len(cycles),
        "cycles_under_way": sum(1 for c in cycles if c.active),
        "segments": sum(len(c.segments) for c in cycles),
        "timers": len(projection.timers(**parts.report_kwargs)),
        "statuses": {
            name: [c.status.value for c in metric.cycles]
            for name, metric in stored_report.metrics.items()
        },
        "rows": {
            key: {
                "us": min(ts) / calls[key] * 1e6,
                "median_us": statistics.median(ts) / calls[key] * 1e6,
                "calls": calls[key],
                "times_s": ts,
            }
            for key, ts in times.items()
        },
    }


# -- 2. per-command overhead --------------------------------------------------------------------


def _advance_all(clocks: Sequence[ManualClock]) -> None:
    for clock in clocks:
        clock.advance(STEP_GAP)


def _command_rows(
    n_events: int, per_round: int, rounds: int
) -> dict[str, Callable[[], Callable[[], object]]]:
    """Rows timing the transition cycle and a reply pair on tickets of ``n_events``
    events, with and without SLA tracking; each call of a row's ``make`` hands out
    ``per_round`` tickets no round used before."""
    desks = [(new_desk(clock, sla=sla), clock) for sla, clock in _two_clocks()]
    slices = rounds + 1  # the warm-up, then the timed rounds
    ids = build_tickets(desks, n_events, per_round * slices * 2)
    for (desk, _clock), tickets in zip(desks, ids, strict=True):
        assert desk.get(tickets[0]).state == "in_progress"
    rows: dict[str, Callable[[], Callable[[], object]]] = {}
    for (desk, clock), tickets, sla in zip(desks, ids, (True, False), strict=True):
        chunks = [tickets[k * per_round : (k + 1) * per_round] for k in range(2 * slices)]
        suffix = "sla" if sla else "plain"
        rows[f"transition/{suffix}"] = _cycle_make(desk, clock, iter(chunks[:slices]))
        rows[f"reply/{suffix}"] = _reply_make(desk, clock, iter(chunks[slices:]))
    return rows


def _two_clocks() -> list[tuple[bool, ManualClock]]:
    return [(True, ManualClock(_instant(0, "08:00"))), (False, ManualClock(_instant(0, "08:00")))]


def _cycle_make(
    desk: Desk, clock: ManualClock, chunks: Iterator[list[str]]
) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        tickets = next(chunks)

        def run() -> None:
            transition = desk.transition
            for event in CYCLE:
                clock.advance(STEP_GAP)
                for ticket_id in tickets:
                    transition(ticket_id, event, by=AGENT)

        return run

    return make


def _reply_make(
    desk: Desk, clock: ManualClock, chunks: Iterator[list[str]]
) -> Callable[[], Callable[[], object]]:
    def make() -> Callable[[], object]:
        tickets = next(chunks)

        def run() -> None:
            reply = desk.reply
            clock.advance(STEP_GAP)
            for ticket_id in tickets:
                reply(ticket_id, "It happened again at noon.", by=CUSTOMER)
            clock.advance(STEP_GAP)
            for ticket_id in tickets:
                reply(ticket_id, "Thanks, looking at it now.", by=AGENT)

        return run

    return make


def bench_commands(p: dict[str, Any]) -> dict[str, Any]:
    rounds = p["command_rounds"]
    out: dict[str, Any] = {"rounds": rounds, "ages": {}}
    for age, n_events in (("young", YOUNG_EVENTS), ("aged", REPORT_EVENTS)):
        per_round = p["command_tickets"][age]
        rows = _command_rows(n_events, per_round, rounds)
        times = interleaved(rows, rounds)
        calls = {"transition": per_round * len(CYCLE), "reply": per_round * 2}
        result: dict[str, Any] = {"events": n_events, "tickets_per_round": per_round, "rows": {}}
        for name, ts in times.items():
            n = calls[name.split("/")[0]]
            result["rows"][name] = {
                "us": min(ts) / n * 1e6,
                "median_us": statistics.median(ts) / n * 1e6,
                "calls_per_round": n,
                "times_s": ts,
            }
        out["ages"][age] = result
    return out


# -- 3. scaling -----------------------------------------------------------------------------------


def bench_scaling(p: dict[str, Any]) -> dict[str, Any]:
    budget = p["scaling_events_per_repeat"]
    rows: dict[str, Callable[[], Callable[[], object]]] = {}
    calls: dict[str, int] = {}
    info: dict[int, dict[str, Any]] = {}
    for n in p["scaling_sizes"]:
        desk, ticket = one_ticket(n)
        at = ticket.updated_at + REPORT_DELAY
        parts = Parts(desk, ticket)
        projection = parts.fold()
        assert projection == parts.stored, f"{n} events: fold(history) != stored projection"
        assert desk.sla(ticket.id, at=at) == desk.sla(ticket.id, at=at, fresh=True)
        before_last = parts.fold(parts.history[:-1])
        last = parts.history[-1:]
        assert before_last.fold(last, **parts.kwargs) == projection

        def one_command(
            start: SLAProjection = before_last, parts: Parts = parts, last: Any = last
        ) -> object:
            folded = start.fold(last, **parts.kwargs)
            return folded.timers(**parts.report_kwargs)

        replays = max(1, budget // n)
        singles = max(1, budget // 50)
        for key, fn, count in (
            ("fold", parts.fold, replays),
            ("fresh", lambda d=desk, t=ticket.id, a=at: d.sla(t, at=a, fresh=True), replays),
            ("stored", lambda d=desk, t=ticket.id, a=at: d.sla(t, at=a), singles),
            ("command", one_command, singles),
        ):
            rows[f"{n}/{key}"] = repeat_call(fn, count)
            calls[f"{n}/{key}"] = count
        info[n] = {
            "events": n,
            "cycles": len(projection.cycles),
            "segments": sum(len(c.segments) for c in projection.cycles),
            "last_event": ticket.updated_at.isoformat(),
            "state": ticket.state,
        }
    times = interleaved(rows, p["scaling_repeats"])
    out: dict[str, Any] = {"sizes": {}}
    for n in p["scaling_sizes"]:
        entry = dict(info[n])
        for key in ("fold", "fresh", "stored", "command"):
            ts = times[f"{n}/{key}"]
            count = calls[f"{n}/{key}"]
            entry[key] = {
                "us": min(ts) / count * 1e6,
                "median_us": statistics.median(ts) / count * 1e6,
                "calls": count,
                "times_s": ts,
            }
        out["sizes"][str(n)] = entry
    return out


# -- reporting ------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    return _common.environment(
        processor=platform.processor() or "?",
        supportflow=package_version("supportflow"),
        attrs=package_version("attrs"),
        transitions=package_version("transitions"),
    )


def us(value: float) -> str:
    return _common.micros(value, 2)


def ratio(a: float, b: float) -> str:
    return _common.times(a, b, 2)


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BERLIN).strftime("%a %d %b %H:%M")


def _shape(growth: float, size_ratio: float) -> str:
    """Words for how the cost per event grows when the history grows ``size_ratio``×."""
    if growth <= 1.15:
        return "linear"
    if growth <= 1.5:
        return (
            f"close to linear: {size_ratio:.0f}× the events cost {size_ratio * growth:.1f}× "
            "the time, a small superlinear term"
        )
    return f"superlinear: {size_ratio:.0f}× the events cost {size_ratio * growth:.1f}× the time"


def report(results: dict[str, Any]) -> str:
    env, rep, cmd, sc = (
        results["env"],
        results["report"],
        results["commands"],
        results["scaling"],
    )
    out: list[str] = []
    out.append("# supportflow SLA benchmark\n")
    out.append(
        f"Python {env['python']} ({env['implementation']}), supportflow {env['supportflow']}, "
        f"attrs {env['attrs']}, transitions {env['transitions']}, CPUs: {env['cpu_count']}, "
        f"{env['platform']}; mode: {results['mode']}\n"
    )
    out.append(
        f"Calendar `{CALENDAR_SPEC}` ({TZ}); policy `standard`: targets for "
        f"{', '.join(TARGETS['high'])} at every priority (high: "
        + ", ".join(f"{k} {v.total_seconds() / 3600:g} h" for k, v in TARGETS["high"].items())
        + f"), warnings at {', '.join(f'{w:.0%}' for w in WARN_AT)}.\n"
    )

    # 1
    rows = rep["rows"]
    a = rows["a"]["us"]
    labels = {
        "a": "(a) `desk.sla(id, at=...)` (stored projection)",
        "b": "(b) `desk.sla(id, at=..., fresh=True)` (full replay)",
        "c": "(c) `SLAProjection.empty().fold(history, ...)` alone",
        "d": "(d) `projection.report(at, ...)` alone",
        "e": "(e) `projection.timers(...)` alone",
    }
    out.append(
        f"## 1. SLA report for a ticket with {rep['events']} events "
        f"(best of {len(rows['a']['times_s'])} interleaved rounds)\n"
    )
    out.append(
        f"Ticket: {rep['events']} events from {_local(rep['first_event'])} to "
        f"{_local(rep['last_event'])} (Berlin), now `{rep['state']}`; reported at "
        f"{_local(rep['at'])}. {rep['cycles']} clock cycles ({rep['cycles_under_way']} "
        f"under way), {rep['segments']} closed run segments, {rep['timers']} pending timers.\n"
    )
    out.append(
        table(
            ["what", "per call (best)", "median", "per event", "× (a)", "calls per round"],
            [
                [
                    labels[k],
                    us(v["us"]),
                    us(v["median_us"]),
                    us(v["us"] / rep["events"]) if k in "bc" else "—",
                    ratio(v["us"], a),
                    f"{v['calls']:,}",
                ]
                for k, v in rows.items()
            ],
        )
    )
    b, c, d = rows["b"]["us"], rows["c"]["us"], rows["d"]["us"]
    out.append(
        f"\nChecked outside the timing: (a) == (b), and the stored projection == (c)'s. "
        f"(b) ≈ (c) + (d) + the store's history copy: {us(c + d)} of {us(b)} "
        f"({(c + d) / b:.0%}).\n"
    )
    statuses = "; ".join(f"{name}: {', '.join(s)}" for name, s in rep["statuses"].items())
    out.append(f"Clock statuses at the report instant (cycle by cycle): {statuses}.\n")

    # 2
    out.append(
        f"## 2. Per-command overhead of SLA tracking (best of {cmd['rounds']} interleaved "
        "rounds, fresh tickets every round)\n"
    )
    rows2: list[list[object]] = []
    for age, res in cmd["ages"].items():
        r = res["rows"]
        for kind, label in (
            ("transition", f"`Desk.transition`, {len(CYCLE)}-step cycle"),
            ("reply", "`Desk.reply`, customer then agent"),
        ):
            with_sla, plain = r[f"{kind}/sla"], r[f"{kind}/plain"]
            rows2.append(
                [
                    f"{label}; {age} tickets ({res['events']} events), "
                    f"{res['tickets_per_round']:,} per round",
                    us(with_sla["us"]),
                    us(plain["us"]),
                    us(with_sla["us"] - plain["us"]),
                    ratio(with_sla["us"], plain["us"]),
                    f"{us(with_sla['median_us'])} / {us(plain['median_us'])}",
                ]
            )
    out.append(
        table(
            [
                "command",
                "with `sla=[policy]`",
                "without `sla=`",
                "SLA overhead",
                "ratio",
                "medians (with / without)",
            ],
            rows2,
        )
    )
    out.append(
        "\nSame lifecycle, store, clock steps and tickets on both desks; only `sla=` differs. "
        "No target: information for users.\n"
    )

    # 3
    repeats = results["params"]["scaling_repeats"]
    out.append(f"## 3. Scaling of a full replay (best of {repeats} interleaved rounds)\n")
    sizes = sc["sizes"]
    base = sizes[str(REPORT_EVENTS)] if str(REPORT_EVENTS) in sizes else next(iter(sizes.values()))
    base_per_event = base["fold"]["us"] / base["events"]
    rows3: list[list[object]] = []
    for entry in sizes.values():
        n = entry["events"]
        rows3.append(
            [
                f"{n:,} events ({entry['cycles']} cycles, {entry['segments']} segments)",
                us(entry["fold"]["us"]),
                us(entry["fold"]["us"] / n),
                ratio(entry["fold"]["us"] / n, base_per_event),
                us(entry["fresh"]["us"]),
                us(entry["fresh"]["us"] / n),
                us(entry["stored"]["us"]),
                us(entry["command"]["us"]),
            ]
        )
    out.append(
        table(
            [
                "history",
                "fold",
                "fold per event",
                f"per event × {base['events']}-event",
                "`desk.sla(fresh=True)`",
                "per event",
                "`desk.sla()` (stored)",
                "one command's fold + timers",
            ],
            rows3,
        )
    )
    first, last = (sizes[str(n)] for n in (min(map(int, sizes)), max(map(int, sizes))))
    n0, n1 = first["events"], last["events"]
    growth = (last["fold"]["us"] / n1) / (first["fold"]["us"] / n0)
    mid = sizes.get(str(REPORT_EVENTS))
    from_mid = (
        ""
        if mid is None or REPORT_EVENTS in (n0, n1)
        else f", and {(last['fold']['us'] / n1) / (mid['fold']['us'] / REPORT_EVENTS):.2f}× "
        f"from {REPORT_EVENTS} to {n1} (these two share a mix of event kinds; the "
        f"first {n0} events have no priority change, resolve or reopen)"
    )
    out.append(
        f"\nThe cost of a replay per event changes {growth:.2f}× from {n0} to {n1} events "
        f"({_shape(growth, n1 / n0)}){from_mid}. "
        "'One command's fold + timers' folds the last event into the projection of the "
        "events before it and lists the timers: the SLA work `Desk` does in every command "
        "at that ticket age.\n"
    )

    # summary
    young, aged = cmd["ages"]["young"]["rows"], cmd["ages"]["aged"]["rows"]
    summary = results["summary"] = [
        {
            "metric": f"SLA report, {rep['events']} events, stored projection (a)",
            "value": us(a),
            "baseline": "—",
            "ratio": "—",
            "target": "—",
            "result": "info",
        },
        {
            "metric": f"SLA report, {rep['events']} events, full replay (b) vs (a)",
            "value": us(b),
            "baseline": us(a),
            "ratio": ratio(b, a),
            "target": "—",
            "result": "info",
        },
        {
            "metric": "fold alone (c), per event",
            "value": us(c / rep["events"]),
            "baseline": "—",
            "ratio": "—",
            "target": "—",
            "result": "info",
        },
    ]
    for age, r in (("young", young), ("aged", aged)):
        for kind in ("transition", "reply"):
            summary.append(
                {
                    "metric": f"Desk.{kind}, {age} tickets, with vs without SLA",
                    "value": us(r[f"{kind}/sla"]["us"]),
                    "baseline": us(r[f"{kind}/plain"]["us"]),
                    "ratio": ratio(r[f"{kind}/sla"]["us"], r[f"{kind}/plain"]["us"]),
                    "target": "—",
                    "result": "info",
                }
            )
    summary.append(
        {
            "metric": f"replay cost per event, {n1} vs {n0} events",
            "value": us(last["fold"]["us"] / n1),
            "baseline": us(first["fold"]["us"] / n0),
            "ratio": f"{growth:.2f}×",
            "target": "—",
            "result": "info",
        }
    )
    summary.append(
        {
            "metric": f"one command's SLA fold + timers, {n1} vs {n0} events",
            "value": us(last["command"]["us"]),
            "baseline": us(first["command"]["us"]),
            "ratio": ratio(last["command"]["us"], first["command"]["us"]),
            "target": "—",
            "result": "info",
        }
    )
    out.append("## Summary\n")
    out.append(
        table(
            ["metric", "supportflow", "baseline", "ratio", "target", "result"],
            [list(row.values()) for row in summary],
        )
    )
    return "\n".join(out) + "\n"


def run(quick: bool) -> dict[str, Any]:
    p = {key: values[1 if quick else 0] for key, values in PARAMS.items()}
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "params": p}
    results["env"] = environment()
    started = time.perf_counter()
    results["report"] = bench_report(p)
    results["commands"] = bench_commands(p)
    results["scaling"] = bench_scaling(p)
    results["elapsed_s"] = time.perf_counter() - started
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = _common.parse_args(__doc__, "smaller sizes (< 30 s)", argv)
    results = run(args.quick)
    emit(results, report(results), args.json)  # report() also fills results["summary"]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
