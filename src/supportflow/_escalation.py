"""Escalation policies: chains of levels that fire relative to SLA clocks.

A policy is an ordered chain of :class:`Level` s. Each level fires at a point
of one SLA clock (a fraction of the target used, a duration before the
breach, the breach, a duration after it) or, for a ticket condition, as soon
as the ticket exists. Firing runs the level's actions through the desk as
the ``system`` actor and records an :class:`~supportflow.events.Escalated`
event: **functional** actions hand the ticket to another group or tier,
**hierarchical** ones tell a supervisor or manager without reassigning.

The steps are computed, like SLA timers, from the ticket's SLA projection: a
pure function of its history, the policy and the calendar. Each step is a
timer with a deterministic key naming the ticket, clock, cycle, policy,
level, loop, repeat and target version, so however many runners claim due
timers each step fires once; a met or paused clock produces no steps (so
acknowledging stops what is pending), and a new target (a priority change)
voids the steps scheduled for the old one.

This module is the pure core; :meth:`Desk.run_due <supportflow.Desk.run_due>`
fires the steps.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from attrs import field, frozen

from supportflow._calendar import BusinessCalendar
from supportflow._model import Priority, Ticket, Tier
from supportflow._sla import (
    BREACH_AFTER,
    Cycle,
    Match,
    SLAPolicy,
    SLAProjection,
    Timer,
    _calendars,
    _instant_for,
    _Measure,
)
from supportflow.errors import ConfigError

__all__ = [
    "Action",
    "EscalationPolicy",
    "Level",
    "Step",
    "Trigger",
    "escalation_timers",
    "parse_step_key",
]


class Mode(enum.StrEnum):
    """How an action escalates (the ITIL distinction)."""

    FUNCTIONAL = "functional"
    HIERARCHICAL = "hierarchical"


# -- triggers ---------------------------------------------------------------------------------


@frozen
class Trigger:
    """When a level fires. Build triggers with the class methods.

    >>> Trigger.fraction(0.75)
    Trigger(kind='fraction', amount=0.75, delay=None, condition=None)
    """

    kind: str
    amount: float | None = None
    delay: timedelta | None = None
    condition: Callable[[Ticket], bool] | Match | None = None

    @classmethod
    def fraction(cls, share: float) -> Trigger:
        """When ``share`` of the target is used (``0.75``: three quarters)."""
        if not isinstance(share, int | float) or not share > 0:
            raise ConfigError(f"a fraction trigger needs a share above 0, got {share!r}")
        return cls("fraction", amount=float(share))

    @classmethod
    def before_breach(cls, delay: timedelta) -> Trigger:
        """``delay`` of the clock's own time (business time for a business target)
        before the target is breached."""
        if not isinstance(delay, timedelta) or delay <= timedelta(0):
            raise ConfigError(f"before_breach needs a positive timedelta, got {delay!r}")
        return cls("before_breach", delay=delay)

    @classmethod
    def at_breach(cls) -> Trigger:
        """The first instant the target is breached."""
        return cls("at_breach")

    @classmethod
    def after_breach(cls, delay: timedelta) -> Trigger:
        """``delay`` of the clock's own time after the breach."""
        if not isinstance(delay, timedelta) or delay <= timedelta(0):
            raise ConfigError(f"after_breach needs a positive timedelta, got {delay!r}")
        return cls("after_breach", delay=delay)

    @classmethod
    def on_condition(cls, condition: Callable[[Ticket], bool] | Match) -> Trigger:
        """At once, when the ticket meets ``condition`` (e.g. an urgent ticket
        from a key account, when it is opened or when it comes to match)."""
        if not callable(condition):
            raise ConfigError(f"on_condition needs a Match or a callable, got {condition!r}")
        return cls("condition", condition=condition)

    def amount_of(self, within: timedelta) -> timedelta:
        """The clock time at which this trigger fires, for a target of ``within``."""
        if self.kind == "fraction":
            assert self.amount is not None
            return within * self.amount
        if self.kind == "before_breach":
            assert self.delay is not None
            return max(timedelta(0), within - self.delay)
        if self.kind == "at_breach":
            return within + BREACH_AFTER
        if self.kind == "after_breach":
            assert self.delay is not None
            return within + self.delay
        raise AssertionError(f"a {self.kind} trigger has no clock amount")


