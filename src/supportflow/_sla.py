"""SLA clocks replayed from a ticket's history: pure functions, no clock reads.

A :class:`Metric` says when a clock starts, when it is met, in which state
categories it runs, and what stops or resumes it. An :class:`SLAPolicy` gives
targets per priority and metric, measured on a business calendar. Folding a
ticket's events through :class:`SLAProjection` yields, for each metric, its
cycles: when each ran, how much of its target it used, when it is due, whether
it was met or breached. The projection after the last event is what a desk
stores; :meth:`SLAProjection.report` turns it into an :class:`SLAReport` at any
later instant. Replaying the same history always gives the same deadlines, to
the microsecond.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs
from attrs import field, frozen

from supportflow._calendar import BusinessCalendar
from supportflow._lifecycle import Lifecycle
from supportflow._model import Category, Channel, Priority, Ticket
from supportflow.errors import ConfigError, ValidationError
from supportflow.events import CommentAdded, Escalated, Event, TicketOpened, apply

__all__ = [
    "FIRST_RESPONSE",
    "NEXT_RESPONSE",
    "PERIODIC_UPDATE",
    "RESOLUTION",
    "STANDARD_METRICS",
    "ClockReport",
    "ClockStatus",
    "Match",
    "Metric",
    "MetricReport",
    "SLAPolicy",
    "SLAProjection",
    "SLAReport",
    "Step",
    "Target",
    "Timer",
    "customer_reply",
    "entered",
    "left",
    "opened",
    "staff_reply",
]


class ClockStatus(enum.StrEnum):
    """Where an SLA clock stands."""

    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    """A clock that breached stays breached (sticky), even if it is met later."""
    STOPPED = "stopped"
    """Ended without being met or breached (the ticket was cancelled, merged, or
    the clock's work stopped being due)."""


# -- conditions ----------------------------------------------------------------------------


@frozen
class Step:
    """One event as a metric's conditions see it.

    Attributes:
        event: the event.
        before: the ticket before it (``None`` for the opening event).
        after: the ticket after it.
        category_before: the category of the state before (``None`` when opening).
        category_after: the category of the state after.
        responded: whether staff had publicly replied before this event.
    """

    event: Event
    before: Ticket | None
    after: Ticket
    category_before: Category | None
    category_after: Category
    responded: bool


#: A breach is the first instant after the deadline: the deadline itself is on time.
BREACH_AFTER = timedelta(microseconds=1)

#: A predicate over a :class:`Step`.
Condition = Callable[[Step], bool]


def never(step: Step) -> bool:
    """A condition that never holds."""
    return False


def opened() -> Condition:
    """Holds for the event that opens the ticket."""
    return lambda step: isinstance(step.event, TicketOpened)


def staff_reply() -> Condition:
    """Holds for a public reply by an agent or supervisor (never an internal note)."""
    return lambda step: isinstance(step.event, CommentAdded) and step.event.is_response


def customer_reply() -> Condition:
    """Holds for a public message from the customer."""
    return lambda step: isinstance(step.event, CommentAdded) and step.event.is_customer_message


def entered(*categories: Category | str) -> Condition:
    """Holds when the ticket moves into one of ``categories`` from outside them."""
    wanted = frozenset(Category.parse(c) for c in categories)
    return lambda step: step.category_after in wanted and step.category_before not in wanted


def left(*categories: Category | str) -> Condition:
    """Holds when the ticket moves out of ``categories``."""
    wanted = frozenset(Category.parse(c) for c in categories)
    return lambda step: step.category_before in wanted and step.category_after not in wanted


def _any(*conditions: Condition) -> Condition:
    return lambda step: any(condition(step) for condition in conditions)


def _both(first: Condition, second: Condition) -> Condition:
    return lambda step: first(step) and second(step)


def _after_first_response(condition: Condition) -> Condition:
    return lambda step: step.responded and condition(step)


def _categories(values: Iterable[Category | str]) -> frozenset[Category]:
    return frozenset(Category.parse(v) for v in values)


@frozen
class Metric:
    """An SLA clock defined by when it starts, runs, pauses and ends.

    Args:
        name: the metric's name, used in policies' targets and reports.
        starts: when a cycle starts (if none is under way).
        met_by: what meets the cycle under way.
        runs_in: the state categories in which the clock runs; in any other
            category it is paused.
        stopped_by: what ends the cycle under way without meeting it.
        resumed_by: what reopens the last met cycle, keeping the time it used.
        repeats: whether a new cycle may start after one ends.
        restart_when_met: start the next cycle at the instant one is met, if
            the ticket is in a category the clock runs in.
        description: free text.
    """

    name: str
    starts: Condition = field(eq=False)
    met_by: Condition = field(eq=False)
    runs_in: frozenset[Category] = field(converter=_categories)
    stopped_by: Condition = field(default=never, eq=False)
    resumed_by: Condition = field(default=never, eq=False)
    repeats: bool = False
    restart_when_met: bool = False
    description: str = field(default="", eq=False)


_OPEN_CATEGORIES = (Category.NEW, Category.ACTIVE, Category.WAITING)

FIRST_RESPONSE = Metric(
    "first_response",
    starts=opened(),
    met_by=staff_reply(),
    runs_in=_OPEN_CATEGORIES,
    stopped_by=entered(Category.CLOSED),
    description="From creation to the first public reply by staff.",
)
NEXT_RESPONSE = Metric(
    "next_response",
    starts=_after_first_response(customer_reply()),
    met_by=staff_reply(),
    runs_in=_OPEN_CATEGORIES,
    stopped_by=entered(Category.RESOLVED, Category.CLOSED),
    repeats=True,
    description="From a customer message without an answer to the next public staff reply.",
)
PERIODIC_UPDATE = Metric(
    "periodic_update",
    starts=entered(Category.ACTIVE),
    met_by=staff_reply(),
    runs_in=(Category.ACTIVE,),
    stopped_by=left(Category.ACTIVE),
    repeats=True,
    restart_when_met=True,
    description="While the ticket is active, a public staff update every so often.",
)
RESOLUTION = Metric(
    "resolution",
    starts=opened(),
    met_by=entered(Category.RESOLVED),
    runs_in=(Category.NEW, Category.ACTIVE),
    stopped_by=entered(Category.CLOSED),
    resumed_by=_both(
        left(Category.RESOLVED), lambda step: step.category_after is not Category.CLOSED
    ),
    description="Time worked until resolved; waiting and resolved time do not count.",
)

#: The metrics a desk tracks unless told otherwise.
STANDARD_METRICS: tuple[Metric, ...] = (FIRST_RESPONSE, NEXT_RESPONSE, PERIODIC_UPDATE, RESOLUTION)


# -- policies -------------------------------------------------------------------------------


@frozen
class Target:
    """How long a clock may take: ``within`` of business time, or of calendar
    time when ``business`` is false."""

    within: timedelta
    business: bool = True

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.within, timedelta) or self.within <= timedelta(0):
            raise ConfigError(f"an SLA target must be a positive timedelta, got {self.within!r}")


