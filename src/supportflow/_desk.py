"""The Desk: the service layer that turns commands into committed events.

Each command reads the ticket, checks the actor's rights, decides the events
with pure functions (the lifecycle, :func:`supportflow.events.apply`), commits
them with the new snapshot in one store commit, and only then calls the
plugin hooks. A command that raises has written nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

import attrs
from attrs import frozen

from supportflow._assign import AssignmentStrategy, Workload, strategy_named
from supportflow._assign import assign as choose_agent
from supportflow._calendar import BusinessCalendar
from supportflow._directory import Directory
from supportflow._escalation import (
    EscalationPolicy,
    Level,
    Mode,
    Step,
    escalation_timers,
    parse_step_key,
    raised,
)
from supportflow._followup import (
    FollowUp,
    Reminder,
    check_follow_ups,
    follow_up_timers,
    parse_follow_up_key,
)
from supportflow._lifecycle import Lifecycle
from supportflow._model import (
    EMPTY_FIELDS,
    Actor,
    Category,
    Channel,
    Priority,
    PriorityMatrix,
    Role,
    Ticket,
    new_ticket_id,
    repeated,
)
from supportflow._plugins import PluginHost
from supportflow._sla import STANDARD_METRICS, Metric, SLAPolicy, SLAProjection, SLAReport, Timer
from supportflow._stores import open_store
from supportflow._time import Clock, SystemClock, to_utc
from supportflow.errors import (
    ConcurrencyConflict,
    ConfigError,
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    StaleTimer,
    ValidationError,
)
from supportflow.events import (
    Assigned,
    CommentAdded,
    Escalated,
    Event,
    FieldChanged,
    Linked,
    Merged,
    PriorityChanged,
    TicketOpened,
    Transitioned,
    apply,
    replay,
)
from supportflow.lifecycles import standard
from supportflow.store import (
    Commit,
    IdempotencyRecord,
    MemoryStore,
    Store,
    TicketChange,
    TicketQuery,
    TimerClaim,
    check_limit,
)

__all__ = ["DEFAULT_TIMER_LEASE", "Desk", "TicketView"]

#: How long :meth:`Desk.run_due` holds a claimed timer before another runner
#: may take it over (renewed while a batch is worked on).
DEFAULT_TIMER_LEASE: Final = timedelta(minutes=5)

#: How many timers :meth:`Desk.run_due` claims at a time.
_DUE_BATCH: Final = 100


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset()

_log = logging.getLogger("supportflow.escalation")

#: Which hook each event type is announced through.
_HOOK_FOR: Mapping[type[Event], str] = {
    TicketOpened: "supportflow_ticket_opened",
    CommentAdded: "supportflow_ticket_commented",
    Transitioned: "supportflow_ticket_transitioned",
    Assigned: "supportflow_ticket_assigned",
    PriorityChanged: "supportflow_priority_changed",
    FieldChanged: "supportflow_ticket_updated",
    Merged: "supportflow_ticket_merged",
    Linked: "supportflow_ticket_linked",
    Escalated: "supportflow_escalated",
}

#: Link relations and the relation recorded on the other ticket.
LINK_RELATIONS: Mapping[str, str] = MappingProxyType(
    {
        "related": "related",
        "parent_of": "child_of",
        "child_of": "parent_of",
        "duplicate_of": "duplicated_by",
        "duplicated_by": "duplicate_of",
        "blocks": "blocked_by",
        "blocked_by": "blocks",
    }
)

_CUSTOMER_VISIBLE: tuple[type[Event], ...] = (TicketOpened, Transitioned, Merged)

#: The event kinds a desk with ``outbox=True`` writes to the outbox.
OUTBOX_KINDS: frozenset[str] = frozenset(
    {"opened", "commented", "transitioned", "assigned", "priority_changed", "merged", "escalated"}
)

_C = TypeVar("_C", bound=Callable[..., Any])


def _retried(command: _C) -> _C:
    """Re-run ``command`` from a fresh read when it loses a concurrency race.

    Safe because every command decides from what it reads: a retry sees the
    winner's changes and decides again (and may then be refused, say with
    InvalidTransition, exactly as if it had come second).
    """

    @functools.wraps(command)
    def retrying(self: Desk, *args: Any, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                return command(self, *args, **kwargs)
            except ConcurrencyConflict:
                if attempt >= self.retries:
                    raise
                attempt += 1

    return cast(_C, retrying)


@frozen
class _SLAGeneration:
    """One version of a desk's SLA rules: its policies and default calendar."""

    policies: tuple[SLAPolicy, ...]
    calendar: BusinessCalendar
    escalations: tuple[EscalationPolicy, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()


@frozen
class TicketView:
    """A ticket as one audience may see it (see :meth:`Desk.view`).

    For a customer, ``events`` holds only what the customer may see (the
    opening, public messages, state changes, merges) and the snapshot carries
    no custom fields; staff see everything.
    """

    ticket: Ticket
    events: tuple[Event, ...]
    audience: Role

    @property
    def messages(self) -> tuple[CommentAdded, ...]:
        """The comments in this view, oldest first."""
        return tuple(e for e in self.events if isinstance(e, CommentAdded))


class Desk:
    """A support desk: open tickets, reply, move them through their lifecycle.

    Args:
        store: where tickets live: a :class:`~supportflow.store.Store`, or a
            URL (``"memory://"``, ``"sqlite:///desk.db"``,
            ``"postgresql://user@host/db"``, or a scheme a plugin registers);
            in memory by default.
        lifecycle: the ticket lifecycle; :func:`supportflow.lifecycles.standard`
            by default.
        clock: where "now" comes from; :class:`~supportflow.SystemClock` by default.
        plugins: plugin objects or modules with ``@hookimpl`` functions.
        load_entry_points: also load plugins published under the
            ``supportflow`` entry-point group (unless the environment variable
            ``SUPPORTFLOW_DISABLE_PLUGIN_AUTOLOAD`` is set).
        priority_matrix: derives a priority from impact × urgency.
        default_priority: the priority of a ticket opened without one.
        sla: SLA policies, in order; the first that applies to a ticket is in
            force. None by default: no clocks are kept.
        outbox: write the notification-worthy events of every command to the
            store's outbox in the same transaction, for notifiers to deliver.
            Off by default (nothing would drain it).
        retries: how many times a command that lost an optimistic-concurrency
            race is re-run from a fresh read before
            :class:`~supportflow.errors.ConcurrencyConflict` reaches the caller.
        calendar: the business hours of policies that name no calendar of
            their own (24×7 UTC by default).
        metrics: the SLA clocks to keep (the four standard ones by default).
        escalation: escalation policies, in order (see
            :class:`~supportflow.EscalationPolicy`).
        directory: customers, organisations, agents and groups, for routing,
            escalation and notifications.
        assign_on_open: an assignment strategy (or the name of a shipped one:
            ``"round_robin"``, ``"least_loaded"``, ``"skills"``) that picks an
            agent of the group for a ticket opened with a group and no
            assignee, recorded as an ``Assigned`` event by the ``system``.
            Round-robin turns are kept per desk object.
        follow_ups: :class:`~supportflow.AutoClose` and
            :class:`~supportflow.Reminder` rules: close resolved tickets after a
            quiet period, remind customers whose tickets wait on them.
        timer_attempts: how many times :meth:`run_due` claims a timer whose
            handling keeps raising before it records it as fired and gives up.

    Example:
        >>> from datetime import datetime, UTC
        >>> from supportflow import Actor, Desk, ManualClock
        >>> desk = Desk(clock=ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
        >>> ann = Actor.agent("ann")
        >>> t = desk.open_ticket(subject="Printer on fire", requester="bob@example.com",
        ...                      priority="P2", channel="phone")
        >>> t = desk.reply(t.id, "On my way.", by=ann)   # the first reply acknowledges
        >>> t.state
        'acknowledged'
        >>> t = desk.transition(t.id, "resolve", by=ann, resolution="Extinguished.")
        >>> [e.kind for e in desk.history(t.id)]
        ['opened', 'commented', 'transitioned', 'transitioned']
    """

    def __init__(
        self,
        *,
        store: Store | str | None = None,
        lifecycle: Lifecycle | None = None,
        clock: Clock | None = None,
        plugins: Iterable[object] = (),
        load_entry_points: bool = True,
        priority_matrix: PriorityMatrix | None = None,
        default_priority: Priority | str = Priority.MEDIUM,
        sla: Iterable[SLAPolicy] = (),
        calendar: BusinessCalendar | None = None,
        metrics: Iterable[Metric] = STANDARD_METRICS,
        outbox: bool = False,
        retries: int = 3,
        escalation: Iterable[EscalationPolicy] = (),
        directory: Directory | None = None,
        follow_ups: Iterable[FollowUp] = (),
        timer_attempts: int = 5,
        assign_on_open: AssignmentStrategy | str | None = None,
    ) -> None:
        self.plugins = PluginHost(plugins, load_entry_points=load_entry_points)
        if isinstance(store, str):
            store = open_store(store, self.plugins.store_offers())
        self.store: Store = store if store is not None else MemoryStore()
        self.lifecycle: Lifecycle = lifecycle if lifecycle is not None else standard()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.priority_matrix = priority_matrix or PriorityMatrix.default()
        try:
            self.default_priority = Priority.parse(default_priority)
        except ValidationError as exc:
            raise ConfigError(f"default_priority: {exc}") from None
        if not isinstance(self.lifecycle, Lifecycle):
            raise ConfigError(
                f"lifecycle must be a Lifecycle (e.g. supportflow.lifecycles.standard()), "
                f"got {self.lifecycle!r}"
            )
        self.metrics: tuple[Metric, ...] = tuple(metrics)
        self.outbox = outbox
        if not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"retries must be a whole number of at least 0, got {retries!r}")
        self.retries = retries
        if not isinstance(timer_attempts, int) or timer_attempts < 1:
            raise ConfigError(
                f"timer_attempts must be a whole number of at least 1, got {timer_attempts!r}"
            )
        self.timer_attempts = timer_attempts
        self.assign_on_open: AssignmentStrategy | None = None
        if isinstance(assign_on_open, str):
            self.assign_on_open = strategy_named(assign_on_open)
        elif assign_on_open is not None:
            if not isinstance(assign_on_open, AssignmentStrategy):
                raise ConfigError(
                    f"assign_on_open takes an assignment strategy or the name of one, "
                    f"got {assign_on_open!r}"
                )
            self.assign_on_open = assign_on_open
        self._last_assigned: dict[str, str] = {}  # group -> agent, for round-robin turns
        # SLA policies and the default calendar, by generation: tickets whose
        # targets were kept across an edit (set_sla(..., open_tickets="keep")),
        # and closed tickets, still follow the generation they had.
        self._policy_sets: dict[int, _SLAGeneration] = {}
        self._generation = 0
        self.directory: Directory = directory if directory is not None else Directory()
        if not isinstance(self.directory, Directory):
            raise ConfigError(f"directory must be a supportflow.Directory, got {directory!r}")
        self._install_policies(
            tuple(sla),
            calendar if calendar is not None else BusinessCalendar.always("UTC"),
            tuple(escalation),
            tuple(follow_ups),
        )

    def __repr__(self) -> str:
        return f"<Desk lifecycle={self.lifecycle.name!r} store={self.store!r}>"

    # -- commands -------------------------------------------------------------------

    def open_ticket(
        self,
        *,
        subject: str,
        requester: str | Actor,
        priority: Priority | str | None = None,
        channel: Channel | str = Channel.WEB,
        description: str = "",
        category: str | None = None,
        tags: Iterable[str] = (),
        group: str | None = None,
        assignee: str | Actor | None = None,
        impact: str | None = None,
        urgency: str | None = None,
        by: Actor | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Ticket:
        """Open a ticket for ``requester`` and return it.

        Args:
            subject: a one-line summary (required, non-empty).
            requester: the customer's id (e.g. e-mail address) or a customer Actor.
            priority: a :class:`Priority`, its name, or ``P1`` to ``P4``. Give
                either this or ``impact`` and ``urgency``, which the desk's
                priority matrix turns into a priority. Neither: the default.
            channel: where the request came in (``email``, ``phone``, ...).
            description, category, tags, group, assignee: as on :class:`Ticket`.
            impact, urgency: ITIL levels (``high``, ``medium``, ``low`` with the
                default matrix), given together instead of ``priority``.
            by: who opens it; the requester as a customer by default. A
                customer may only open tickets for themselves.
            idempotency_key: a retry with the same key and arguments returns the
                first ticket instead of opening another.
            **fields: custom fields. When the desk's directory lists the
                requester, ``organization`` and ``tier`` are filled from it
                (unless given), so SLA and escalation conditions such as
                ``Match(tier="vip")`` can use them.

        Raises:
            ValidationError: a value is malformed (empty subject, unknown priority or
                channel, priority given together with impact/urgency).
            PermissionDenied: a customer opening a ticket for somebody else.
            IdempotencyConflict: the key was used for a different command.
        """
        requester_id = _requester_id(requester)
        actor = Actor.customer(requester_id) if by is None else _check_actor(by)
        if actor.role is Role.CUSTOMER and actor.id != requester_id:
            raise PermissionDenied(
                f"{actor} may not open a ticket for {requester_id!r}; customers open "
                "tickets for themselves (staff may open them for anyone)"
            )
        subject = _text(subject, "subject")
        resolved_priority, impact, urgency = self._decide_priority(priority, impact, urgency)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = _fingerprint(
                "open_ticket",
                subject=subject,
                requester=requester_id,
                priority=resolved_priority.value,
                channel=str(channel),
                description=description,
                category=category,
                tags=sorted(tags),
                group=group,
                assignee=_assignee_id(assignee),
                by=str(actor),
                fields=fields,
            )
            first = self._replay_result(idempotency_key, fingerprint)
            if first is not None:
                return first
        at = self._now()
        ticket_id = new_ticket_id(at)
        event = TicketOpened(
            ticket_id=ticket_id,
            version=1,
            at=at,
            by=actor,
            subject=subject,
            requester=requester_id,
            channel=Channel.parse(channel),
            priority=resolved_priority,
            state=self.lifecycle.initial,
            description=_text(description, "description", allow_empty=True),
            category=category,
            tags=_tags(tags),
            assignee=_assignee_id(assignee),
            group=group,
            fields=_custom_fields(self._with_customer(requester_id, fields)),
            impact=impact,
            urgency=urgency,
        )
        ticket = apply(None, event)
        routed = self._route_on_open(ticket)
        if routed is None:
            return self._commit_one(ticket, 0, (event,), idempotency_key, fingerprint)
        opened = self._commit_one(
            apply(ticket, routed), 0, (event, routed), idempotency_key, fingerprint
        )
        if routed.group is not None and routed.assignee is not None:
            self._last_assigned[routed.group] = routed.assignee
        return opened

    def _route_on_open(self, ticket: Ticket) -> Assigned | None:
        """The ``system``'s assignment of a new ticket with a group and no assignee
        to an agent of the group (``None``: no strategy, or nobody eligible)."""
        group = ticket.group
        if self.assign_on_open is None or ticket.assignee is not None or group is None:
            return None
        agent = choose_agent(
            ticket,
            self.directory,
            self.assign_on_open,
            group=group,
            now=ticket.created_at,
            workload=self._workload(group),
            last_assigned=self._last_assigned.get(group),
        )
        if agent is None:
            return None
        return Assigned(
            ticket_id=ticket.id,
            version=ticket.version + 1,
            at=ticket.created_at,
            by=Actor.system(),
            assignee=agent.id,
            group=group,
            previous_assignee=None,
            previous_group=group,
        )

    @_retried
    def reply(self, ticket_id: str, body: str, *, by: Actor) -> Ticket:
        """Add a public message to the ticket, visible to the customer.

        From staff it is a response to the customer; from the requester it is
        a customer message. The lifecycle's reactions may move the ticket in
        the same command: with the standard lifecycle an agent's first reply
        acknowledges a new ticket, and a customer reply resumes a ticket
        waiting on the customer or reopens a resolved one.

        Raises:
            NotFound: no such ticket, or a customer replying on someone else's.
            InvalidTransition: the ticket is closed; open a follow-up instead.
            ValidationError: ``body`` is empty.
        """
        return self._comment(ticket_id, body, by, public=True)

    @_retried
    def comment(self, ticket_id: str, body: str, *, by: Actor, public: bool = False) -> Ticket:
        """Add an internal note (or, with ``public=True``, the same as :meth:`reply`).

        Internal notes are never shown to customers and never count as a
        response. Customers cannot write internal notes.

        Raises:
            PermissionDenied: a customer writing an internal note.
        """
        return self._comment(ticket_id, body, by, public=public)

    def _comment(self, ticket_id: str, body: str, by: Actor, *, public: bool) -> Ticket:
        actor = _check_actor(by)
        if not public and actor.role is Role.CUSTOMER:
            raise PermissionDenied(
                f"{actor} may not add internal notes; customers reply publicly with reply()"
            )
        body = _text(body, "body")
        ticket = self._load(ticket_id, actor)
        self._refuse_if_closed(ticket, "reply to")
        at = self._now()
        comment = CommentAdded(
            ticket_id=ticket.id,
            version=ticket.version + 1,
            at=at,
            by=actor,
            body=body,
            public=public,
        )
        after = apply(ticket, comment)
        events: list[Event] = [comment]
        reaction = _reply_kind(comment, ticket)
        if reaction is not None:
            event = self.lifecycle.reaction(reaction, after.state)
            if event is not None:
                try:
                    dest = self.lifecycle.fire(
                        after, event, actor, EMPTY_FIELDS, at=at, check_rights=False
                    )
                except InvalidTransition:
                    dest = None  # a guard declined: keep the reply, leave the state alone
                if dest is not None:
                    moved = Transitioned(
                        ticket_id=ticket.id,
                        version=after.version + 1,
                        at=at,
                        by=actor,
                        event=event,
                        source=after.state,
                        dest=dest,
                        cause=f"reaction:{reaction}",
                    )
                    after = apply(after, moved)
                    events.append(moved)
        return self._commit_one(after, ticket.version, tuple(events))

    @_retried
    def transition(
        self,
        ticket_id: str,
        event: str,
        *,
        by: Actor,
        idempotency_key: str | None = None,
        **data: Any,
    ) -> Ticket:
        """Fire lifecycle ``event`` on the ticket and return the new snapshot.

        ``data`` is passed to the transition's guards and recorded with it
        (``resolution="..."`` for ``resolve``, ``reason="..."`` for ``cancel``).

        Raises:
            InvalidTransition: the event is unknown, not possible from the
                ticket's state (the message lists what is), or refused by a guard.
            PermissionDenied: the actor's role may not fire it.
            NotFound: no such ticket, or a customer acting on someone else's.
            IdempotencyConflict: the key was used for a different command.
        """
        actor = _check_actor(by)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = _fingerprint(
                "transition", ticket_id=ticket_id, event=event, by=str(actor), data=data
            )
            first = self._replay_result(idempotency_key, fingerprint)
            if first is not None:
                return first
        ticket = self._load(ticket_id, actor)
        moved = self._moved(ticket, event, actor, data, self._now())
        return self._commit_one(
            apply(ticket, moved), ticket.version, (moved,), idempotency_key, fingerprint
        )

    def _moved(
        self, ticket: Ticket, event: str, actor: Actor, data: Mapping[str, Any], at: datetime
    ) -> Transitioned:
        """The Transitioned event of ``event`` fired on ``ticket`` by ``actor``.

        Raises:
            InvalidTransition, PermissionDenied: as :meth:`Lifecycle.fire
                <supportflow.Lifecycle.fire>` decides.
        """
        dest = self.lifecycle.fire(ticket, event, actor, data, at=at)
        return Transitioned(
            ticket_id=ticket.id,
            version=ticket.version + 1,
            at=at,
            by=actor,
            event=event,
            source=ticket.state,
            dest=dest,
            data=MappingProxyType(dict(data)) if data else EMPTY_FIELDS,
        )

    @_retried
    def assign(
        self,
        ticket_id: str,
        assignee: str | Actor | _Unset | None = _UNSET,
        *,
        group: str | _Unset | None = _UNSET,
        by: Actor,
    ) -> Ticket:
        """Set the ticket's assignee and/or group (``None`` clears it).

        Assigning what is already assigned changes nothing and records nothing.

        Raises:
            PermissionDenied: customers cannot assign.
            InvalidTransition: the ticket is closed.
            ValidationError: neither ``assignee`` nor ``group`` was given.
        """
        actor = self._staff(by, "assign tickets")
        if isinstance(assignee, _Unset) and isinstance(group, _Unset):
            raise ValidationError("assign() needs an assignee, a group, or both")
        ticket = self._load(ticket_id, actor)
        self._refuse_if_closed(ticket, "assign")
        new_assignee = ticket.assignee if isinstance(assignee, _Unset) else _assignee_id(assignee)
        new_group = ticket.group if isinstance(group, _Unset) else group
        if new_assignee == ticket.assignee and new_group == ticket.group:
            return ticket
        event = Assigned(
            ticket_id=ticket.id,
            version=ticket.version + 1,
            at=self._now(),
            by=actor,
            assignee=new_assignee,
            group=new_group,
            previous_assignee=ticket.assignee,
            previous_group=ticket.group,
        )
        return self._commit_one(apply(ticket, event), ticket.version, (event,))

    @_retried
    def set_priority(
        self, ticket_id: str, priority: Priority | str, *, by: Actor, reason: str | None = None
    ) -> Ticket:
        """Change the ticket's priority (a no-op if it already has it).

        Raises:
            ValidationError: unknown priority.
            PermissionDenied: customers cannot change priorities.
            InvalidTransition: the ticket is closed.
        """
        actor = self._staff(by, "change priorities")
        new = Priority.parse(priority)
        ticket = self._load(ticket_id, actor)
        self._refuse_if_closed(ticket, "re-prioritise")
        if new is ticket.priority:
            return ticket
        event = PriorityChanged(
            ticket_id=ticket.id,
            version=ticket.version + 1,
            at=self._now(),
            by=actor,
            priority=new,
            previous=ticket.priority,
            reason=reason,
        )
        return self._commit_one(apply(ticket, event), ticket.version, (event,))

    @_retried
    def update(
        self,
        ticket_id: str,
        *,
        by: Actor,
        subject: str | _Unset = _UNSET,
        description: str | _Unset = _UNSET,
        category: str | _Unset | None = _UNSET,
        tags: Iterable[str] | _Unset = _UNSET,
        **fields: Any,
    ) -> Ticket:
        """Change descriptive fields; a custom field set to ``None`` is removed.

        One :class:`~supportflow.events.FieldChanged` is recorded per field
        that actually changes, all in one command.

        Raises:
            PermissionDenied: customers cannot edit tickets.
            InvalidTransition: the ticket is closed.
            ValidationError: an empty subject.
        """
        actor = self._staff(by, "edit tickets")
        ticket = self._load(ticket_id, actor)
        self._refuse_if_closed(ticket, "edit")
        wanted: dict[str, Any] = {}
        if not isinstance(subject, _Unset):
            wanted["subject"] = _text(subject, "subject")
        if not isinstance(description, _Unset):
            wanted["description"] = _text(description, "description", allow_empty=True)
        if not isinstance(category, _Unset):
            wanted["category"] = category
        if not isinstance(tags, _Unset):
            wanted["tags"] = _tags(tags)
        _custom_fields(fields)  # validates the names
        wanted.update(fields)
        at = self._now()
        events: list[Event] = []
        current = ticket
        for name, value in wanted.items():
            previous = (
                getattr(current, name) if name in FieldChanged.BUILTIN else current.fields.get(name)
            )
            if value == previous:
                continue
            change = FieldChanged(
                ticket_id=ticket.id,
                version=current.version + 1,
                at=at,
                by=actor,
                field=name,
                value=value,
                previous=previous,
            )
            current = apply(current, change)
            events.append(change)
        if not events:
            return ticket
        return self._commit_one(current, ticket.version, tuple(events))

    @_retried
    def merge(self, ticket_id: str, into: str, *, by: Actor) -> Ticket:
        """Merge ticket ``ticket_id`` into ticket ``into``; return the surviving ticket.

        The merged ticket fires the lifecycle's ``merge_event`` (it ends in a
        closed state) and records :class:`~supportflow.events.Merged`; the
        surviving ticket records a ``merged_from`` :class:`~supportflow.events.Linked`.
        Both change in one atomic commit.

        Raises:
            ConfigError: the lifecycle defines no merge event.
            InvalidTransition: merging a ticket into itself or into a closed ticket,
                or a state the merge event is not possible from.
            PermissionDenied: the actor's role may not merge.
        """
        actor = _check_actor(by)
        event = self.lifecycle.merge_event
        if event is None:
            raise ConfigError(
                f"lifecycle {self.lifecycle.name!r} has no merge_event; define one to merge tickets"
            )
        if ticket_id == into:
            raise InvalidTransition(f"cannot merge ticket {ticket_id} into itself")
        source = self._load(ticket_id, actor)
        target = self._load(into, actor)
        self._refuse_if_closed(target, "merge into")
        at = self._now()
        dest = self.lifecycle.fire(source, event, actor, {"into": into}, at=at)
        moved = Transitioned(
            ticket_id=source.id,
            version=source.version + 1,
            at=at,
            by=actor,
            event=event,
            source=source.state,
            dest=dest,
            data=MappingProxyType({"into": into}),
        )
        merged = Merged(ticket_id=source.id, version=source.version + 2, at=at, by=actor, into=into)
        link = Linked(
            ticket_id=target.id,
            version=target.version + 1,
            at=at,
            by=actor,
            other=source.id,
            relation="merged_from",
        )
        new_source = apply(apply(source, moved), merged)
        new_target = apply(target, link)
        self._commit(
            Commit(
                (
                    TicketChange(new_source, source.version, (moved, merged)),
                    TicketChange(new_target, target.version, (link,)),
                )
            )
        )
        return new_target

    @_retried
    def link(
        self, ticket_id: str, other_id: str, *, by: Actor, relation: str = "related"
    ) -> Ticket:
        """Link two tickets; both record the link (with the inverse relation on
        ``other_id``). Returns the first ticket.

        Relations: ``related``, ``parent_of``/``child_of``,
        ``duplicate_of``/``duplicated_by``, ``blocks``/``blocked_by``.

        Raises:
            ValidationError: an unknown relation, or linking a ticket to itself.
            PermissionDenied: customers cannot link tickets.
        """
        actor = self._staff(by, "link tickets")
        if relation not in LINK_RELATIONS:
            raise ValidationError(
                f"unknown link relation {relation!r}; use one of {', '.join(LINK_RELATIONS)}"
            )
        if ticket_id == other_id:
            raise ValidationError(f"cannot link ticket {ticket_id} to itself")
        first = self._load(ticket_id, actor)
        second = self._load(other_id, actor)
        at = self._now()
        forward = Linked(
            ticket_id=first.id,
            version=first.version + 1,
            at=at,
            by=actor,
            other=second.id,
            relation=relation,
        )
        backward = Linked(
            ticket_id=second.id,
            version=second.version + 1,
            at=at,
            by=actor,
            other=first.id,
            relation=LINK_RELATIONS[relation],
        )
        new_first = apply(first, forward)
        self._commit(
            Commit(
                (
                    TicketChange(new_first, first.version, (forward,)),
                    TicketChange(apply(second, backward), second.version, (backward,)),
                )
            )
        )
        return new_first

    # -- reads ------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Ticket:
        """The ticket's current snapshot.

        Raises:
            NotFound: no such ticket.
        """
        ticket = self.store.load(ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id!r}; check the id (tickets are never deleted)")
        return ticket

    def history(self, ticket_id: str) -> tuple[Event, ...]:
        """Every event of the ticket, oldest first (``len == ticket.version``).

        Raises:
            NotFound: no such ticket.
        """
        events = tuple(self.store.history(ticket_id))
        if not events:
            raise NotFound(f"no ticket {ticket_id!r}; check the id (tickets are never deleted)")
        return events

    def tickets(
        self,
        *,
        state: str | Iterable[str] | None = None,
        category: Category | str | Iterable[Category | str] | None = None,
        assignee: str | Actor | None = None,
        requester: str | Actor | None = None,
        priority: Priority | str | None = None,
        group: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[Ticket]:
        """Tickets matching every given filter, oldest first.

        Args:
            state: a state name or several.
            category: a state category (``"waiting"``) or several.
            assignee, requester, priority, group: exact matches.
            limit, after: paging: at most ``limit`` tickets with ids after ``after``.

        Raises:
            ValidationError: an unknown state, category or priority.
        """
        states: set[str] | None = None
        if state is not None:
            states = {state} if isinstance(state, str) else set(state)
            unknown = states - set(self.lifecycle.state_names)
            if unknown:
                raise ValidationError(
                    f"unknown state(s) {', '.join(sorted(unknown))}; lifecycle "
                    f"{self.lifecycle.name!r} has {', '.join(self.lifecycle.state_names)}"
                )
        if category is not None:
            categories = [category] if isinstance(category, str | Category) else list(category)
            in_categories = set(self.lifecycle.states_in(*categories))
            states = in_categories if states is None else states & in_categories
        if limit is not None and limit < 1:
            raise ValidationError(f"limit must be at least 1, got {limit}")
        query = TicketQuery(
            states=None if states is None else frozenset(states),
            assignee=None if assignee is None else _assignee_id(assignee),
            requester=None if requester is None else _requester_id(requester),
            priority=None if priority is None else Priority.parse(priority),
            group=group,
            after=after,
            limit=limit,
        )
        return self.store.find(query)

    def view(self, ticket_id: str, *, as_actor: Actor) -> TicketView:
        """The ticket as ``as_actor`` may see it.

        A customer sees only their own tickets, with public messages and state
        changes but no internal notes and no custom fields; for anyone else's
        ticket they get :class:`~supportflow.errors.NotFound`, exactly as for a
        ticket that does not exist. Staff and the system see everything.
        """
        actor = _check_actor(as_actor)
        ticket = self._load(ticket_id, actor)
        events = self.history(ticket_id)
        if actor.role is Role.CUSTOMER:
            events = tuple(
                e
                for e in events
                if isinstance(e, _CUSTOMER_VISIBLE) or (isinstance(e, CommentAdded) and e.public)
            )
            ticket = _customer_snapshot(ticket)
        return TicketView(ticket=ticket, events=events, audience=actor.role)

    def allowed_events(self, ticket_id: str, *, by: Actor) -> tuple[str, ...]:
        """The events ``by`` may fire on the ticket now (guards not evaluated)."""
        actor = _check_actor(by)
        ticket = self._load(ticket_id, actor)
        return self.lifecycle.allowed_events(ticket.state, actor.role)

    # -- SLA --------------------------------------------------------------------------

    @property
    def sla_policies(self) -> tuple[SLAPolicy, ...]:
        """The SLA policies in force for new tickets."""
        return self._policy_sets[self._generation].policies

    @property
    def calendar(self) -> BusinessCalendar:
        """The business hours of policies that name no calendar (change with :meth:`set_sla`)."""
        return self._policy_sets[self._generation].calendar

    def sla(self, ticket_id: str, *, at: datetime | None = None, fresh: bool = False) -> SLAReport:
        """The ticket's SLA clocks at ``at`` (now by default).

        The report comes from the projection stored with the ticket's last
        command; ``fresh=True`` replays the whole history instead. Both give
        the same report: SLA status is a pure function of the history, the
        policies, the calendars and the instant.

        Raises:
            NotFound: no such ticket.
            ValidationError: ``at`` is naive or before the ticket's last event.
        """
        ticket = self.get(ticket_id)
        now = max(self._now(), ticket.updated_at) if at is None else to_utc(at, "at")
        return self._report(ticket, self.store.sla_projection(ticket_id), now, fresh=fresh)

    def _report(
        self, ticket: Ticket, stored: SLAProjection | None, at: datetime, *, fresh: bool = False
    ) -> SLAReport:
        """The report at ``at`` from ``stored`` (replayed if missing or ``fresh``)."""
        generation = self._generation if stored is None else stored.policy_set
        projection = stored
        if fresh or projection is None:
            projection = self._replay_sla(ticket.id, generation)
        rules = self._policy_sets[generation]
        return projection.report(at, policies=rules.policies, calendar=rules.calendar)

    def set_sla(
        self,
        policies: Iterable[SLAPolicy],
        *,
        open_tickets: str,
        calendar: BusinessCalendar | None = None,
        escalation: Iterable[EscalationPolicy] | None = None,
        follow_ups: Iterable[FollowUp] | None = None,
    ) -> None:
        """Replace the SLA policies (and the default calendar), choosing what
        happens to open tickets.

        Args:
            policies: the new ordered list; new tickets follow it.
            calendar: a new default calendar; the current one if ``None``.
            escalation: new escalation policies; the current ones if ``None``.
                Running escalations follow the policies their ticket's
                generation had, like SLA targets.
            follow_ups: new auto-close and reminder rules; the current ones if ``None``.
            open_tickets: ``"recompute"`` replays every open ticket's clocks
                under the new policies (their targets, deadlines and timers
                change); ``"keep"`` leaves open tickets on the policies they
                had. Closed tickets never change either way.

        Raises:
            ConfigError: an invalid policy list, or ``open_tickets`` is neither.
        """
        if open_tickets not in ("recompute", "keep"):
            raise ConfigError(f"open_tickets must be 'recompute' or 'keep', got {open_tickets!r}")
        previous = self._generation
        self._install_policies(
            tuple(policies),
            calendar or self.calendar,
            self._policy_sets[previous].escalations if escalation is None else tuple(escalation),
            self._policy_sets[previous].follow_ups if follow_ups is None else tuple(follow_ups),
        )
        for ticket in self.store.find(TicketQuery(states=self._open_states)):
            stored = self.store.sla_projection(ticket.id)
            generation = previous if stored is None else stored.policy_set
            if open_tickets == "keep":
                if stored is None:
                    self._store_sla(ticket, self._replay_sla(ticket.id, generation))
                continue
            self._store_sla(ticket, self._replay_sla(ticket.id, self._generation))

    def run_due(
        self,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        lease: timedelta = DEFAULT_TIMER_LEASE,
        worker: str = "",
    ) -> list[Timer]:
        """Carry out the SLA warnings, breaches and escalation steps that are due.

        Timers are claimed from the store in batches with a lease, so any number
        of runners can share a store: none receives a timer another one holds.
        Each timer is then carried out and recorded as fired:

        - An escalation step runs its level's actions as the ``system`` actor
          in one commit with an :class:`~supportflow.events.Escalated` event,
          and that same commit records the step as fired: a step happens
          exactly once, even when runners race or one dies mid-batch. Then
          :func:`~supportflow.hookspecs.supportflow_escalated` is called (and
          ``supportflow_escalation_action`` for custom actions). A ticket
          closed or merged since the step was scheduled does not escalate.
        - A warning or breach calls
          :func:`~supportflow.hookspecs.supportflow_sla_warning` or
          :func:`~supportflow.hookspecs.supportflow_sla_breached`, then is
          recorded as fired: a runner killed in between leaves the timer to be
          taken over when its lease runs out, so these hooks are called at
          least once.

        A desk with no SLA or escalation policies claims nothing: the timers
        in the store belong to the desk configuration that scheduled them.
        A timer that a later command cancelled or moved is not carried out. A
        timer whose handling raised is logged and left to its lease, to be
        retried by the next claim; after :attr:`timer_attempts` claims it is
        recorded as fired and logged as given up. Leases are renewed while a
        batch is worked on.

        Args:
            now: the instant to run at; the desk's clock by default.
            limit: the most timers to claim; all that are due by default.
            lease: how long a claim is held before others may take it over.
            worker: a name recorded with the leases, for operators.

        Returns:
            The timers this call carried out, in the order it did them.
        """
        moment = self._now() if now is None else to_utc(now, "now")
        if limit is not None:
            check_limit(limit)
        if not self._tracking_sla:
            # A desk without policies could not carry out anyone's timers
            # correctly; claiming them would only take them from runners that can.
            return []
        started = self._now()
        done: list[Timer] = []
        remaining = limit
        while remaining is None or remaining > 0:
            size = _DUE_BATCH if remaining is None else min(_DUE_BATCH, remaining)
            claims = self.store.claim_due_timers(moment, lease=lease, limit=size, worker=worker)
            if not claims:
                break
            if remaining is not None:
                remaining -= len(claims)
            done += self._carry_out(claims, moment, started, lease)
        return done

    def _carry_out(
        self, claims: list[TimerClaim], moment: datetime, started: datetime, lease: timedelta
    ) -> list[Timer]:
        """Carry out one batch of claimed timers (see :meth:`run_due`)."""
        done: list[Timer] = []  # in the order carried out
        announced: list[TimerClaim] = []  # hooks called, to be recorded at the end
        for index, claim in enumerate(claims):
            # The lease was taken at `moment`; time has passed since on the clock.
            current = moment + (self._now() - started)
            if current + lease / 2 >= claim.lease_until:
                # Renew what this runner still holds: the rest of the batch and
                # the announced timers waiting to be recorded.
                renewed = self.store.renew_timers(
                    [*announced, *claims[index:]], current, lease=lease
                )
                held = {c.timer.key: c for c in renewed}
                # One lost here keeps its old token: recording it fails below.
                announced = [held.get(c.timer.key, c) for c in announced]
                claims[index:] = [held.get(c.timer.key, c) for c in claims[index:]]
                if claim.timer.key not in held:
                    continue  # lost to another runner: it is theirs now
                claim = held[claim.timer.key]
            timer = claim.timer
            try:
                if timer.kind == "escalation":
                    carried = self._escalate(claim, moment)
                elif timer.kind == "followup":
                    carried = self._follow_up(claim, moment)
                else:
                    carried = self._announce(timer, moment)
                    if carried:
                        announced.append(claim)
                if carried:
                    done.append(timer)
            except Exception:
                if claim.attempts < self.timer_attempts:
                    _log.exception(
                        "timer %s failed (attempt %d of %d); it is retried when its lease ends",
                        timer.key,
                        claim.attempts,
                        self.timer_attempts,
                    )
                    continue
                _log.exception(
                    "timer %s failed on its last attempt (%d); recorded as fired, given up",
                    timer.key,
                    claim.attempts,
                )
                done += self.store.complete_timers([claim], moment)
        if announced:
            # An announced timer lost to another runner meanwhile was not ours to record.
            recorded = {t.key for t in self.store.complete_timers(announced, moment)}
            lost = {c.timer.key for c in announced} - recorded
            done = [t for t in done if t.key not in lost]
        return done

    def _follow_up(self, claim: TimerClaim, moment: datetime) -> bool:
        """Carry out an auto-close or reminder step (see :meth:`_take_step`)."""
        timer = claim.timer
        step = parse_follow_up_key(timer.key)
        rules = self._policy_sets.get(timer.policy_set)
        rule = None
        if step is not None and rules is not None:
            rule = next((r for r in rules.follow_ups if r.name == step.rule), None)
        if step is None or rule is None:
            return _not_this_runners(timer, "names no follow-up rule", "follow_ups")
        remind = step.is_reminder

        def decide(ticket: Ticket, at: datetime) -> tuple[Event, ...]:
            if ticket.state not in rule.states:
                return ()  # it left the state: the commit that moved it dropped the timer
            if remind:
                assert isinstance(rule, Reminder)
                reminder = CommentAdded(
                    ticket_id=ticket.id,
                    version=ticket.version + 1,
                    at=at,
                    by=Actor.system(),
                    body=rule.message,
                    public=True,
                )
                return (reminder,)
            assert rule.event is not None
            return (self._moved(ticket, rule.event, Actor.system(), rule.data, at),)

        return bool(self._take_step(claim, moment, decide))

    def _take_step(
        self,
        claim: TimerClaim,
        moment: datetime,
        decide: Callable[[Ticket, datetime], tuple[Event, ...]],
    ) -> tuple[Ticket, tuple[Event, ...]] | bool:
        """Carry out a step that changes its ticket (an escalation step, an
        auto-close, a reminder): commit the events ``decide`` makes of the ticket
        as it is now, at ``max(moment, ticket.updated_at)``, together with the
        step's timer recorded as fired.

        Returns the ticket after the commit and the events; ``True`` when
        ``decide`` found nothing to do any more (the timer is recorded as fired
        on its own); ``False`` when the step was not this runner's to take: it
        fired, or a later command cancelled or moved it.
        """
        try:
            taken = self._commit_step(claim.timer, moment, decide)
        except StaleTimer:
            return False
        if taken is None:
            return bool(self.store.complete_timers([claim], moment))
        return taken

    @_retried
    def _commit_step(
        self,
        timer: Timer,
        moment: datetime,
        decide: Callable[[Ticket, datetime], tuple[Event, ...]],
    ) -> tuple[Ticket, tuple[Event, ...]] | None:
        """One attempt of :meth:`_take_step`, re-run from a fresh read if it loses a race."""
        ticket = self.store.load(timer.ticket_id)
        events = () if ticket is None else decide(ticket, max(moment, ticket.updated_at))
        if ticket is None or not events:
            return None
        after = ticket
        for event in events:
            after = apply(after, event)
        return self._commit_one(after, ticket.version, events, fired=(timer,)), events

    def _announce(self, timer: Timer, moment: datetime) -> bool:
        """Call the warning or breach hook of a timer that is still pending (no
        later than claimed); ``False`` if a later command cancelled or moved it."""
        pending = {t.key: t for t in self.store.pending_timers(timer.ticket_id)}
        still = pending.get(timer.key)
        if still is None or still.at > timer.at:
            return False
        ticket = self.get(timer.ticket_id)
        stored = self.store.sla_projection(ticket.id)
        report = self._report(ticket, stored, max(moment, ticket.updated_at))
        clock = report[timer.metric].cycles[timer.cycle - 1]
        if timer.kind == "warning":
            self.plugins.notify(
                "supportflow_sla_warning",
                desk=self,
                ticket=ticket,
                clock=clock,
                threshold=timer.threshold,
            )
        else:
            self.plugins.notify("supportflow_sla_breached", desk=self, ticket=ticket, clock=clock)
        return True

    def _escalate(self, claim: TimerClaim, moment: datetime) -> bool:
        """Carry out one escalation step: its level's actions and an Escalated
        event in one commit (see :meth:`_take_step`), then the custom actions'
        hook. A closed or merged ticket no longer escalates."""
        timer = claim.timer
        step = parse_step_key(timer.key)
        rules = self._policy_sets.get(timer.policy_set)
        policy = None
        if step is not None and rules is not None:
            policy = next((p for p in rules.escalations if p.name == step.policy), None)
        if step is None or policy is None or not 0 < step.level <= len(policy.levels):
            return _not_this_runners(timer, "names no escalation policy level", "escalation")
        level = policy.levels[step.level - 1]

        def decide(ticket: Ticket, at: datetime) -> tuple[Event, ...]:
            if self._never_escalates(ticket):
                return ()
            return self._escalation_events(ticket, policy, level, step, timer, at)

        taken = self._take_step(claim, moment, decide)
        if isinstance(taken, bool):
            return taken
        after, (escalated, *_) = taken
        for action in level.actions:
            if action.kind == "custom":
                self.plugins.notify(
                    "supportflow_escalation_action",
                    desk=self,
                    ticket=after,
                    action=action,
                    event=escalated,
                )
        return True

    def _escalation_events(
        self,
        ticket: Ticket,
        policy: EscalationPolicy,
        level: Level,
        step: Step,
        timer: Timer,
        at: datetime,
    ) -> tuple[Event, ...]:
        """The step's Escalated event, then the changes its actions make, in order."""
        system = Actor.system()
        changes: list[dict[str, Any]] = []
        targets: list[str] = []
        current = ticket
        for action in level.actions:
            if action.kind == "reassign":
                group = action.group if action.group is not None else current.group
                agent = choose_agent(
                    current,
                    self.directory,
                    action.strategy,
                    group=group,
                    now=at,
                    workload=self._workload(group),
                    tier=action.tier,
                )
                assignee = None if agent is None else agent.id
                targets.append(assignee or f"group:{group}")
                if (assignee, group) != (current.assignee, current.group):
                    changes.append(
                        {
                            "type": Assigned,
                            "assignee": assignee,
                            "group": group,
                            "previous_assignee": current.assignee,
                            "previous_group": current.group,
                        }
                    )
                    current = attrs.evolve(current, assignee=assignee, group=group)
            elif action.kind == "raise_priority":
                higher = raised(current.priority)
                if higher is not current.priority:
                    changes.append(
                        {
                            "type": PriorityChanged,
                            "priority": higher,
                            "previous": current.priority,
                            "reason": f"escalation {policy.name} level {step.level}",
                        }
                    )
                    current = attrs.evolve(current, priority=higher)
            elif action.kind == "add_tag":
                assert action.value is not None
                if action.value not in current.tags:
                    tags = (*current.tags, action.value)
                    changes.append(
                        {
                            "type": FieldChanged,
                            "field": "tags",
                            "value": tags,
                            "previous": current.tags,
                        }
                    )
                    current = attrs.evolve(current, tags=tags)
            elif action.kind == "add_watcher":
                watchers = tuple(current.fields.get("watchers") or ())
                if action.value not in watchers:
                    value = (*watchers, action.value)
                    changes.append(
                        {
                            "type": FieldChanged,
                            "field": "watchers",
                            "value": list(value),
                            "previous": list(watchers) or None,
                        }
                    )
                    current = attrs.evolve(
                        current, fields={**current.fields, "watchers": list(value)}
                    )
                targets.append(f"watcher:{action.value}")
            elif action.kind == "notify":
                targets.extend(action.to)
            else:
                targets.append(f"custom:{action.value}")
        modes = {action.mode for action in level.actions}
        version = ticket.version + 1
        escalated = Escalated(
            ticket_id=ticket.id,
            version=version,
            at=at,
            by=system,
            policy=policy.name,
            level=step.level,
            loop=step.loop,
            repeat=step.repeat,
            mode=Mode.FUNCTIONAL.value if Mode.FUNCTIONAL in modes else Mode.HIERARCHICAL.value,
            metric=timer.metric,
            cycle=timer.cycle,
            step=timer.key,
            targets=tuple(targets),
            actions=tuple(action.kind for action in level.actions),
        )
        followers = tuple(
            change.pop("type")(ticket_id=ticket.id, version=number, at=at, by=system, **change)
            for number, change in enumerate(changes, version + 1)
        )
        return (escalated, *followers)

    def _with_customer(self, requester: str, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """``fields`` with the requester's organisation and tier from the directory
        (``organization`` and ``tier``, unless given), for policy conditions."""
        customer = self.directory.customer(requester)
        if customer is None:
            return fields
        found = {
            "organization": customer.organization,
            "tier": self.directory.customer_tier(requester),
        }
        extra = {k: v for k, v in found.items() if v is not None and k not in fields}
        return {**fields, **extra} if extra else fields

    def _workload(self, group: str | None) -> Workload:
        """Open tickets per agent of ``group`` (every listed agent when ``None``)."""
        agents = (
            self.directory.members(group) if group is not None else self.directory.agents.values()
        )
        open_states = self._open_states
        return Workload(
            {
                agent.id: len(self.store.find(TicketQuery(assignee=agent.id, states=open_states)))
                for agent in agents
            }
        )

    def _install_policies(
        self,
        policies: tuple[SLAPolicy, ...],
        calendar: BusinessCalendar,
        escalations: tuple[EscalationPolicy, ...] = (),
        follow_ups: tuple[FollowUp, ...] = (),
    ) -> None:
        problems: list[str] = check_follow_ups(follow_ups, self.lifecycle)
        known = {metric.name for metric in self.metrics}
        for escalation in escalations:
            if not isinstance(escalation, EscalationPolicy):
                raise ConfigError(f"escalation= takes EscalationPolicy objects, got {escalation!r}")
            groups = self.directory.groups if self.directory.groups else None
            try:
                escalation.check(metrics=known, groups=groups)
            except ConfigError as exc:
                problems.append(str(exc))
        twice = repeated(e.name for e in escalations)
        if twice:
            problems.append(f"escalation policy names must be unique: {', '.join(twice)}")
        names = [policy.name for policy in policies]
        for policy in policies:
            if not isinstance(policy, SLAPolicy):
                raise ConfigError(f"sla= takes SLAPolicy objects, got {policy!r}")
            unknown = sorted(policy.metric_names - known)
            if unknown:
                problems.append(
                    f"policy {policy.name!r} sets targets for unknown metrics "
                    f"{', '.join(unknown)}; the desk keeps {', '.join(sorted(known))}"
                )
        duplicates = repeated(names)
        if duplicates:
            problems.append(f"SLA policy names must be unique: {', '.join(duplicates)}")
        if problems:
            raise ConfigError("; ".join(problems))
        if not isinstance(calendar, BusinessCalendar):
            raise ConfigError(f"calendar must be a BusinessCalendar, got {calendar!r}")
        self._generation += 1
        self._policy_sets[self._generation] = _SLAGeneration(
            policies, calendar, escalations, follow_ups
        )
        # Once any generation had policies, tickets kept on it still need clocks.
        self._tracking_sla = (
            bool(policies) or bool(escalations) or bool(follow_ups) or len(self._policy_sets) > 1
        )

    def _replay_sla(self, ticket_id: str, generation: int) -> SLAProjection:
        rules = self._policy_sets[generation]
        return SLAProjection.empty(generation).fold(
            self.store.history(ticket_id),
            lifecycle=self.lifecycle,
            policies=rules.policies,
            calendar=rules.calendar,
            metrics=self.metrics,
        )

    def _timers(self, projection: SLAProjection) -> tuple[Timer, ...]:
        """The ticket's SLA warnings and breaches, escalation steps and follow-ups."""
        rules = self._policy_sets[projection.policy_set]
        timers = projection.timers(policies=rules.policies, calendar=rules.calendar)
        if not (rules.escalations or rules.follow_ups) or projection.ticket is None:
            return timers
        if rules.escalations:
            timers += escalation_timers(
                projection,
                escalations=rules.escalations,
                policies=rules.policies,
                calendar=rules.calendar,
                closed=self._never_escalates(projection.ticket),
            )
        if rules.follow_ups and projection.ticket.merged_into is None:
            timers += follow_up_timers(projection, rules.follow_ups, rules.calendar)
        return tuple(sorted(timers, key=lambda t: (t.at, t.key)))

    @functools.cached_property
    def _open_states(self) -> frozenset[str]:
        """The lifecycle's states outside the closed category."""
        return frozenset(self.lifecycle.state_names) - self.lifecycle.states_in(Category.CLOSED)

    def _never_escalates(self, ticket: Ticket) -> bool:
        """Closed and merged tickets never escalate."""
        return (
            ticket.merged_into is not None
            or self.lifecycle.category(ticket.state) is Category.CLOSED
        )

    def _store_sla(self, ticket: Ticket, projection: SLAProjection) -> None:
        timers = self._timers(projection)
        self.store.commit(
            Commit((TicketChange(ticket, ticket.version, (), sla=projection, timers=timers),))
        )

    def _with_sla(self, change: TicketChange) -> tuple[TicketChange, list[tuple[str, int]]]:
        """The change with the ticket's SLA projection and timers folded in,
        and the (metric, cycle) pairs its events met."""
        ticket = change.ticket
        stored = None if change.expected_version == 0 else self.store.sla_projection(ticket.id)
        if (
            stored is not None
            and stored.ticket is not None
            and stored.ticket.version != change.expected_version
        ):
            # Another writer got there first: the store would refuse this
            # commit anyway; say so now instead of folding onto their events.
            raise ConcurrencyConflict(ticket.id, change.expected_version, stored.ticket.version)
        if stored is None and change.expected_version:
            stored = self._replay_sla(ticket.id, self._generation)
        start = stored if stored is not None else SLAProjection.empty(self._generation)
        rules = self._policy_sets[start.policy_set]
        projection = start.fold(
            change.events,
            lifecycle=self.lifecycle,
            policies=rules.policies,
            calendar=rules.calendar,
            metrics=self.metrics,
        )
        before = {(c.metric, c.number): c.outcome for c in start.cycles}
        met = [
            (c.metric, c.number)
            for c in projection.cycles
            if c.outcome == "met" and before.get((c.metric, c.number)) != "met"
        ]
        return attrs.evolve(change, sla=projection, timers=self._timers(projection)), met

    # -- plugins ----------------------------------------------------------------------

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register another plugin after the desk was built."""
        self.plugins.register(plugin, name)

    # -- internals ----------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is UTC:  # the common case, checked first because every command asks
            return now
        return to_utc(now, "clock.now()")

    def _load(self, ticket_id: str, actor: Actor) -> Ticket:
        ticket = self.store.load(ticket_id)
        # A customer is told "not found" for other people's tickets: saying
        # "forbidden" would confirm that the id exists.
        if ticket is None or (actor.role is Role.CUSTOMER and ticket.requester != actor.id):
            raise NotFound(f"no ticket {ticket_id!r}; check the id (tickets are never deleted)")
        return ticket

    def _staff(self, by: Actor, what: str) -> Actor:
        actor = _check_actor(by)
        if actor.role is Role.CUSTOMER:
            raise PermissionDenied(f"{actor} may not {what}; that needs an agent or supervisor")
        return actor

    def _refuse_if_closed(self, ticket: Ticket, what: str) -> None:
        if self.lifecycle.category(ticket.state) is Category.CLOSED:
            raise InvalidTransition(
                f"cannot {what} ticket {ticket.id}: it is closed (state {ticket.state!r}); "
                "open a follow-up ticket and link it instead",
                ticket_id=ticket.id,
                state=ticket.state,
                allowed=self.lifecycle.events_from(ticket.state),
            )

    def _decide_priority(
        self, priority: Priority | str | None, impact: str | None, urgency: str | None
    ) -> tuple[Priority, str | None, str | None]:
        if impact is None and urgency is None:
            chosen = self.default_priority if priority is None else Priority.parse(priority)
            return chosen, None, None
        if priority is not None:
            raise ValidationError(
                f"give either priority ({priority!r}) or impact and urgency, not both: the "
                "priority matrix derives the priority from impact and urgency"
            )
        if impact is None or urgency is None:
            raise ValidationError(
                "give both impact and urgency (the priority matrix needs the pair), "
                f"got impact={impact!r}, urgency={urgency!r}"
            )
        derived = self.priority_matrix.derive(impact=impact, urgency=urgency)
        return derived, impact.strip().lower(), urgency.strip().lower()

    def _replay_result(self, key: str, fingerprint: str) -> Ticket | None:
        record = self.store.idempotency(key)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was already used for a different command "
                f"(on ticket {record.ticket_id}); use a new key for a new command"
            )
        ticket = replay(self.store.history(record.ticket_id)[: record.version])
        assert ticket is not None
        return ticket

    def _commit_one(
        self,
        ticket: Ticket,
        expected_version: int,
        events: tuple[Event, ...],
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        *,
        fired: tuple[Timer, ...] = (),
    ) -> Ticket:
        record = None
        if idempotency_key is not None and fingerprint is not None:
            record = IdempotencyRecord(idempotency_key, fingerprint, ticket.id, ticket.version)
        change = TicketChange(ticket, expected_version, events, fired=fired)
        commit = Commit((change,), record)
        try:
            self._commit(commit)
        except IdempotencyConflict:
            # Another call with the same key committed first: answer as it did.
            assert idempotency_key is not None
            assert fingerprint is not None
            first = self._replay_result(idempotency_key, fingerprint)
            if first is None:
                raise
            return first
        return ticket

    def _commit(self, commit: Commit) -> None:
        if self.outbox:
            commit = attrs.evolve(
                commit,
                changes=tuple(
                    attrs.evolve(c, outbox=tuple(e for e in c.events if e.kind in OUTBOX_KINDS))
                    for c in commit.changes
                ),
            )
        met: list[tuple[TicketChange, list[tuple[str, int]]]] = []
        if self._tracking_sla:
            changes = []
            for change in commit.changes:
                with_sla, met_now = self._with_sla(change)
                changes.append(with_sla)
                if met_now:
                    met.append((with_sla, met_now))
            commit = attrs.evolve(commit, changes=tuple(changes))
        self.store.commit(commit)
        if not self.plugins.active:
            return
        for change in commit.changes:
            for event in change.events:
                self.plugins.notify(
                    _HOOK_FOR[type(event)], desk=self, ticket=change.ticket, event=event
                )
        for change, cycles in met:
            # The projection the commit just wrote: no need to read it back.
            ticket = change.ticket
            report = self._report(ticket, change.sla, ticket.updated_at)
            for metric, number in cycles:
                clock = report[metric].cycles[number - 1]
                if clock.target is None:
                    continue  # no promise was made, so none was kept
                self.plugins.notify("supportflow_sla_met", desk=self, ticket=ticket, clock=clock)


# -- small pure helpers ------------------------------------------------------------------


def _not_this_runners(timer: Timer, problem: str, setting: str) -> bool:
    """Log that ``timer`` is left to a runner configured with the desk's rules; ``False``.

    Another runner configured with the rules that scheduled the step takes it
    over when the lease ends; this desk must not drop it.
    """
    _log.warning(
        "timer %s %s of this desk (is this runner configured with the desk's %s?); "
        "left for another runner",
        timer.key,
        problem,
        setting,
    )
    return False


def _check_actor(by: object) -> Actor:
    if not isinstance(by, Actor):
        raise ValidationError(
            f"by= must be an Actor (e.g. Actor.agent('ann')), got {type(by).__name__} {by!r}"
        )
    return by


def _requester_id(requester: str | Actor) -> str:
    if isinstance(requester, Actor):
        if requester.role is not Role.CUSTOMER:
            raise ValidationError(
                f"the requester must be a customer, got {requester}; pass the customer's id "
                "or Actor.customer(...)"
            )
        return requester.id
    return _text(requester, "requester")


def _assignee_id(assignee: str | Actor | None) -> str | None:
    if assignee is None:
        return None
    if isinstance(assignee, Actor):
        if not assignee.is_staff:
            raise ValidationError(
                f"tickets are assigned to agents or supervisors, not to {assignee}"
            )
        return assignee.id
    return _text(assignee, "assignee")


def _text(value: object, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    if not allow_empty and not value.strip():
        raise ValidationError(f"{name} must not be empty")
    return value


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    if not tags:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    cleaned = set()
    for tag in tags:
        cleaned.add(_text(tag, "tag").strip())
    return tuple(sorted(cleaned))


def _custom_fields(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    if not fields:
        return EMPTY_FIELDS
    for name in fields:
        if not name.isidentifier():
            raise ValidationError(f"custom field name {name!r} must be an identifier")
    return MappingProxyType({k: v for k, v in fields.items() if v is not None})


def _customer_snapshot(ticket: Ticket) -> Ticket:
    return attrs.evolve(ticket, fields=EMPTY_FIELDS)


def _reply_kind(comment: CommentAdded, ticket: Ticket) -> str | None:
    if not comment.public:
        return None
    if comment.by.is_staff:
        return "agent_reply"
    if comment.by.role is Role.CUSTOMER and comment.by.id == ticket.requester:
        return "customer_reply"
    return None


def _fingerprint(command: str, **arguments: Any) -> str:
    payload = json.dumps([command, arguments], sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()
