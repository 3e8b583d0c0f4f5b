"""A scripted day at a support desk, run on a manual clock.

Used by ``supportflow demo``; also a readable tour of the API. Two parts:

- :func:`run_demo`: a day of tickets, each ticket's lifecycle path and SLA
  status at the end of it (:func:`format_table`);
- :func:`run_escalation_demo`: the next day, one high-priority ticket that
  nobody resolves, escalated from the front line to a senior engineer to a
  manager by a worker that calls ``desk.run_due`` on every tick
  (:func:`format_escalation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import frozen

from supportflow._calendar import BusinessCalendar
from supportflow._desk import Desk
from supportflow._directory import Agent, Directory, Group
from supportflow._escalation import Action, EscalationPolicy, Level, Trigger
from supportflow._model import Actor, Ticket
from supportflow._sla import Match, SLAPolicy
from supportflow._time import ManualClock
from supportflow.events import Escalated, Event, TicketOpened, Transitioned, apply
from supportflow.store import Store

__all__ = [
    "DemoRow",
    "EscalationRow",
    "escalation_desk",
    "format_escalation",
    "format_table",
    "run_demo",
    "run_escalation_demo",
]

#: The demo day starts on Monday 2 March 2026 at 08:00 UTC.
DEMO_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

_H = timedelta(hours=1)

#: The desk's promise: business hours in London, targets by priority.
DEMO_SLA = SLAPolicy(
    "standard support",
    {
        "urgent": {"first_response": _H / 4, "resolution": 4 * _H},
        "high": {"first_response": _H / 2, "resolution": 8 * _H},
        "medium": {"first_response": 2 * _H, "resolution": 24 * _H},
        "low": {"first_response": 8 * _H, "resolution": 40 * _H},
    },
    calendar=BusinessCalendar.weekly("mon-fri 08:00-18:00", tz="Europe/London"),
)


@frozen
class DemoRow:
    """One ticket's day, for the demo's table."""

    number: int
    subject: str
    channel: str
    priority: str
    path: tuple[str, ...]
    state: str
    events: int
    first_response: str
    resolution: str


def run_demo(desk: Desk | None = None, *, clock: ManualClock | None = None) -> list[DemoRow]:
    """Play the scripted day on ``desk`` (a fresh in-memory desk by default).

    Returns one row per ticket, in the order the tickets were opened.
    """
    clock = clock or ManualClock(DEMO_START)
    desk = desk or Desk(clock=clock, sla=[DEMO_SLA], load_entry_points=False)
    ann = Actor.agent("ann", groups=["service-desk"])
    raj = Actor.agent("raj", tier="senior", groups=["network"], skills=["vpn", "firewall"])
    sam = Actor.supervisor("sam")
    system = Actor.system()
    alice, bob = Actor.customer("alice@example.com"), Actor.customer("bob@example.com")
    carol, dave = Actor.customer("carol@example.com"), Actor.customer("dave@example.com")

    tickets: dict[str, Ticket] = {}
    schedule: list[tuple[str, Callable[[], object]]] = []

    def at(time: str, action: Callable[[], object]) -> None:
        schedule.append((time, action))

    def open_(name: str, **kwargs: Any) -> Callable[[], object]:
        def action() -> None:
            tickets[name] = desk.open_ticket(**kwargs)

        return action

    def id_(name: str) -> str:
        return tickets[name].id

    # A VPN fault: acknowledged by the first reply, escalated to a senior
    # engineer, paused while waiting for the customer's log, resolved.
    at(
        "08:02",
        open_(
            "vpn",
            subject="VPN drops every ten minutes",
            requester=alice,
            channel="email",
            priority="high",
            category="network",
            tags=["vpn"],
        ),
    )
    at("08:20", lambda: desk.reply(id_("vpn"), "Sorry about that, looking now.", by=ann))
    at("08:35", lambda: desk.transition(id_("vpn"), "triage", by=ann))
    at("08:36", lambda: desk.assign(id_("vpn"), raj, group="network", by=ann))
    at("09:05", lambda: desk.transition(id_("vpn"), "start", by=raj))
    at("09:30", lambda: desk.reply(id_("vpn"), "Could you send the client log?", by=raj))
    at("09:31", lambda: desk.transition(id_("vpn"), "wait_for_customer", by=raj))
    at("11:10", lambda: desk.reply(id_("vpn"), "Log attached.", by=alice))  # resumes it
    at("11:40", lambda: desk.comment(id_("vpn"), "MTU mismatch on the gateway.", by=raj))
    at(
        "13:15",
        lambda: desk.transition(
            id_("vpn"), "resolve", by=raj, resolution="Lowered the tunnel MTU to 1380."
        ),
    )

    # Solved at first contact on the phone, closed by the system at day's end.
    at(
        "08:45",
        open_(
            "reset",
            subject="Password reset",
            requester=bob,
            channel="phone",
            priority="low",
            by=ann,
        ),
    )
    at(
        "08:47",
        lambda: desk.transition(
            id_("reset"), "resolve", by=ann, resolution="Reset during the call."
        ),
    )
    at("17:30", lambda: desk.transition(id_("reset"), "close", by=system))

    # Waiting on a third party, resolved, reopened by the customer, closed.
    at("09:12", open_("invoice", subject="Invoice PDF missing", requester=carol, channel="chat"))
    at("09:14", lambda: desk.reply(id_("invoice"), "Checking with billing.", by=ann))
    at("09:16", lambda: desk.transition(id_("invoice"), "wait_for_third_party", by=ann))
    at("10:50", lambda: desk.transition(id_("invoice"), "resume", by=ann))
    at(
        "11:00",
        lambda: desk.transition(
            id_("invoice"), "resolve", by=ann, resolution="Billing re-sent the invoice."
        ),
    )
    at("11:30", lambda: desk.reply(id_("invoice"), "The PDF is still empty.", by=carol))
    at(
        "12:05",
        lambda: desk.transition(
            id_("invoice"), "resolve", by=ann, resolution="Generated the PDF by hand."
        ),
    )
    at("12:20", lambda: desk.transition(id_("invoice"), "close", by=carol))

    # An outage: urgent from impact x urgency, straight to the senior engineer.
    at(
        "10:03",
        open_(
            "outage",
            subject="Web shop returns 502",
            requester=dave,
            channel="web",
            impact="high",
            urgency="high",
        ),
    )
    at("10:04", lambda: desk.assign(id_("outage"), raj, group="network", by=sam))
    at("10:06", lambda: desk.reply(id_("outage"), "We see it too; on it.", by=raj))
    at("10:10", lambda: desk.transition(id_("outage"), "start", by=raj))
    at(
        "10:55",
        lambda: desk.transition(
            id_("outage"), "resolve", by=raj, resolution="Restarted the load balancer."
        ),
    )
    at("11:20", lambda: desk.transition(id_("outage"), "close", by=dave))

    # A duplicate merged into the first VPN ticket; spam cancelled by a supervisor.
    at("10:30", open_("vpn2", subject="VPN keeps dropping", requester=alice, channel="email"))
    at("10:40", lambda: desk.merge(id_("vpn2"), into=id_("vpn"), by=ann))
    at(
        "12:00",
        open_("spam", subject="Cheap watches!!!", requester="spam@example.net", channel="social"),
    )
    at("12:01", lambda: desk.transition(id_("spam"), "cancel", by=sam, reason="Spam."))

    # Still open at the end of the day.
    at(
        "14:00",
        open_(
            "feature",
            subject="Dark mode for the portal",
            requester=bob,
            channel="forum",
            priority="low",
            category="feature-request",
        ),
    )
    at("14:30", lambda: desk.reply(id_("feature"), "Passed to the product team.", by=ann))
    at("14:31", lambda: desk.transition(id_("feature"), "triage", by=ann))
    at(
        "15:15",
        open_(
            "printer", subject="Printer on floor 3 jams", requester=carol, channel="onsite", by=ann
        ),
    )
    at("15:20", lambda: desk.transition(id_("printer"), "acknowledge", by=ann))
    at("15:25", lambda: desk.transition(id_("printer"), "start", by=ann))

    for time, action in sorted(schedule, key=lambda item: item[0]):  # stable: keeps order
        hour, minute = map(int, time.split(":"))
        clock.set(DEMO_START.replace(hour=hour, minute=minute))
        action()

    opened = sorted(tickets.values(), key=lambda t: t.id)
    rows = []
    for number, first in enumerate(opened, start=1):
        ticket = desk.get(first.id)
        history = desk.history(first.id)
        first_event = history[0]
        assert isinstance(first_event, TicketOpened)
        path = (first_event.state, *(e.dest for e in history if isinstance(e, Transitioned)))
        sla = desk.sla(ticket.id, at=clock.now())
        rows.append(
            DemoRow(
                number=number,
                subject=ticket.subject,
                channel=ticket.channel.value,
                priority=ticket.priority.value,
                path=path,
                state=ticket.state,
                events=len(history),
                first_response=sla["first_response"].status.value,
                resolution=sla["resolution"].status.value,
            )
        )
    return rows


def format_table(rows: list[DemoRow]) -> str:
    """The rows as a plain-text table."""
    header = (
        "#", "subject", "channel", "priority", "lifecycle path", "state", "events",
        "first response", "resolution",
    )  # fmt: skip
    body = [
        (
            str(r.number),
            r.subject,
            r.channel,
            r.priority,
            " > ".join(r.path),
            r.state,
            str(r.events),
            r.first_response,
            r.resolution,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# -- the escalation part ----------------------------------------------------------------------

#: The escalation part starts the next morning, Tuesday 3 March 2026 at 08:00 UTC
#: (08:00 in London too: British summer time starts on 29 March).
ESCALATION_START = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
#: ... and ends on Wednesday at noon.
ESCALATION_END = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
#: How often the simulated worker calls ``desk.run_due``.
ESCALATION_TICK = timedelta(minutes=15)

#: The staff: a front-line service desk led by kim, a senior network group and
#: a manager, mia, at the top of both chains.
ESCALATION_DIRECTORY = Directory(
    agents=[
        Agent("ann", groups=["service-desk"], tier="front_line", supervisor="kim"),
        Agent("ben", groups=["service-desk"], tier="front_line", supervisor="kim"),
        Agent("kim", tier="senior", supervisor="mia"),
        Agent("lea", groups=["network"], tier="senior", supervisor="mia"),
        Agent("omar", groups=["network"], tier="senior", supervisor="mia"),
        Agent("mia", groups=["managers"], tier="manager"),
    ],
    groups=[
        Group("service-desk", tier="front_line", supervisor="kim"),
        Group("network", tier="senior", supervisor="mia"),
        Group("managers", tier="manager"),
    ],
)

#: The chain for high-priority tickets on the resolution clock (8 business
#: hours in :data:`DEMO_SLA`). Level 3 raises the ticket to urgent, which the
#: policy does not apply to: the urgent process takes over and the chain ends.
ESCALATION_POLICY = EscalationPolicy(
    "high-resolution",
    [
        # Hierarchical: three quarters of the target used, tell the front
        # line's supervisor and put them on the ticket as a watcher.
        Level(Trigger.fraction(0.75), [Action.notify("supervisor"), Action.add_watcher("kim")]),
        # Functional: breached, hand it to the least-loaded senior engineer.
        Level(Trigger.at_breach(), Action.reassign(group="network", tier="senior")),
        # Functional and more: two business hours later, the manager takes it
        # and the priority goes up.
        Level(
            Trigger.after_breach(2 * _H),
            [Action.reassign(group="managers", tier="manager"), Action.raise_priority()],
        ),
    ],
    metric="resolution",
    applies_to=Match(priority="high"),
)


@frozen
class EscalationRow:
    """One escalation step of the demo ticket, and the ticket as the step left it.

    ``due`` is the instant the step was scheduled for and ``fired`` the tick
    that carried it out, both in the SLA calendar's zone. ``targets`` are the
    :class:`~supportflow.events.Escalated` event's, with ``supervisor``
    resolved through the directory.
    """

    level: int
    trigger: str
    mode: str
    due: datetime
    fired: datetime
    targets: tuple[str, ...]
    assignee: str | None
    group: str | None
    priority: str


def escalation_desk(clock: ManualClock, store: Store | str | None = None) -> Desk:
    """A desk for :func:`run_escalation_demo`: :data:`DEMO_SLA`, the demo's
    escalation policy and directory, on ``store`` (in memory by default)."""
    return Desk(
        store=store,
        clock=clock,
        sla=[DEMO_SLA],
        escalation=[ESCALATION_POLICY],
        directory=ESCALATION_DIRECTORY,
        load_entry_points=False,
    )


def _describe(trigger: Trigger) -> str:
    if trigger.kind == "fraction":
        assert trigger.amount is not None
        return f"{trigger.amount:.0%} of target"
    if trigger.kind == "at_breach":
        return "at breach"
    if trigger.kind in ("before_breach", "after_breach"):
        assert trigger.delay is not None
        hours = trigger.delay / _H
        return f"breach {'-' if trigger.kind == 'before_breach' else '+'} {hours:g} h"
    return "on condition"


def _steps_with_snapshots(history: Sequence[Event]) -> list[tuple[Escalated, Ticket]]:
    """Each Escalated event with the ticket as its step left it.

    A step's changes (an assignment, a priority) follow its event in the same
    commit: the system's events at the same instant, up to the next step.
    """
    found: list[tuple[Escalated, Ticket]] = []
    ticket: Ticket | None = None
    step: Escalated | None = None
    for event in history:
        if step is not None and (
            isinstance(event, Escalated) or event.by != step.by or event.at != step.at
        ):
            assert ticket is not None
            found.append((step, ticket))
            step = None
        ticket = apply(ticket, event)
        if isinstance(event, Escalated):
            step = event
    if step is not None:
        assert ticket is not None
        found.append((step, ticket))
    return found


def run_escalation_demo(
    desk: Desk | None = None, *, clock: ManualClock | None = None
) -> list[EscalationRow]:
    """Let one high-priority ticket breach its resolution target, and escalate.

    ``desk`` must be built like :func:`escalation_desk` (a fresh in-memory one
    by default) on ``clock``; the clock is set to :data:`ESCALATION_START`, so
    it must not be later than that. A busy ticket for lea comes first; at
    09:00 the front line (ann) takes "Core switch drops packets" and answers
    it, and nobody resolves it. Every :data:`ESCALATION_TICK` until
    :data:`ESCALATION_END` a worker tick calls ``desk.run_due(now=...)``.

    Returns one row per escalation step fired on the ticket, in firing order.
    """
    clock = clock or ManualClock(ESCALATION_START)
    desk = desk or escalation_desk(clock)
    zone = DEMO_SLA.calendar.zone if DEMO_SLA.calendar is not None else UTC
    ann, kim = Actor.agent("ann", groups=["service-desk"]), Actor.agent("kim", tier="senior")
    levels = dict(enumerate(ESCALATION_POLICY.levels, start=1))
    tickets: dict[str, Ticket] = {}

    def open_busy() -> None:
        # lea already holds a ticket, so least-loaded picks omar over her.
        tickets["busy"] = desk.open_ticket(
            subject="Firewall rule review",
            requester="carol@example.com",
            channel="email",
            priority="low",
            group="network",
            assignee="lea",
            by=kim,
        )

    def open_switch() -> None:
        tickets["switch"] = desk.open_ticket(
            subject="Core switch drops packets",
            requester="dave@example.com",
            channel="phone",
            priority="high",
            category="network",
            group="service-desk",
            assignee="ann",
            by=ann,
        )

    def answer() -> None:
        desk.reply(tickets["switch"].id, "We are looking at the switch now.", by=ann)

    script = {
        ESCALATION_START + timedelta(minutes=30): open_busy,
        ESCALATION_START + _H: open_switch,
        ESCALATION_START + _H + timedelta(minutes=10): answer,
    }
    ticks = int((ESCALATION_END - ESCALATION_START) / ESCALATION_TICK)
    instants = {ESCALATION_START + ESCALATION_TICK * n for n in range(ticks + 1)}
    rows: list[EscalationRow] = []
    for instant in sorted(instants | script.keys()):
        clock.set(instant)
        if instant in script:
            script[instant]()
        if instant not in instants:
            continue
        fired = desk.run_due(now=clock.now())  # one worker tick
        if "switch" not in tickets:
            continue
        switch_id = tickets["switch"].id
        steps = {t.key: t for t in fired if t.kind == "escalation" and t.ticket_id == switch_id}
        if not steps:
            continue
        for event, after in _steps_with_snapshots(desk.history(switch_id)):
            if event.step not in steps:
                continue
            supervisor = desk.directory.supervisor_of(agent=after.assignee, group=after.group)
            targets = tuple(
                f"supervisor={supervisor.id if supervisor else '-'}"
                if target == "supervisor"
                else target
                for target in event.targets
            )
            rows.append(
                EscalationRow(
                    level=event.level,
                    trigger=_describe(levels[event.level].trigger),
                    mode=event.mode,
                    due=steps[event.step].at.astimezone(zone),
                    fired=event.at.astimezone(zone),
                    targets=targets,
                    assignee=after.assignee,
                    group=after.group,
                    priority=after.priority.value,
                )
            )
    return rows


def format_escalation(rows: list[EscalationRow]) -> str:
    """The escalation steps as a plain-text table, times in the calendar's zone."""

    def when(at: datetime) -> str:
        return at.strftime("%a %H:%M %Z")

    header = (
        "level", "trigger", "due", "fired", "mode", "targets", "assignee", "group", "priority",
    )  # fmt: skip
    body = [
        (
            str(r.level),
            r.trigger,
            when(r.due),
            when(r.fired),
            r.mode,
            ", ".join(r.targets),
            r.assignee or "-",
            r.group or "-",
            r.priority,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