def _targets(
    value: Mapping[Priority | str, Mapping[str, Target | timedelta]],
) -> Mapping[Priority, Mapping[str, Target]]:
    out: dict[Priority, Mapping[str, Target]] = {}
    for priority, metrics in value.items():
        try:
            key = Priority.parse(priority)
        except ValidationError as exc:
            raise ConfigError(f"SLA targets: {exc}") from None
        out[key] = MappingProxyType(
            {name: t if isinstance(t, Target) else Target(t) for name, t in metrics.items()}
        )
    return MappingProxyType(out)


def _fractions(values: Iterable[float]) -> tuple[float, ...]:
    fractions = tuple(sorted(set(values)))
    for value in fractions:
        if not 0 < value < 1:
            raise ConfigError(
                f"warn_at fractions must be between 0 and 1 (exclusive), got {value!r}; "
                "e.g. warn_at=(0.5, 0.75)"
            )
    return fractions


def _listed(value: Any) -> tuple[Any, ...]:
    return (value,) if isinstance(value, str | enum.Enum) else tuple(value or ())


def _priorities(value: Any) -> tuple[str, ...]:
    return tuple(Priority.parse(v).value for v in _listed(value))


def _channels(value: Any) -> tuple[str, ...]:
    return tuple(Channel.parse(v).value for v in _listed(value))


def _plain_strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in _listed(value))


def _plain_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


