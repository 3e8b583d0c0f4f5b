"""Open a ticket, work it through the standard lifecycle, and read its history.

Run: python examples/quickstart.py
"""

from datetime import UTC, datetime, timedelta

from supportflow import Actor, Desk, InvalidTransition, ManualClock

clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
desk = Desk(clock=clock)
ann = Actor.agent("ann")
alice = Actor.customer("alice@example.com")

ticket = desk.open_ticket(
    subject="VPN drops every ten minutes", requester=alice, channel="email", priority="high"
)
clock.advance(timedelta(minutes=12))
desk.reply(ticket.id, "Sorry about that, looking into it.", by=ann)  # acknowledges
desk.comment(ticket.id, "Probably the new gateway.", by=ann)  # internal note
desk.transition(ticket.id, "triage", by=ann)
desk.transition(ticket.id, "start", by=ann)

try:
    desk.transition(ticket.id, "close", by=ann)
except InvalidTransition as error:
    print("refused:", error)

clock.advance(timedelta(hours=2))
ticket = desk.transition(ticket.id, "resolve", by=ann, resolution="Lowered the tunnel MTU.")

print(f"\n{ticket.subject!r} is {ticket.state} after {ticket.version} events:")
for event in desk.history(ticket.id):
    detail = getattr(event, "dest", "") or getattr(event, "body", "")
    print(f"  v{event.version} {event.at:%H:%M} {event.by!s:<24} {event.kind:<13} {detail}")

print("\nWhat alice sees:")
for message in desk.view(ticket.id, as_actor=alice).messages:
    print(f"  {message.by}: {message.body}")
