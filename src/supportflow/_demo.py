"""A scripted day at a support desk, run on a manual clock.

Used by ``supportflow demo``; also a readable tour of the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import frozen

from supportflow._calendar import BusinessCalendar
from supportflow._desk import Desk
from supportflow._model import Actor, Ticket
from supportflow._sla import SLAPolicy
from supportflow._time import ManualClock
from supportflow.events import TicketOpened, Transitioned

__all__ = ["DemoRow", "format_table", "run_demo"]

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