@frozen
class Match:
    """A ticket condition for :attr:`SLAPolicy.applies_to`: every given field must match.

    A field given as a collection matches any of its values; ``tags`` matches
    if the ticket has any of them; ``fields`` compares custom fields.
    ``tier`` and ``organization`` match the custom fields of the same names,
    which :meth:`Desk.open_ticket <supportflow.Desk.open_ticket>` fills from
    the desk's :class:`~supportflow.Directory` when it knows the requester
    (so a ticket keeps the tier it was opened with, and replays agree).

    >>> Match(priority=["urgent", "high"], channel="email", tier="vip")
    Match(priority=('urgent', 'high'), channel=('email',), category=(), tags=(), requester=(), \
fields={}, tier=('vip',), organization=())
    """

    priority: tuple[str, ...] = field(default=(), converter=_priorities)
    channel: tuple[str, ...] = field(default=(), converter=_channels)
    category: tuple[str, ...] = field(default=(), converter=_plain_strings)
    tags: tuple[str, ...] = field(default=(), converter=_plain_strings)
    requester: tuple[str, ...] = field(default=(), converter=_plain_strings)
    fields: Mapping[str, Any] = field(factory=dict, converter=_plain_dict)
    tier: tuple[str, ...] = field(default=(), converter=_plain_strings)
    organization: tuple[str, ...] = field(default=(), converter=_plain_strings)

    def __call__(self, ticket: Ticket) -> bool:
        return (
            (not self.priority or ticket.priority.value in self.priority)
            and (not self.channel or ticket.channel.value in self.channel)
            and (not self.category or ticket.category in self.category)
            and (not self.tags or any(tag in ticket.tags for tag in self.tags))
            and (not self.requester or ticket.requester in self.requester)
            and (not self.tier or ticket.fields.get("tier") in self.tier)
            and (not self.organization or ticket.fields.get("organization") in self.organization)
            and all(ticket.fields.get(k) == v for k, v in self.fields.items())
        )


def _always(ticket: Ticket) -> bool:
    return True


@frozen
class SLAPolicy:
    """Targets per priority and metric, on a business calendar, for the tickets it applies to.

    Args:
        name: shown in reports and explanations.
        targets: ``{priority: {metric: timedelta or Target}}``; priorities may
            be given as names or ``P1`` to ``P4``. A plain timedelta counts
            business time; ``Target(d, business=False)`` counts calendar time.
        calendar: the business hours; the desk's calendar if ``None``.
        applies_to: which tickets the policy is for: a :class:`Match`, or any
            callable taking a :class:`~supportflow.Ticket`. All tickets if ``None``.
        warn_at: fractions of a target at which warnings fall due.

    A desk holds an ordered list of policies; the first that applies to a
    ticket is the one in force, re-evaluated after every event.
    """

    name: str
    targets: Mapping[Priority, Mapping[str, Target]] = field(converter=_targets)
    calendar: BusinessCalendar | None = None
    applies_to: Callable[[Ticket], bool] | None = field(default=None, eq=False)
    warn_at: tuple[float, ...] = field(default=(0.75,), converter=_fractions)

    def applies(self, ticket: Ticket) -> bool:
        """Whether this policy is for ``ticket``."""
        return (self.applies_to or _always)(ticket)

    def target(self, priority: Priority, metric: str) -> Target | None:
        """The target for ``metric`` at ``priority``, if the policy sets one."""
        return self.targets.get(priority, {}).get(metric)

    @property
    def metric_names(self) -> frozenset[str]:
        return frozenset(name for metrics in self.targets.values() for name in metrics)


# -- replay state -----------------------------------------------------------------------------


@frozen
class Cycle:
    """One run of a metric's clock, as of the last event folded in.

    ``segments`` are the closed intervals in which the clock ran; if
    ``running_since`` is set, it is running now. ``used`` is the time counted
    in the closed segments (business or calendar, per the target).
    """

    metric: str
    number: int
    started_at: datetime
    policy: str | None
    target: Target | None
    target_version: int
    target_since: datetime
    segments: tuple[tuple[datetime, datetime], ...]
    used: timedelta
    running_since: datetime | None
    outcome: str | None  # None (under way), "met" or "stopped"
    ended_at: datetime | None
    breached_at: datetime | None
    warnings: tuple[tuple[float, datetime], ...]
    breach_version: int | None = None

    @property
    def active(self) -> bool:
        return self.outcome is None


