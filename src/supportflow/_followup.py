"""Follow-ups: the timers that finish the process once the work is done.

Two rules, counted from the moment a ticket entered its current state:

- :class:`AutoClose` closes a resolved ticket after a quiet period in which the
  customer neither reopened it nor confirmed it (the verification step);
- :class:`Reminder` reminds a customer whose ticket waits on them, a given
  number of times, then optionally moves the ticket on (``resume`` it, or
  close it where the lifecycle lets the system do so).

They are timers like SLA warnings and escalation steps: scheduled from the
ticket's SLA projection after every command, claimed by
:meth:`~supportflow.Desk.run_due`, and carried out once as a command of the
``system`` actor whose commit records the timer. A ticket that leaves the
state first loses its follow-ups; entering it again starts them afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from attrs import field, frozen

from supportflow._calendar import BusinessCalendar
from supportflow._lifecycle import Lifecycle
from supportflow._model import Role, repeated
from supportflow._sla import SLAProjection, Timer
from supportflow.errors import ConfigError

__all__ = [
    "AutoClose",
    "FollowUp",
    "FollowUpStep",
    "Reminder",
    "check_follow_ups",
    "follow_up_timers",
    "parse_follow_up_key",
]

#: The timer kind of every follow-up step.
KIND = "followup"

#: What a reminder says unless its rule says otherwise.
DEFAULT_REMINDER = (
    "We are still waiting for your reply to continue with this request. "
    "Reply to this message to let us know how it is going."
)


def _positive(name: str) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if not isinstance(value, timedelta) or value <= timedelta(0):
            raise ConfigError(f"{name} must be a positive timedelta, got {value!r}")

    return check


def _rule_name(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, str) or not value or any(c in value for c in "/: "):
        raise ConfigError(
            f"a follow-up name must be a non-empty string without '/', ':' or spaces, got {value!r}"
        )


def _state_names(value: str | Iterable[str]) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"states must be one or more state names, got {value!r}")
    return names


def _frozen_fields(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@frozen
class AutoClose:
    """Close a ticket that stayed in a resolved state for ``after``.

    Args:
        after: how long the ticket must stay in the state; business time on
            the desk's calendar (or ``calendar``) unless ``business=False``.
            Three business days on a 9-hour calendar is ``timedelta(hours=27)``.
        states: the states it applies to (``resolved`` by default).
        event: the lifecycle event that closes (``close`` by default); the
            system role must be allowed to fire it from every state.
        data: what the event records (its required data, if any).
        name: identifies the rule in timer keys and events; unique per desk.
        business: count business time (default) or plain time.
        calendar: the business hours to count on; the desk's if ``None``.
    """

    after: timedelta = field(validator=_positive("AutoClose after"))
    states: tuple[str, ...] = field(default=("resolved",), converter=_state_names)
    event: str = "close"
    data: Mapping[str, Any] = field(factory=dict, converter=_frozen_fields)
    name: str = field(default="auto_close", validator=_rule_name)
    business: bool = True
    calendar: BusinessCalendar | None = None

    def steps(self) -> tuple[tuple[str, timedelta], ...]:
        """The rule's steps and their offsets from entering the state."""
        return (("close", self.after),)


@frozen
class Reminder:
    """Remind the customer while their ticket waits on them, then act.

    The ``n``-th reminder (a public comment from the ``system`` actor, which
    notifications send to the requester) falls due ``after + (n - 1) * every``
    after the ticket entered ``state``; ``then``, if given, is fired
    ``every`` after the last reminder.

    Args:
        after: until the first reminder (business time unless ``business=False``).
        state: the waiting state (``waiting_on_customer`` by default).
        times: how many reminders (at least 1).
        every: between reminders, and from the last one to ``then``; ``after``
            by default.
        then: the lifecycle event to fire at the end (``resume``, or a closing
            event the system may fire), or ``None`` to stop reminding.
        data: what ``then`` records (its required data, if any).
        message: the reminder's text.
        name: identifies the rule in timer keys; unique per desk.
        business: count business time (default) or plain time.
        calendar: the business hours to count on; the desk's if ``None``.
    """

    after: timedelta = field(validator=_positive("Reminder after"))
    state: str = "waiting_on_customer"
    times: int = 1
    every: timedelta | None = None
    then: str | None = None
    data: Mapping[str, Any] = field(factory=dict, converter=_frozen_fields)
    message: str = DEFAULT_REMINDER
    name: str = field(default="reminder", validator=_rule_name)
    business: bool = True
    calendar: BusinessCalendar | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.times, int) or isinstance(self.times, bool) or self.times < 1:
            raise ConfigError(
                f"Reminder times must be a whole number of at least 1, got {self.times!r}"
            )
        if self.every is not None:
            _positive("Reminder every")(self, None, self.every)
        if not isinstance(self.message, str) or not self.message.strip():
            raise ConfigError(f"Reminder message must be non-empty text, got {self.message!r}")

    @property
    def states(self) -> tuple[str, ...]:
        """The state the rule applies to, as a one-element tuple."""
        return (self.state,)

    @property
    def interval(self) -> timedelta:
        """The time between reminders (``every``, or ``after`` if not given)."""
        return self.every if self.every is not None else self.after

    @property
    def event(self) -> str | None:
        """The event fired after the last reminder (``then``)."""
        return self.then

    def steps(self) -> tuple[tuple[str, timedelta], ...]:
        """The rule's steps (``remind.1`` ... and ``then``) and their offsets."""
        steps = [
            (f"remind.{n}", self.after + (n - 1) * self.interval) for n in range(1, self.times + 1)
        ]
        if self.then is not None:
            steps.append(("then", self.after + self.times * self.interval))
        return tuple(steps)


