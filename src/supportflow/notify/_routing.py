"""Routing: which event notifies whom, on which channel, in which language.

A :class:`Route` says "on these events, tell these people". The router turns
an event and the ticket it belongs to into :class:`~supportflow.notify.Recipient`
records, looking people up in a :class:`~supportflow.Directory`:

- ``requester``: the customer who opened the ticket, on their preferred
  channel (an id that is an e-mail address needs no directory entry);
- ``assignee``: the agent the ticket is assigned to;
- ``group``: the group's shared address;
- ``supervisor``: the assignee's supervisor, else the group's;
- ``watchers``: the ids in the ticket's ``watchers`` field;
- ``channel:address``: a fixed address (``"webhook:https://hooks.example.com/desk"``).

Two rules hold whatever the routes say: a customer never receives an internal
note (nor the ticket's custom fields, which are internal), and nobody is told
about what they did themselves (except the acknowledgement of their own
request).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen

from supportflow._directory import Directory
from supportflow._model import Role, Ticket
from supportflow.errors import ConfigError
from supportflow.events import CommentAdded, Event, PriorityChanged, TicketOpened, Transitioned
from supportflow.notify._model import Notification, Recipient

__all__ = ["DEFAULT_ROUTES", "Route", "Router", "Target", "trigger_of"]

_PEOPLE = frozenset({"requester", "assignee", "group", "supervisor", "watchers"})


def _names(value: Iterable[str] | str) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


@frozen
class Route:
    """On any of the triggers ``on``, notify everyone in ``to``.

    A trigger is an event kind (``"opened"``, ``"commented"``, ``"assigned"``,
    ``"priority_changed"``, ``"merged"``, ``"escalated"``, ...) or a transition
    into a state: ``"transitioned:resolved"``. ``to`` holds ``requester``,
    ``assignee``, ``group``, ``supervisor``, ``watchers`` or a fixed
    ``"channel:address"``. ``channel`` forces a channel instead of each
    recipient's preferred one.

    >>> Route(on="transitioned:resolved", to="requester").matches("transitioned:resolved")
    True
    """

    on: frozenset[str] = field(converter=_names)
    to: frozenset[str] = field(converter=_names)
    channel: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.on:
            raise ConfigError("a route needs at least one trigger in on=")
        if not self.to:
            raise ConfigError("a route needs at least one recipient in to=")
        for target in self.to:
            if target not in _PEOPLE and ":" not in target:
                raise ConfigError(
                    f"unknown route recipient {target!r}; use one of "
                    f"{', '.join(sorted(_PEOPLE))} or 'channel:address'"
                )

    def matches(self, trigger: str) -> bool:
        """Whether this route fires for ``trigger`` (or its unqualified kind)."""
        return trigger in self.on or trigger.split(":", 1)[0] in self.on


#: What a desk notifies out of the box: the requester when their request is
#: received, answered, waiting on them, resolved or closed; the assignee on
#: assignment; the supervisor on escalation; watchers on public replies.
DEFAULT_ROUTES: tuple[Route, ...] = (
    Route(
        on={
            "opened",
            "commented",
            "transitioned:waiting_on_customer",
            "transitioned:resolved",
            "transitioned:closed",
        },
        to="requester",
    ),
    Route(on="assigned", to="assignee"),
    Route(on="escalated", to={"supervisor", "assignee"}),
    Route(on="commented", to="watchers"),
)


def trigger_of(event: Event) -> str:
    """The routing trigger of ``event``: its kind, qualified by the target state
    for a transition (``"transitioned:resolved"``)."""
    if isinstance(event, Transitioned):
        return f"transitioned:{event.dest}"
    return event.kind


@frozen
class Target:
    """A recipient the router found, with the template key to render for them."""

    recipient: Recipient
    template: str


def check_routes(routes: Iterable[Route]) -> tuple[Route, ...]:
    found = tuple(routes)
    for route in found:
        if not isinstance(route, Route):
            raise ConfigError(f"routes must be Route objects, got {route!r}")
    return found


@frozen
class Router:
    """Turns an event into the recipients it should reach (see the module docs)."""

    routes: tuple[Route, ...] = field(default=DEFAULT_ROUTES, converter=check_routes)
    directory: Directory = field(factory=Directory)
    default_language: str | None = None

    def targets(self, event: Event, ticket: Ticket) -> list[Target]:
        """The recipients of ``event`` on ``ticket``, each once, in route order."""
        trigger = trigger_of(event)
        internal_only = isinstance(event, CommentAdded) and not event.public
        found: dict[tuple[str, str], Target] = {}
        for route in self.routes:
            if not route.matches(trigger):
                continue
            for target in sorted(route.to):
                for recipient in self._people(target, ticket, route.channel):
                    if internal_only and not recipient.internal:
                        continue  # customers never see internal notes
                    if _is_actor(recipient, target, event, ticket):
                        continue  # nobody is told about what they did themselves
                    key = (recipient.channel, recipient.address)
                    found.setdefault(key, Target(recipient, trigger))
        return list(found.values())

    def _people(self, target: str, ticket: Ticket, channel: str | None) -> Iterable[Recipient]:
        directory = self.directory
        if target == "requester":
            person = self._customer(ticket.requester, "requester", channel)
            return [] if person is None else [person]
        if target == "assignee":
            person = (
                None
                if ticket.assignee is None
                else self._staff(ticket.assignee, "assignee", channel)
            )
            return [] if person is None else [person]
        if target == "supervisor":
            boss = directory.supervisor_of(agent=ticket.assignee, group=ticket.group)
            person = None if boss is None else self._staff(boss.id, "supervisor", channel)
            return [] if person is None else [person]
        if target == "group":
            group = None if ticket.group is None else directory.groups.get(ticket.group)
            if group is None or group.email is None:
                return []
            return [Recipient(group.email, channel or "email", "group", group.name, None, True)]
        if target == "watchers":
            watchers = ticket.fields.get("watchers") or ()
            people = []
            for watcher in watchers if isinstance(watchers, list | tuple) else ():
                person = (
                    self._staff(str(watcher), "watcher", channel)
                    if str(watcher) in directory.agents
                    else self._customer(str(watcher), "watcher", channel)
                )
                if person is not None:
                    people.append(person)
            return people
        fixed_channel, address = target.split(":", 1)
        return [Recipient(address, fixed_channel, "subscriber", None, None, True)]

    def _customer(self, person_id: str, role: str, channel: str | None) -> Recipient | None:
        customer = self.directory.customer(person_id)
        if customer is None:
            wanted = channel or "email"
            address = person_id if wanted == "email" and "@" in person_id else None
            if address is None:
                return None
            return Recipient(address, wanted, role, None, self.default_language, False)
        wanted = channel or customer.preferred_channel
        address = customer.contacts.get(wanted)
        if address is None and wanted == "email" and "@" in customer.id:
            address = customer.id
        if address is None:
            return None
        language = customer.language or self.default_language
        return Recipient(address, wanted, role, customer.name, language, False)

    def _staff(self, person_id: str, role: str, channel: str | None) -> Recipient | None:
        agent = self.directory.agent(person_id)
        wanted = channel or "email"
        if agent is None:
            address = person_id if wanted == "email" and "@" in person_id else None
            name, language = None, self.default_language
        else:
            address = agent.contacts.get(wanted)
            if address is None and wanted == "email" and "@" in agent.id:
                address = agent.id
            name, language = agent.name, agent.language or self.default_language
        if address is None:
            return None
        return Recipient(address, wanted, role, name, language, True)


def _is_actor(recipient: Recipient, target: str, event: Event, ticket: Ticket) -> bool:
    actor = event.by
    if actor.role is Role.SYSTEM or isinstance(event, TicketOpened):
        return False  # the acknowledgement of a request goes to the one who made it
    if target == "requester":
        return actor.id == ticket.requester
    if target == "assignee":
        return actor.id == ticket.assignee
    return actor.id == recipient.address


def notification_id(outbox_id: int, recipient: Recipient) -> str:
    """A stable id for the notification of outbox row ``outbox_id`` to ``recipient``.

    Sortable by outbox id, and the same on every expansion of that row, so a
    receiver can deduplicate on it.
    """
    digest = hashlib.sha256(f"{recipient.channel}\x00{recipient.address}".encode()).hexdigest()
    return f"sf-{outbox_id:012d}-{digest[:12]}"


def context_of(
    event: Event, ticket: Ticket, recipient: Recipient, ticket_url: str | None
) -> dict[str, Any]:
    """The template context for ``recipient`` (see ``CONTEXT_NAMES`` in the templates)."""
    context: dict[str, Any] = {
        "ticket_id": ticket.id,
        "subject": ticket.subject,
        "state": ticket.state,
        "previous_state": event.source if isinstance(event, Transitioned) else ticket.state,
        "priority": ticket.priority.value,
        "previous_priority": (
            event.previous.value if isinstance(event, PriorityChanged) else ticket.priority.value
        ),
        "requester": ticket.requester,
        "assignee": ticket.assignee or "",
        "group": ticket.group or "",
        "event_kind": event.kind,
        "event_version": event.version,
        "at": event.at.isoformat(),
        "actor": event.by.name or event.by.id,
        "comment": event.body if isinstance(event, CommentAdded) and event.public else "",
        "reason": _reason(event),
        "recipient_name": recipient.name or "",
        "recipient_role": recipient.role,
        "language": recipient.language or "",
        "ticket_url": (ticket_url or "").replace("{id}", ticket.id),
    }
    return context


def _reason(event: Event) -> str:
    reason = getattr(event, "reason", None)
    if isinstance(reason, str):
        return reason
    data = getattr(event, "data", None)
    if isinstance(data, Mapping):
        for key in ("reason", "resolution"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return ""


def payload_of(event: Event, ticket: Ticket, recipient: Recipient) -> dict[str, Any]:
    """The JSON-ready data a webhook posts: staff see the ticket's fields, customers do not."""
    data: dict[str, Any] = {
        "ticket_id": ticket.id,
        "event": event.kind,
        "version": event.version,
        "at": event.at.isoformat(),
        "subject": ticket.subject,
        "state": ticket.state,
        "priority": ticket.priority.value,
    }
    if isinstance(event, Transitioned):
        data["from"] = event.source
        data["to"] = event.dest
    if isinstance(event, CommentAdded) and (event.public or recipient.internal):
        data["comment"] = event.body
        data["public"] = event.public
    if recipient.internal:
        data["requester"] = ticket.requester
        data["assignee"] = ticket.assignee
        data["group"] = ticket.group
        data["fields"] = _json_ready(dict(ticket.fields))
    return data


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def build(
    outbox_id: int,
    event: Event,
    ticket: Ticket,
    target: Target,
    subject: str,
    text: str,
    html: str | None,
) -> Notification:
    """The notification of ``event`` for ``target`` with its rendered parts."""
    recipient = target.recipient
    return Notification(
        id=notification_id(outbox_id, recipient),
        ticket_id=ticket.id,
        event_kind=event.kind,
        event_version=event.version,
        at=event.at,
        recipient=recipient,
        subject=subject,
        text=text,
        html=html,
        thread=ticket.id,
        data=payload_of(event, ticket, recipient),
    )