@frozen
class SLAProjection:
    """What the SLA engine knows after folding a ticket's events.

    This is the projection a desk stores with the ticket; :meth:`report` turns
    it into an :class:`SLAReport` at any later instant, exactly as a fresh
    replay of the whole history would.
    """

    ticket: Ticket | None
    cycles: tuple[Cycle, ...]
    responded: bool
    policy_set: int
    policy: str | None
    #: When the ticket entered its current state, and the version of the event
    #: that moved it there (what auto-close and reminders count from).
    state_since: datetime | None = None
    state_version: int = 0
    #: The escalation steps carried out, as ``<metric>/<cycle>/<step tag>``: a
    #: step fires once per clock cycle, even when a new target reschedules it.
    escalated: tuple[str, ...] = ()

    @classmethod
    def empty(cls, policy_set: int = 0) -> SLAProjection:
        """The projection before a ticket's first event; fold a whole history
        into it to replay the ticket."""
        return cls(ticket=None, cycles=(), responded=False, policy_set=policy_set, policy=None)

    def fold(
        self,
        events: Iterable[Event],
        *,
        lifecycle: Lifecycle,
        policies: Sequence[SLAPolicy],
        calendar: BusinessCalendar,
        metrics: Sequence[Metric] = STANDARD_METRICS,
    ) -> SLAProjection:
        """Fold ``events`` (the next ones in the ticket's history) into the projection."""
        engine = _Engine(self, lifecycle, policies, calendar, metrics)
        for event in events:
            engine.feed(event)
        return engine.projection()

    def report(
        self, now: datetime, *, policies: Sequence[SLAPolicy], calendar: BusinessCalendar
    ) -> SLAReport:
        """The SLA status of every clock at ``now`` (not before the last event)."""
        if self.ticket is not None and now < self.ticket.updated_at:
            raise ValidationError(
                f"cannot report SLA status at {now.isoformat()}: the ticket's last event is at "
                f"{self.ticket.updated_at.isoformat()}; ask for an instant at or after it"
            )
        calendars = _calendars(policies, calendar)
        fractions = self.warn_at(policies)
        reports: dict[str, list[ClockReport]] = {}
        for cycle in self.cycles:
            reports.setdefault(cycle.metric, []).append(
                _clock_report(cycle, now, calendars, fractions)
            )
        return SLAReport(
            ticket_id=None if self.ticket is None else self.ticket.id,
            at=now,
            policy=self.policy,
            metrics=MappingProxyType(
                {name: MetricReport(name, tuple(cycles)) for name, cycles in reports.items()}
            ),
        )

    def warn_at(self, policies: Sequence[SLAPolicy]) -> tuple[float, ...]:
        for policy in policies:
            if policy.name == self.policy:
                return policy.warn_at
        return ()

    def timers(
        self, *, policies: Sequence[SLAPolicy], calendar: BusinessCalendar
    ) -> tuple[Timer, ...]:
        """The warning and breach instants of the clocks under way, and the
        breaches of ended clocks, with stable keys.

        A timer's key names the ticket, metric, cycle, kind, policy generation
        and target version (``.../breach/g1v2``), so a target that changes (a
        new priority) voids the old timers, and a breach keeps the key of the
        target it breached.
        """
        if self.ticket is None:
            return ()
        calendars = _calendars(policies, calendar)
        fractions = self.warn_at(policies)
        out: list[Timer] = []
        for cycle in self.cycles:
            if cycle.target is None:
                continue
            measure = _Measure(cycle.target, calendars.get(cycle.policy, calendar))
            if cycle.active:
                passed = dict(cycle.warnings)
                for fraction in fractions:
                    at = passed.get(fraction) or _instant_for(
                        cycle, cycle.target.within * fraction, measure
                    )
                    if at is not None:
                        at = max(at, cycle.target_since)
                        out.append(self._timer(cycle, "warning", at, fraction))
            if cycle.breached_at is not None:
                version = cycle.breach_version or cycle.target_version
                out.append(self._timer(cycle, "breach", cycle.breached_at, None, version))
            elif cycle.active:
                due = _instant_for(cycle, cycle.target.within, measure)
                if due is not None:
                    # The deadline itself is still on time: the breach is the
                    # first instant after it, when a report says "breached".
                    at = max(due + BREACH_AFTER, cycle.target_since)
                    out.append(self._timer(cycle, "breach", at, None))
        return tuple(sorted(out, key=lambda t: (t.at, t.key)))

    def _timer(
        self,
        cycle: Cycle,
        kind: str,
        at: datetime,
        fraction: float | None,
        version: int | None = None,
    ) -> Timer:
        assert self.ticket is not None
        suffix = kind if fraction is None else f"{kind}@{fraction:g}"
        version = cycle.target_version if version is None else version
        # The policy generation is part of the version: recomputing a ticket
        # under new policies starts target versions afresh, and its new
        # deadlines must not collide with keys already fired under the old ones.
        tag = f"g{self.policy_set}v{version}"
        return Timer(
            key=f"{self.ticket.id}/{cycle.metric}/{cycle.number}/{suffix}/{tag}",
            ticket_id=self.ticket.id,
            at=at,
            metric=cycle.metric,
            cycle=cycle.number,
            kind=kind,
            threshold=fraction,
            target_version=version,
            policy_set=self.policy_set,
        )