FollowUp = AutoClose | Reminder


@frozen
class FollowUpStep:
    """What a follow-up timer's key says: which rule, which step."""

    rule: str
    step: str

    @property
    def is_reminder(self) -> bool:
        """Whether the step posts a reminder (rather than firing an event)."""
        return self.step.startswith("remind.")


def follow_up_timers(
    projection: SLAProjection,
    rules: Sequence[FollowUp],
    calendar: BusinessCalendar,
) -> tuple[Timer, ...]:
    """The follow-up timers of the ticket in ``projection``: the steps of every
    rule for its current state, counted from when it entered that state."""
    ticket, since = projection.ticket, projection.state_since
    if ticket is None or since is None:
        return ()
    out: list[Timer] = []
    for rule in rules:
        if ticket.state not in rule.states:
            continue
        counting = rule.calendar or calendar
        for step, offset in rule.steps():
            at = counting.add(since, offset) if rule.business else since + offset
            out.append(
                Timer(
                    key=f"{ticket.id}/followup:{rule.name}:{step}/s{projection.state_version}",
                    ticket_id=ticket.id,
                    at=at,
                    metric=rule.name,
                    cycle=0,
                    kind=KIND,
                    threshold=None,
                    target_version=projection.state_version,
                    policy_set=projection.policy_set,
                )
            )
    return tuple(out)


def parse_follow_up_key(key: str) -> FollowUpStep | None:
    """The rule and step a follow-up timer key names (``None`` if it is not one)."""
    parts = key.split("/")
    fields = parts[1].split(":") if len(parts) == 3 else []
    if len(fields) != 3 or fields[0] != "followup" or not fields[1] or not fields[2]:
        return None
    return FollowUpStep(fields[1], fields[2])


def check_follow_ups(rules: Sequence[object], lifecycle: Lifecycle) -> list[str]:
    """The problems of ``rules`` on ``lifecycle`` (empty if none): unknown states,
    events the system may not fire from them, missing required data, names twice."""
    problems: list[str] = []
    names: list[str] = []
    for rule in rules:
        if not isinstance(rule, AutoClose | Reminder):
            problems.append(f"follow_ups= takes AutoClose and Reminder rules, got {rule!r}")
            continue
        names.append(rule.name)
        for state in rule.states:
            if state not in lifecycle.state_names:
                problems.append(
                    f"follow-up {rule.name!r} names state {state!r}, which lifecycle "
                    f"{lifecycle.name!r} does not have (it has {', '.join(lifecycle.state_names)})"
                )
                continue
            event = rule.event
            if event is None:
                continue
            transition = lifecycle.transition_for(event, state)
            if transition is None or Role.SYSTEM not in transition.by:
                allowed = ", ".join(lifecycle.allowed_events(state, Role.SYSTEM)) or "none"
                problems.append(
                    f"follow-up {rule.name!r} fires {event!r} from {state!r}, which the system "
                    f"role may not do in lifecycle {lifecycle.name!r} (it may fire: {allowed})"
                )
                continue
            missing = [item for item in transition.requires if not rule.data.get(item)]
            if missing:
                problems.append(
                    f"follow-up {rule.name!r} fires {event!r}, which requires "
                    f"{', '.join(missing)}; pass them in data="
                )
    twice = repeated(names)
    if twice:
        problems.append(f"follow-up names must be unique: {', '.join(twice)}")
    return problems
