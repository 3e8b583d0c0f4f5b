"""Domain events: the frozen facts a ticket's history is made of.

A ticket *is* its history. Every command appends one or more events; the
:class:`~supportflow.Ticket` snapshot, and later its SLA clocks and timers, are
derived from them by pure functions (see :func:`apply` and :func:`replay`).
Event ``version`` numbers a ticket's events from 1 without gaps, so a ticket's
``version`` always equals the length of its history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from attrs import frozen

from supportflow._model import EMPTY_FIELDS, Actor, Channel, Priority, Role, Ticket

__all__ = [
    "Assigned",
    "CommentAdded",
    "Escalated",
    "Event",
    "FieldChanged",
    "Linked",
    "Merged",
    "PriorityChanged",
    "TicketOpened",
    "Transitioned",
    "apply",
    "replay",
]


# Events and snapshots are dict-backed rather than slotted: a frozen slotted
# attrs class pays one object.__setattr__ call per field in __init__, and these
# are built on every command (the benchmarks in docs/benchmarks.md show the gain).
@frozen(kw_only=True, slots=False)
class Event:
    """What every event records: which ticket, its position, when and by whom."""

    #: Short stable name of the event type, used in storage and notifications.
    kind: ClassVar[str] = "event"

    ticket_id: str
    version: int
    at: datetime
    by: Actor


@frozen(kw_only=True, slots=False)
class TicketOpened(Event):
    """A request arrived and became a ticket (always version 1)."""

    kind: ClassVar[str] = "opened"

    subject: str
    requester: str
    channel: Channel
    priority: Priority
    state: str
    description: str = ""
    category: str | None = None
    tags: tuple[str, ...] = ()
    assignee: str | None = None
    group: str | None = None
    fields: Mapping[str, Any] = EMPTY_FIELDS
    impact: str | None = None
    urgency: str | None = None


@frozen(kw_only=True, slots=False)
class CommentAdded(Event):
    """A message on the ticket: a public reply, or an internal note (``public=False``)."""

    kind: ClassVar[str] = "commented"

    body: str
    public: bool

    @property
    def is_response(self) -> bool:
        """A public message from staff (agent or supervisor), which is what response SLAs count."""
        return self.public and self.by.is_staff

    @property
    def is_customer_message(self) -> bool:
        """A public message from the customer."""
        return self.public and self.by.role is Role.CUSTOMER


@frozen(kw_only=True, slots=False)
class Transitioned(Event):
    """The ticket moved through its lifecycle by ``event`` from ``source`` to ``dest``.

    ``cause`` is ``None`` for an explicit command and names the reaction
    (``"reaction:customer_reply"``) when the desk fired it automatically.
    """

    kind: ClassVar[str] = "transitioned"

    event: str
    source: str
    dest: str
    data: Mapping[str, Any] = EMPTY_FIELDS
    cause: str | None = None


@frozen(kw_only=True, slots=False)
class Assigned(Event):
    """The ticket's assignee and/or group changed (``None`` means unassigned)."""

    kind: ClassVar[str] = "assigned"

    assignee: str | None
    group: str | None
    previous_assignee: str | None = None
    previous_group: str | None = None


@frozen(kw_only=True, slots=False)
class PriorityChanged(Event):
    """The ticket's priority changed."""

    kind: ClassVar[str] = "priority_changed"

    priority: Priority
    previous: Priority
    reason: str | None = None


@frozen(kw_only=True, slots=False)
class FieldChanged(Event):
    """A descriptive field changed: ``subject``, ``description``, ``category``,
    ``tags``, or a custom field (any other name)."""

    kind: ClassVar[str] = "field_changed"

    #: The built-in fields a FieldChanged may name; any other name is a custom field.
    BUILTIN: ClassVar[frozenset[str]] = frozenset({"subject", "description", "category", "tags"})

    field: str
    value: Any
    previous: Any = None


@frozen(kw_only=True, slots=False)
class Merged(Event):
    """This ticket was merged into ticket ``into`` (recorded on the merged ticket)."""

    kind: ClassVar[str] = "merged"

    into: str