@frozen
class Timer:
    """An instant at which something about a clock falls due (a warning or a breach).

    ``key`` is deterministic: the same history yields the same keys, so firing
    is idempotent however many runners there are.
    """

    key: str
    ticket_id: str
    at: datetime
    metric: str
    cycle: int
    kind: str
    threshold: float | None
    target_version: int
    policy_set: int = 0


# -- the fold -----------------------------------------------------------------------------------


class _Measure:
    """Counts a target's time: business time on a calendar, or plain time."""

    __slots__ = ("business", "calendar")

    def __init__(self, target: Target | None, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.business = target is None or target.business

    def between(self, start: datetime, end: datetime) -> timedelta:
        return self.calendar.elapsed(start, end) if self.business else end - start

    def add(self, start: datetime, amount: timedelta) -> datetime:
        return self.calendar.add(start, amount) if self.business else start + amount


def _calendars(
    policies: Sequence[SLAPolicy], default: BusinessCalendar
) -> dict[str | None, BusinessCalendar]:
    out: dict[str | None, BusinessCalendar] = {None: default}
    for policy in policies:
        out.setdefault(policy.name, policy.calendar or default)
    return out


def _instant_for(cycle: Cycle, amount: timedelta, measure: _Measure) -> datetime | None:
    """When the cycle's counted time reaches ``amount``: inside a past segment,
    in the running one, or ``None`` while paused short of it."""
    if cycle.used < amount:
        # Not reached in the closed segments (``used`` is their total under the
        # current measure), so no need to walk them.
        since = cycle.running_since
        return None if since is None else measure.add(since, amount - cycle.used)
    used = timedelta(0)
    for start, end in cycle.segments:
        length = measure.between(start, end)
        if used + length >= amount:
            return measure.add(start, amount - used) if amount > used else start
        used += length
    return None  # unreachable while used == the segments' total; kept for safety


class _Engine:
    """Mutable replay of one ticket; produces an immutable :class:`SLAProjection`."""

    def __init__(
        self,
        start: SLAProjection,
        lifecycle: Lifecycle,
        policies: Sequence[SLAPolicy],
        calendar: BusinessCalendar,
        metrics: Sequence[Metric],
    ) -> None:
        self.lifecycle = lifecycle
        self.policies = policies
        self.calendars = _calendars(policies, calendar)
        self.default_calendar = calendar
        self.metrics = metrics
        self.ticket = start.ticket
        self.responded = start.responded
        self.policy_set = start.policy_set
        self.policy: str | None = start.policy
        self.cycles: list[dict[str, Any]] = [attrs.asdict(c, recurse=False) for c in start.cycles]
        self.state_since = start.state_since
        self.state_version = start.state_version
        self.escalated = start.escalated

    # one event -------------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        before = self.ticket
        after = apply(before, event)
        at = event.at
        self._advance(at)
        category_before = None if before is None else self.lifecycle.category(before.state)
        category_after = self.lifecycle.category(after.state)
        step = Step(event, before, after, category_before, category_after, self.responded)
        policy = self._policy_for(after)
        self.policy = None if policy is None else policy.name
        for metric in self.metrics:
            self._step_metric(metric, step, policy, at)
        self._retarget(after, policy, at)
        for cycle in self.cycles:
            self._set_running(cycle, category_after, at)
        if isinstance(event, CommentAdded) and event.is_response:
            self.responded = True
        if before is None or before.state != after.state:
            self.state_since, self.state_version = at, event.version
        if isinstance(event, Escalated):
            tag = f"esc:{event.policy}:{event.level}.{event.loop}.{event.repeat}"
            self.escalated = (*self.escalated, f"{event.metric}/{event.cycle}/{tag}")
        self.ticket = after

    def _policy_for(self, ticket: Ticket) -> SLAPolicy | None:
        return next((p for p in self.policies if p.applies(ticket)), None)

    def _metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def _current(self, metric: Metric) -> dict[str, Any] | None:
        for cycle in reversed(self.cycles):
            if cycle["metric"] == metric.name:
                found: dict[str, Any] = cycle
                return found
        return None

    def _step_metric(
        self, metric: Metric, step: Step, policy: SLAPolicy | None, at: datetime
    ) -> None:
        current = self._current(metric)
        if current is not None and current["outcome"] == "met" and metric.resumed_by(step):
            current["outcome"] = None
            current["ended_at"] = None
        active = current is not None and current["outcome"] is None
        if active and current is not None:
            if metric.met_by(step):
                self._end(current, "met", at)
                active = False
                if metric.restart_when_met and step.category_after in metric.runs_in:
                    self._start(metric, policy, step.after, at)
                    return
            elif metric.stopped_by(step):
                self._end(current, "stopped", at)
                active = False
        if not active and metric.starts(step) and (current is None or metric.repeats):
            self._start(metric, policy, step.after, at)

    def _start(
        self, metric: Metric, policy: SLAPolicy | None, ticket: Ticket, at: datetime
    ) -> None:
        number = 1 + sum(1 for c in self.cycles if c["metric"] == metric.name)
        target = None if policy is None else policy.target(ticket.priority, metric.name)
        self.cycles.append(
            {
                "metric": metric.name,
                "number": number,
                "started_at": at,
                "policy": None if policy is None else policy.name,
                "target": target,
                "target_version": 1,
                "target_since": at,
                "segments": (),
                "used": timedelta(0),
                "running_since": None,
                "outcome": None,
                "ended_at": None,
                "breached_at": None,
                "warnings": (),
                "breach_version": None,
            }
        )

    def _measure(self, cycle: dict[str, Any]) -> _Measure:
        return _Measure(cycle["target"], self.calendars.get(cycle["policy"], self.default_calendar))

    def _end(self, cycle: dict[str, Any], outcome: str, at: datetime) -> None:
        self._pause(cycle, at)
        cycle["outcome"] = outcome
        cycle["ended_at"] = at

    def _pause(self, cycle: dict[str, Any], at: datetime) -> None:
        since = cycle["running_since"]
        if since is None:
            return
        if at > since:
            cycle["segments"] = (*cycle["segments"], (since, at))
            cycle["used"] = cycle["used"] + self._measure(cycle).between(since, at)
        cycle["running_since"] = None

    def _set_running(self, cycle: dict[str, Any], category: Category, at: datetime) -> None:
        if cycle["outcome"] is not None:
            return
        runs = category in self._metric(cycle["metric"]).runs_in
        if runs and cycle["running_since"] is None:
            cycle["running_since"] = at
        elif not runs:
            self._pause(cycle, at)

    def _retarget(self, ticket: Ticket, policy: SLAPolicy | None, at: datetime) -> None:
        for cycle in self.cycles:
            if cycle["outcome"] is not None:
                continue
            name = None if policy is None else policy.name
            target = None if policy is None else policy.target(ticket.priority, cycle["metric"])
            if target != cycle["target"] or name != cycle["policy"]:
                # The new target counts from the clock's start: re-measure the time
                # used so far with the new measure (calendar, business or not).
                cycle["target"] = target
                cycle["policy"] = name
                cycle["target_version"] += 1
                cycle["target_since"] = at
                # Warnings belong to a target: the new one has its own thresholds.
                cycle["warnings"] = ()
                measure = self._measure(cycle)
                cycle["used"] = sum(
                    (measure.between(start, end) for start, end in cycle["segments"]),
                    timedelta(0),
                )

    def _advance(self, until: datetime) -> None:
        """Record the warnings and breaches that fall due before ``until``."""
        fractions = self._warn_at()
        for cycle in self.cycles:
            if cycle["outcome"] is not None or cycle["target"] is None:
                continue
            _note_thresholds(cycle, until, self._measure(cycle), fractions)

    def _warn_at(self) -> tuple[float, ...]:
        for policy in self.policies:
            if policy.name == self.policy:
                return policy.warn_at
        return ()

    def projection(self) -> SLAProjection:
        return SLAProjection(
            ticket=self.ticket,
            cycles=tuple(Cycle(**c) for c in self.cycles),
            responded=self.responded,
            policy_set=self.policy_set,
            policy=self.policy,
            state_since=self.state_since,
            state_version=self.state_version,
            escalated=self.escalated,
        )


def _note_thresholds(
    cycle: dict[str, Any], until: datetime, measure: _Measure, fractions: Sequence[float]
) -> None:
    target: Target = cycle["target"]
    since = cycle["running_since"]
    # Business time never runs faster than real time: thresholds beyond this
    # bound cannot have been reached by ``until``, so skip computing them.
    reach = (
        cycle["used"] + (until - since) if since is not None and until > since else cycle["used"]
    )
    frozen_cycle = Cycle(**cycle)
    if cycle["breached_at"] is None and reach >= target.within:
        due = _instant_for(frozen_cycle, target.within, measure)
        if due is not None and due < until:
            cycle["breached_at"] = max(due, cycle["target_since"])
            cycle["breach_version"] = cycle["target_version"]
    passed = {fraction for fraction, _ in cycle["warnings"]}
    for fraction in fractions:
        if fraction in passed or reach < target.within * fraction:
            continue
        at = _instant_for(frozen_cycle, target.within * fraction, measure)
        if at is not None and at <= until:
            cycle["warnings"] = (*cycle["warnings"], (fraction, max(at, cycle["target_since"])))


# -- reports ---------------------------------------------------------------------------------------


@frozen
class ClockReport:
    """One cycle of an SLA clock, as of :attr:`at`.

    Attributes:
        metric: the clock's metric.
        cycle: which of its cycles, from 1.
        at: the instant the report describes.
        status: see :class:`ClockStatus`.
        started_at: when the cycle started.
        policy: the name of the policy in force.
        target: the target in force, or ``None`` if the policy sets none.
        target_version: counts target changes (a new priority), from 1.
        due_at: when the target is used up; ``None`` while paused short of it,
            and for a cycle that ended while paused.
        elapsed: the time counted so far.
        remaining: the time left (negative once overdue).
        met_at: when the cycle was met.
        breached_at: when it breached (sticky).
        stopped_at: when it stopped without being met.
        warnings: the warning thresholds passed, with their instants.
        segments: the intervals in which the clock ran.
        calendar: the business calendar the time was counted on.
    """

    metric: str
    cycle: int
    at: datetime
    status: ClockStatus
    started_at: datetime
    policy: str | None
    target: Target | None
    target_version: int
    due_at: datetime | None
    elapsed: timedelta
    remaining: timedelta | None
    met_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
    warnings: tuple[tuple[float, datetime], ...]
    segments: tuple[tuple[datetime, datetime], ...]
    calendar: BusinessCalendar | None = field(eq=False, repr=False)

    def explain(self) -> str:
        """A human-readable account of how the deadline and status were reached."""
        lines = [f"{self.metric} cycle {self.cycle}: {self.status.value} at {_fmt(self.at)}"]
        if self.target is None:
            lines.append(f"  no target: policy {self.policy!r} sets none for this priority")
        else:
            kind = "business" if self.target.business else "calendar"
            lines.append(
                f"  policy {self.policy!r}: {_fmt_delta(self.target.within)} of {kind} time "
                f"(target version {self.target_version})"
            )
        lines.append(f"  started {_fmt(self.started_at)}")
        for start, end in self.segments:
            counted = (
                self.calendar.elapsed(start, end)
                if self.calendar is not None and (self.target is None or self.target.business)
                else end - start
            )
            lines.append(f"  ran {_fmt(start)} -> {_fmt(end)}: counted {_fmt_delta(counted)}")
        lines.append(f"  counted {_fmt_delta(self.elapsed)} in all")
        if self.due_at is not None:
            lines.append(f"  due {_fmt(self.due_at)}")
        for fraction, at in self.warnings:
            lines.append(f"  warning at {fraction:.0%} passed {_fmt(at)}")
        if self.breached_at is not None:
            lines.append(f"  breached {_fmt(self.breached_at)}")
        if self.met_at is not None:
            lines.append(f"  met {_fmt(self.met_at)}")
        if self.stopped_at is not None:
            lines.append(f"  stopped {_fmt(self.stopped_at)}")
        return "\n".join(lines)


def _fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_delta(delta: timedelta) -> str:
    sign = "-" if delta < timedelta(0) else ""
    seconds = int(abs(delta).total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m{rest % 60:02d}s"


def _clock_report(
    cycle: Cycle,
    now: datetime,
    calendars: Mapping[str | None, BusinessCalendar],
    fractions: Sequence[float],
) -> ClockReport:
    calendar = calendars.get(cycle.policy, calendars[None])
    measure = _Measure(cycle.target, calendar)
    working: dict[str, Any] = {"breached_at": cycle.breached_at, "warnings": cycle.warnings}
    if cycle.active and cycle.target is not None:
        working = attrs.asdict(cycle, recurse=False)
        _note_thresholds(working, now, measure, fractions)
    segments = cycle.segments
    elapsed = cycle.used
    if cycle.running_since is not None and now > cycle.running_since:
        segments = (*segments, (cycle.running_since, now))
        elapsed += measure.between(cycle.running_since, now)
    due = None if cycle.target is None else _instant_for(cycle, cycle.target.within, measure)
    if (
        due is None
        and cycle.target is not None
        and cycle.ended_at is not None
        and cycle.segments
        and cycle.segments[-1][1] == cycle.ended_at
    ):
        # Ended while running: report the deadline it was running against.
        due = measure.add(cycle.ended_at, cycle.target.within - cycle.used)
    breached_at = working["breached_at"]
    if breached_at is not None:
        status = ClockStatus.BREACHED
    elif cycle.outcome == "met":
        status = ClockStatus.MET
    elif cycle.outcome == "stopped":
        status = ClockStatus.STOPPED
    elif cycle.running_since is not None:
        status = ClockStatus.RUNNING
    else:
        status = ClockStatus.PAUSED
    return ClockReport(
        metric=cycle.metric,
        cycle=cycle.number,
        at=now,
        status=status,
        started_at=cycle.started_at,
        policy=cycle.policy,
        target=cycle.target,
        target_version=cycle.target_version,
        due_at=due,
        elapsed=elapsed,
        remaining=None if cycle.target is None else cycle.target.within - elapsed,
        met_at=cycle.ended_at if cycle.outcome == "met" else None,
        breached_at=breached_at,
        stopped_at=cycle.ended_at if cycle.outcome == "stopped" else None,
        warnings=working["warnings"],
        segments=segments,
        calendar=calendar,
    )


@frozen
class MetricReport:
    """Every cycle of one metric.

    The latest cycle's ``status``, ``due_at``, ``elapsed``, ``remaining``,
    ``met_at``, ``breached_at`` and ``warnings`` are available directly
    (``report["first_response"].status``); :attr:`current` is the whole
    :class:`ClockReport`.
    """

    name: str
    cycles: tuple[ClockReport, ...]

    @property
    def current(self) -> ClockReport | None:
        """The latest cycle, or ``None`` if the clock never started."""
        return self.cycles[-1] if self.cycles else None

    @property
    def status(self) -> ClockStatus:
        """The latest cycle's status (``not_started`` if none)."""
        return ClockStatus.NOT_STARTED if not self.cycles else self.cycles[-1].status

    @property
    def due_at(self) -> datetime | None:
        """The latest cycle's deadline."""
        return None if not self.cycles else self.cycles[-1].due_at

    @property
    def elapsed(self) -> timedelta:
        """The time the latest cycle has counted."""
        return timedelta(0) if not self.cycles else self.cycles[-1].elapsed

    @property
    def remaining(self) -> timedelta | None:
        """The time the latest cycle has left."""
        return None if not self.cycles else self.cycles[-1].remaining

    @property
    def met_at(self) -> datetime | None:
        """When the latest cycle was met."""
        return None if not self.cycles else self.cycles[-1].met_at

    @property
    def breached_at(self) -> datetime | None:
        """When the latest cycle breached."""
        return None if not self.cycles else self.cycles[-1].breached_at

    @property
    def warnings(self) -> tuple[tuple[float, datetime], ...]:
        """The warning thresholds the latest cycle passed."""
        return () if not self.cycles else self.cycles[-1].warnings

    def explain(self) -> str:
        """The explanation of every cycle."""
        if not self.cycles:
            return f"{self.name}: not started"
        return "\n".join(cycle.explain() for cycle in self.cycles)


@frozen
class SLAReport:
    """A ticket's SLA clocks at one instant: ``report["resolution"].due_at``.

    Metrics the ticket never started report ``not_started``.
    """

    ticket_id: str | None
    at: datetime
    policy: str | None
    metrics: Mapping[str, MetricReport]

    def __getitem__(self, name: str) -> MetricReport:
        return self.metrics.get(name) or MetricReport(name, ())

    def __iter__(self) -> Iterator[str]:
        return iter(self.metrics)

    def explain(self) -> str:
        """The explanation of every clock."""
        head = f"SLA for ticket {self.ticket_id} at {_fmt(self.at)} (policy {self.policy!r})"
        return "\n".join([head, *(m.explain() for m in self.metrics.values())])
