"""Load a lifecycle from TOML with a custom guard, and drive a change request through it.

Run: python examples/custom_lifecycle.py
"""

from datetime import UTC, datetime
from pathlib import Path

from supportflow import Actor, Desk, InvalidTransition, Lifecycle, ManualClock


def in_change_window(context):
    """Changes may only be implemented between 18:00 and 06:00 UTC."""
    if 6 <= context.at.hour < 18:
        return "changes run in the 18:00-06:00 UTC window; wait_for_window first"
    return None


toml = (Path(__file__).parent / "it_lifecycle.toml").read_text()
lifecycle = Lifecycle.from_toml(toml, guards={"in_change_window": in_change_window})
print(lifecycle.to_mermaid())

clock = ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
desk = Desk(lifecycle=lifecycle, clock=clock)
sam, ann = Actor.supervisor("sam"), Actor.agent("ann")

change = desk.open_ticket(subject="Upgrade the core switch", requester="ops@example.com", by=ann)
desk.transition(change.id, "approve", by=sam)
desk.assign(change.id, ann, by=sam)
try:
    desk.transition(change.id, "implement", by=ann)
except InvalidTransition as error:
    print("refused:", error)

desk.transition(change.id, "wait_for_window", by=ann)
clock.set(datetime(2026, 3, 2, 22, 0, tzinfo=UTC))
desk.transition(change.id, "implement", by=ann)
change = desk.transition(change.id, "finish", by=ann, resolution="Switch upgraded to 17.3.")
print(f"{change.subject}: {change.state} (version {change.version})")
