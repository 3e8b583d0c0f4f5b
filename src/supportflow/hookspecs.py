"""The plugin hooks supportflow calls, as pluggy hook specifications.

Implement any of them in a plugin object or module, marking each function
with :data:`hookimpl`, and pass the plugin to ``Desk(plugins=[...])`` or
publish it under the ``supportflow`` entry-point group. An implementation may
accept any subset of a hook's arguments, by name.

All ticket hooks are called **after** the command's changes have been
committed, once per event, in history order. A hook that raises is logged
(logger ``supportflow.plugins``) and skipped: it never undoes or loses the
command, and the other plugins still run.

Example:
    >>> from supportflow import Actor, Desk, hookimpl
    >>> class Audit:
    ...     def __init__(self):
    ...         self.seen = []
    ...     @hookimpl
    ...     def supportflow_ticket_opened(self, ticket):
    ...         self.seen.append(ticket.subject)
    >>> audit = Audit()
    >>> desk = Desk(plugins=[audit])
    >>> _ = desk.open_ticket(subject="VPN down", requester="alice@example.com")
    >>> audit.seen
    ['VPN down']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from supportflow._desk import Desk
    from supportflow._escalation import Action
    from supportflow._model import Ticket
    from supportflow._sla import ClockReport
    from supportflow.events import (
        Assigned,
        CommentAdded,
        Escalated,
        FieldChanged,
        Linked,
        Merged,
        PriorityChanged,
        TicketOpened,
        Transitioned,
    )
    from supportflow.notify._model import Notification, Notifier, Receipt
    from supportflow.store import Store

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "supportflow_escalated",
    "supportflow_escalation_action",
    "supportflow_notification_failed",
    "supportflow_notification_sent",
    "supportflow_priority_changed",
    "supportflow_register_notifiers",
    "supportflow_register_stores",
    "supportflow_sla_breached",
    "supportflow_sla_met",
    "supportflow_sla_warning",
    "supportflow_ticket_assigned",
    "supportflow_ticket_commented",
    "supportflow_ticket_linked",
    "supportflow_ticket_merged",
    "supportflow_ticket_opened",
    "supportflow_ticket_transitioned",
    "supportflow_ticket_updated",
]

#: The pluggy project name, which is also the entry-point group plugins are found in.
PROJECT_NAME = "supportflow"

#: Marks a function as the specification of a hook (used by supportflow itself).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin's function as the implementation of a hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def supportflow_ticket_opened(desk: Desk, ticket: Ticket, event: TicketOpened) -> None:
    """A ticket was opened.

    Called after :meth:`Desk.open_ticket <supportflow.Desk.open_ticket>` has
    committed. In every ticket hook, ``ticket`` is the snapshot after the
    whole command and ``event`` is the frozen event being announced.
    """


@hookspec
def supportflow_ticket_commented(desk: Desk, ticket: Ticket, event: CommentAdded) -> None:
    """A public reply or an internal note was added.

    Called after :meth:`Desk.reply <supportflow.Desk.reply>` or
    :meth:`Desk.comment <supportflow.Desk.comment>` has committed. Check
    ``event.public`` before showing ``event.body`` to a customer.
    """


@hookspec
def supportflow_ticket_transitioned(desk: Desk, ticket: Ticket, event: Transitioned) -> None:
    """The ticket moved through its lifecycle (``event.source`` → ``event.dest``).

    Called for explicit transitions and for those a reply fired automatically
    (``event.cause`` names the reaction), after the command has committed.
    """


@hookspec
def supportflow_ticket_assigned(desk: Desk, ticket: Ticket, event: Assigned) -> None:
    """The ticket's assignee or group changed.

    Called after :meth:`Desk.assign <supportflow.Desk.assign>` has committed.
    """


@hookspec
def supportflow_priority_changed(desk: Desk, ticket: Ticket, event: PriorityChanged) -> None:
    """The ticket's priority changed.

    Called after :meth:`Desk.set_priority <supportflow.Desk.set_priority>` has committed.
    """


@hookspec
def supportflow_ticket_updated(desk: Desk, ticket: Ticket, event: FieldChanged) -> None:
    """A descriptive or custom field changed (after :meth:`Desk.update <supportflow.Desk.update>`).

    Called once per changed field.
    """


@hookspec
def supportflow_ticket_merged(desk: Desk, ticket: Ticket, event: Merged) -> None:
    """The ticket was merged into ``event.into``.

    Called after :meth:`Desk.merge <supportflow.Desk.merge>` has committed.
    ``ticket`` is the ticket that was merged away; the surviving ticket gets a
    :func:`supportflow_ticket_linked` call with ``relation="merged_from"``.
    """


@hookspec
def supportflow_ticket_linked(desk: Desk, ticket: Ticket, event: Linked) -> None:
    """The ticket was linked to another.

    Called after :meth:`Desk.link <supportflow.Desk.link>` or
    :meth:`Desk.merge <supportflow.Desk.merge>` has committed.
    """


@hookspec
def supportflow_sla_met(desk: Desk, ticket: Ticket, clock: ClockReport) -> None:
    """An SLA clock cycle was met (``clock.met_at``), possibly after breaching.

    Called after the command whose event met it (a staff reply meeting
    ``first_response``, a transition into a resolved state meeting
    ``resolution``) has committed; ``clock.status`` is ``breached`` if the
    target had already passed.
    """


@hookspec
def supportflow_sla_warning(
    desk: Desk, ticket: Ticket, clock: ClockReport, threshold: float
) -> None:
    """An SLA clock passed a warning threshold (``threshold`` of its target used).

    Called by :meth:`Desk.run_due <supportflow.Desk.run_due>` once per
    threshold, cycle and target version: a changed target (a new priority)
    schedules new warnings and voids the old ones.
    """


@hookspec
def supportflow_sla_breached(desk: Desk, ticket: Ticket, clock: ClockReport) -> None:
    """An SLA clock breached its target (``clock.breached_at``).

    Called by :meth:`Desk.run_due <supportflow.Desk.run_due>` once per cycle and
    target version. A breach is sticky: the clock stays breached even if it is
    met, paused or re-prioritised later.
    """


@hookspec
def supportflow_register_stores() -> Mapping[str, Callable[[str], Store]]:
    """Offer storage backends, by URL scheme.

    Return a mapping from URL scheme (``"sqlite"``, ``"postgresql"``,
    ``"redis"``, ...) to a factory that takes the whole URL and returns a
    :class:`~supportflow.store.Store`. Called when a desk is given a store URL
    (``Desk(store="sqlite:///desk.db")``). supportflow
    registers ``memory``, ``sqlite`` and ``postgresql`` itself; a plugin that
    offers a scheme already taken is refused with a ``ConfigError``.
    """
    raise NotImplementedError  # a specification: plugins provide the answers


@hookspec
def supportflow_register_notifiers() -> Mapping[str, Callable[[str], Notifier]]:
    """Offer notification backends, by URL scheme.

    Return a mapping from URL scheme (``"sms"``, ``"pagerduty"``, ...) to a
    factory that takes the whole URL and returns a
    :class:`~supportflow.notify.Notifier`. Called by
    :func:`~supportflow.notify.notifier_from_url`. supportflow registers
    ``log``, ``smtp``, ``smtps``, ``webhook+http``, ``webhook+https`` and
    ``apprise`` itself; a plugin that offers a scheme already taken is refused
    with a ``ConfigError``.
    """
    raise NotImplementedError  # a specification: plugins provide the answers


@hookspec
def supportflow_notification_sent(notification: Notification, receipt: Receipt) -> None:
    """A notifier accepted a notification.

    Called by the :class:`~supportflow.notify.Dispatcher` after the delivery is
    recorded as sent. ``receipt`` says which notifier took it and what the
    receiver answered.
    """


@hookspec
def supportflow_notification_failed(
    notification: Notification, error: str, attempts: int, dead: bool
) -> None:
    """A delivery attempt failed.

    ``error`` is the reason (never a message body or a secret), ``attempts``
    how many sends were tried so far. ``dead`` is true when the notification
    was dead-lettered (a permanent failure, or the last allowed attempt); it
    can be listed and re-queued with the dispatcher's ``dead_letters()`` and
    ``requeue()``. Otherwise another attempt is scheduled.
    """


@hookspec
def supportflow_escalated(desk: Desk, ticket: Ticket, event: Escalated) -> None:
    """An escalation step fired.

    Called by :meth:`Desk.run_due <supportflow.Desk.run_due>` after the step's
    commit (the :class:`~supportflow.events.Escalated` event, plus any
    assignment or priority change it made). ``event.mode`` is ``"functional"``
    or ``"hierarchical"``; ``event.level``, ``event.loop`` and
    ``event.targets`` say which level fired and whom it reached.
    """


@hookspec
def supportflow_escalation_action(
    desk: Desk, ticket: Ticket, action: Action, event: Escalated
) -> None:
    """Carry out a custom escalation action (``Action.custom(name)``).

    Called after the step's commit, once per custom action of the level that
    fired; ``action.value`` is the action's name. Page someone, open an
    incident, post to a status page.
    """