# -- actions ----------------------------------------------------------------------------------


@frozen
class Action:
    """What a level does. Build actions with the class methods.

    Functional: :meth:`reassign`. Hierarchical: :meth:`notify`. Either way:
    :meth:`raise_priority`, :meth:`add_tag`, :meth:`add_watcher`, or a
    :meth:`custom` action a plugin carries out
    (``supportflow_escalation_action``).
    """

    kind: str
    group: str | None = None
    tier: Tier | None = None
    strategy: str = "least_loaded"
    to: tuple[str, ...] = ()
    value: str | None = None

    @property
    def mode(self) -> Mode:
        """Functional for a reassignment, hierarchical for everything else."""
        return Mode.FUNCTIONAL if self.kind == "reassign" else Mode.HIERARCHICAL

    @classmethod
    def reassign(
        cls,
        *,
        group: str | None = None,
        tier: Tier | str | None = None,
        strategy: str = "least_loaded",
    ) -> Action:
        """Hand the ticket to ``group`` and/or an agent of ``tier`` (front line →
        senior → manager), picked by the assignment ``strategy``."""
        if group is None and tier is None:
            raise ConfigError("reassign needs a group, a tier, or both")
        return cls(
            "reassign",
            group=group,
            tier=None if tier is None else Tier.parse(tier),
            strategy=strategy,
        )

    @classmethod
    def notify(cls, *to: str) -> Action:
        """Tell people without reassigning: ``"supervisor"``, ``"assignee"``,
        ``"group"`` or a fixed ``"channel:address"`` (routed by the dispatcher)."""
        if not to:
            raise ConfigError("notify needs at least one recipient, e.g. 'supervisor'")
        return cls("notify", to=tuple(to))

    @classmethod
    def raise_priority(cls) -> Action:
        """Raise the ticket's priority one step (low → medium → high → urgent)."""
        return cls("raise_priority")

    @classmethod
    def add_tag(cls, tag: str) -> Action:
        """Tag the ticket."""
        if not isinstance(tag, str) or not tag.strip():
            raise ConfigError(f"add_tag needs a non-empty tag, got {tag!r}")
        return cls("add_tag", value=tag)

    @classmethod
    def add_watcher(cls, person: str) -> Action:
        """Add ``person`` to the ticket's ``watchers`` field."""
        if not isinstance(person, str) or not person.strip():
            raise ConfigError(f"add_watcher needs a person id, got {person!r}")
        return cls("add_watcher", value=person)

    @classmethod
    def custom(cls, name: str) -> Action:
        """An action a plugin carries out in ``supportflow_escalation_action``."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a custom action needs a name, got {name!r}")
        return cls("custom", value=name)


def _actions(value: Action | Iterable[Action]) -> tuple[Action, ...]:
    found = (value,) if isinstance(value, Action) else tuple(value)
    for action in found:
        if not isinstance(action, Action):
            raise ConfigError(f"a level's actions must be Action objects, got {action!r}")
    if not found:
        raise ConfigError("a level needs at least one action")
    return found


@frozen
class Level:
    """One link of the chain: when it fires, what it does, how often.

    Args:
        trigger: when (see :class:`Trigger`).
        actions: what (see :class:`Action`).
        repeat_every: fire again every so much of the clock's time while the
            clock runs, up to ``max_repeats`` times.
        window: a calendar whose open hours the level may fire in; a step due
            outside waits for the next open instant (no manager paged at 02:00).
    """

    trigger: Trigger
    actions: tuple[Action, ...] = field(converter=_actions)
    repeat_every: timedelta | None = None
    max_repeats: int = 0
    window: BusinessCalendar | None = None

    def __attrs_post_init__(self) -> None:
        if self.repeat_every is not None and self.repeat_every <= timedelta(0):
            raise ConfigError(f"repeat_every must be positive, got {self.repeat_every}")
        if self.max_repeats and self.repeat_every is None:
            raise ConfigError("max_repeats needs repeat_every")
        if self.repeat_every is not None and not self.max_repeats:
            raise ConfigError("repeat_every needs max_repeats (repeats are bounded)")


def _levels(value: Iterable[Level]) -> tuple[Level, ...]:
    found = tuple(value)
    if not found:
        raise ConfigError("an escalation policy needs at least one level")
    for level in found:
        if not isinstance(level, Level):
            raise ConfigError(f"levels must be Level objects, got {level!r}")
    return found


@frozen
class EscalationPolicy:
    """An ordered chain of levels on one SLA clock.

    Args:
        name: unique among the desk's policies; part of every step key.
        levels: the chain, in firing order.
        metric: the SLA clock the levels are relative to.
        applies_to: which tickets the policy is for (a :class:`~supportflow.Match`
            or a callable); the first matching policy applies.
        loops: how many more times the chain runs after its first pass
            (PagerDuty's ``num_loops``); each pass is ``loop_every`` of clock
            time after the previous one.
        loop_every: the clock time between passes (needed when ``loops > 0``).
        not_before: steps due before this instant are skipped, so a policy
            introduced over a backlog of old tickets does not fire a storm of
            stale steps.

    Raises:
        ConfigError: no levels, levels out of order, a level that can never
            fire, or looping without ``loop_every``.
    """

    name: str
    levels: tuple[Level, ...] = field(converter=_levels)
    metric: str = "resolution"
    applies_to: Callable[[Ticket], bool] | Match | None = None
    loops: int = 0
    loop_every: timedelta | None = None
    not_before: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or ":" in self.name:
            raise ConfigError(
                f"an escalation policy needs a non-empty name without ':', got {self.name!r}"
            )
        if not isinstance(self.loops, int) or self.loops < 0:
            raise ConfigError(f"loops must be 0 or more, got {self.loops!r}")
        if self.loops and (self.loop_every is None or self.loop_every <= timedelta(0)):
            raise ConfigError(
                f"policy {self.name!r} loops {self.loops} time(s): give loop_every, the clock "
                "time between passes"
            )
        if self.not_before is not None and self.not_before.tzinfo is None:
            raise ConfigError(f"policy {self.name!r}: not_before must be timezone-aware")
        clocked = [level for level in self.levels if level.trigger.kind != "condition"]
        reference = timedelta(hours=1)
        amounts = [level.trigger.amount_of(reference) for level in clocked]
        if amounts != sorted(amounts):
            raise ConfigError(
                f"policy {self.name!r}: levels must be in firing order; with a 1-hour target "
                f"they would fire after {', '.join(str(a) for a in amounts)}"
            )

    def applies(self, ticket: Ticket) -> bool:
        """Whether the policy is for ``ticket``."""
        return self.applies_to is None or bool(self.applies_to(ticket))

    def check(self, *, metrics: Iterable[str], groups: Iterable[str] | None = None) -> None:
        """Refuse a policy that names an unknown metric or group.

        Raises:
            ConfigError: listing every problem.
        """
        problems = []
        known = set(metrics)
        if self.metric not in known:
            problems.append(
                f"policy {self.name!r} escalates on unknown metric {self.metric!r} "
                f"(the desk keeps {', '.join(sorted(known))})"
            )
        if groups is not None:
            listed = set(groups)
            for number, level in enumerate(self.levels, 1):
                for action in level.actions:
                    if action.group is not None and action.group not in listed:
                        problems.append(
                            f"policy {self.name!r} level {number} reassigns to unknown group "
                            f"{action.group!r}; add it to the directory"
                        )
        if problems:
            raise ConfigError("; ".join(problems))


# -- steps ------------------------------------------------------------------------------------


@frozen
class Step:
    """One firing of a level: which policy, level (1-based), pass and repeat."""

    policy: str
    level: int
    loop: int
    repeat: int

    @property
    def tag(self) -> str:
        """The step's part of a timer key: ``esc:<policy>:<level>.<loop>.<repeat>``."""
        return f"esc:{self.policy}:{self.level}.{self.loop}.{self.repeat}"


def parse_step_key(key: str) -> Step | None:
    """The step a timer key names, or ``None`` for an SLA warning or breach key."""
    parts = key.split("/")
    if len(parts) < 5 or not parts[3].startswith("esc:"):
        return None
    _, policy, numbers = parts[3].split(":", 2)
    level, loop, repeat = (int(n) for n in numbers.split("."))
    return Step(policy, level, loop, repeat)


def _policy_for(policies: Sequence[EscalationPolicy], ticket: Ticket) -> EscalationPolicy | None:
    return next((p for p in policies if p.applies(ticket)), None)


def escalation_timers(
    projection: SLAProjection,
    *,
    escalations: Sequence[EscalationPolicy],
    policies: Sequence[SLAPolicy],
    calendar: BusinessCalendar,
    closed: bool = False,
) -> tuple[Timer, ...]:
    """The pending escalation steps of the ticket in ``projection``, as timers.

    Only the first policy that applies is used. Clock-relative levels follow
    the newest active cycle of the policy's metric that has a target; a met,
    stopped or paused clock schedules nothing; a step already carried out in
    the cycle (under an earlier target, before a priority change) is not
    scheduled again. Condition levels fire at the ticket's last change while
    the condition holds. ``closed`` tickets (closed
    or merged) never escalate.
    """
    ticket = projection.ticket
    if ticket is None or closed or not escalations:
        return ()
    policy = _policy_for(escalations, ticket)
    if policy is None:
        return ()
    out: list[Timer] = []
    done = frozenset(projection.escalated)
    for number, level in enumerate(policy.levels, 1):
        if level.trigger.kind != "condition":
            continue
        condition = level.trigger.condition
        if condition is not None and condition(ticket):
            step = Step(policy.name, number, 0, 0)
            at = _windowed(level, ticket.updated_at)
            if policy.not_before is None or at >= policy.not_before:
                out.append(_timer(ticket.id, "-", 0, step, at, 0, projection.policy_set))
    cycle = _newest_active(projection.cycles, policy.metric)
    if cycle is not None and cycle.target is not None:
        measure = _Measure(cycle.target, _calendars(policies, calendar).get(cycle.policy, calendar))
        within = cycle.target.within
        for loop in range(policy.loops + 1):
            shift = (policy.loop_every or timedelta(0)) * loop
            for number, level in enumerate(policy.levels, 1):
                if level.trigger.kind == "condition":
                    continue
                first = level.trigger.amount_of(within) + shift
                for repeat in range(level.max_repeats + 1):
                    amount = first + (level.repeat_every or timedelta(0)) * repeat
                    reached = _instant_for(cycle, amount, measure)
                    if reached is None:
                        break  # paused short of it: scheduled again when the clock runs
                    due = max(reached, cycle.target_since)
                    if policy.not_before is not None and due < policy.not_before:
                        continue
                    step = Step(policy.name, number, loop, repeat)
                    if f"{cycle.metric}/{cycle.number}/{step.tag}" in done:
                        continue  # carried out under an earlier target of this cycle
                    out.append(
                        _timer(
                            ticket.id,
                            cycle.metric,
                            cycle.number,
                            step,
                            _windowed(level, due),
                            cycle.target_version,
                            projection.policy_set,
                        )
                    )
    return tuple(sorted(out, key=lambda t: (t.at, t.key)))


def _newest_active(cycles: Sequence[Cycle], metric: str) -> Cycle | None:
    for cycle in reversed(cycles):
        if cycle.metric == metric:
            return cycle if cycle.active else None
    return None


def _windowed(level: Level, at: datetime) -> datetime:
    window = level.window
    if window is None or window.is_open(at):
        return at
    return window.next_open(at)


def _timer(
    ticket_id: str,
    metric: str,
    cycle: int,
    step: Step,
    at: datetime,
    version: int,
    policy_set: int,
) -> Timer:
    return Timer(
        key=f"{ticket_id}/{metric}/{cycle}/{step.tag}/g{policy_set}v{version}",
        ticket_id=ticket_id,
        at=at,
        metric=metric,
        cycle=cycle,
        kind="escalation",
        threshold=None,
        target_version=version,
        policy_set=policy_set,
    )


def raised(priority: Priority) -> Priority:
    """One priority step up (urgent, rank 1, stays urgent)."""
    by_rank = {p.rank: p for p in Priority}
    return by_rank.get(priority.rank - 1, priority)