@frozen(kw_only=True, slots=False)
class Linked(Event):
    """This ticket was linked to ``other``; ``relation`` says how (``"related"``,
    ``"merged_from"``, ...)."""

    kind: ClassVar[str] = "linked"

    other: str
    relation: str


@frozen(kw_only=True, slots=False)
class Escalated(Event):
    """An escalation step fired (recorded by the desk's runner as the system actor).

    ``mode`` is ``"functional"`` (the ticket was handed to another group or
    tier) or ``"hierarchical"`` (people were told, nobody reassigned).
    ``step`` is the step's timer key, unique per ticket, clock, cycle, policy,
    level, pass, repeat and target version. ``targets`` names who or where it
    went (a group, an agent, ``"supervisor"``, a fixed address). Any changes
    the step made (an assignment, a priority) follow as their own events in the
    same commit.
    """

    kind: ClassVar[str] = "escalated"

    policy: str
    level: int
    loop: int
    repeat: int
    mode: str
    metric: str
    cycle: int
    step: str
    targets: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


def _with_fields(fields: Mapping[str, Any], name: str, value: Any) -> Mapping[str, Any]:
    updated = dict(fields)
    if value is None:
        updated.pop(name, None)
    else:
        updated[name] = value
    return MappingProxyType(updated) if updated else EMPTY_FIELDS


def apply(ticket: Ticket | None, event: Event) -> Ticket:
    """Return the snapshot that results from applying ``event`` to ``ticket``.

    A pure function: ``ticket`` is not modified. ``ticket`` is ``None`` only for
    the :class:`TicketOpened` event that starts a history.

    Raises:
        ValueError: the event does not follow the ticket (wrong id or version);
            this means a corrupted history, never bad user input.
    """
    if isinstance(event, TicketOpened):
        if ticket is not None or event.version != 1:
            raise ValueError(f"TicketOpened must start a history, got version {event.version}")
        opened: Ticket = object.__new__(Ticket)  # see _evolved: same shape, a third of the cost
        opened.__dict__.update(
            id=event.ticket_id,
            subject=event.subject,
            requester=event.requester,
            channel=event.channel,
            priority=event.priority,
            state=event.state,
            version=1,
            created_at=event.at,
            updated_at=event.at,
            description=event.description,
            category=event.category,
            tags=event.tags,
            assignee=event.assignee,
            group=event.group,
            fields=event.fields,
            merged_into=None,
        )
        return opened
    if ticket is None or event.version != ticket.version + 1 or event.ticket_id != ticket.id:
        where = "no ticket" if ticket is None else f"{ticket.id} at version {ticket.version}"
        raise ValueError(
            f"{type(event).__name__} for {event.ticket_id} version {event.version} "
            f"does not follow {where}"
        )
    changes: dict[str, Any] = {"version": event.version, "updated_at": event.at}
    if isinstance(event, Transitioned):
        changes["state"] = event.dest
    elif isinstance(event, Assigned):
        changes["assignee"] = event.assignee
        changes["group"] = event.group
    elif isinstance(event, PriorityChanged):
        changes["priority"] = event.priority
    elif isinstance(event, FieldChanged):
        if event.field in FieldChanged.BUILTIN:
            changes[event.field] = event.value
        else:
            changes["fields"] = _with_fields(ticket.fields, event.field, event.value)
    elif isinstance(event, Merged):
        changes["merged_into"] = event.into
    # CommentAdded and Linked change nothing but the version and the instant.
    return _evolved(ticket, changes)


def _evolved(ticket: Ticket, changes: dict[str, Any]) -> Ticket:
    """``attrs.evolve(ticket, **changes)`` at a third of the cost.

    This runs for every event of every command. Ticket is a dict-backed frozen
    class without validators or converters, so copying its instance dict is
    exactly what evolve would produce (a test holds the two equal).
    """
    new: Ticket = object.__new__(Ticket)
    values = new.__dict__
    values.update(ticket.__dict__)
    values.update(changes)
    return new


def replay(history: Iterable[Event]) -> Ticket | None:
    """Fold a whole history into its snapshot (``None`` for an empty history)."""
    ticket: Ticket | None = None
    for event in history:
        ticket = apply(ticket, event)
    return ticket
