"""Assignment strategies: which agent gets a ticket.

Assigning a ticket takes two steps. :func:`eligible` narrows the directory to
the agents who may take the ticket at the instant ``now``: members of the group
(every agent when no group is given), marked available, inside their working
hours, below their capacity and, when asked, of one tier. A strategy then picks
one of them. :func:`assign` runs both steps and returns ``None`` when nobody is
eligible, so the caller can leave the ticket waiting in the group's queue.

Three strategies ship, under the names a configuration uses
(:data:`BUILTIN_STRATEGIES`, :func:`strategy_named`):

* ``"round_robin"``, :class:`RoundRobin`: takes turns through the group.
* ``"least_loaded"``, :class:`LeastLoaded`: the agent with the fewest open tickets.
* ``"skills"``, :class:`SkillsBased`: the agent whose skills best cover the
  ticket's category and tags, with another strategy to break ties.

Any object with a ``choose`` method of the :class:`AssignmentStrategy` shape
can be used in their place.

**Where round-robin keeps its turn.** Nowhere in memory. The turn is derived
from one fact the store already holds: the agent most recently assigned a
ticket in the group (``last_assigned``). The caller reads it from the tickets'
histories and passes it in; the strategy picks the next agent after that one in
the group's directory order, wrapping at the end. Because there is no cursor in
a process, a restart loses nothing and several processes sharing one store
agree on whose turn it is. Two processes that assign at the very same moment
may both read the same fact and pick the same agent; the next assignment reads
the newer fact and the rotation carries on from there, so the spread stays
even. Given the same inputs, every strategy returns the same agent.

>>> from datetime import UTC, datetime
>>> from supportflow._directory import Agent, Directory
>>> from supportflow._model import Channel, Priority, Ticket
>>> now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
>>> ticket = Ticket(
...     id="t1", subject="VPN down", requester="alice@acme.test", channel=Channel.EMAIL,
...     priority=Priority.HIGH, state="new", version=1, created_at=now, updated_at=now,
...     tags=("vpn",),
... )
>>> staff = Directory(agents=[
...     Agent("ann", groups="network"),
...     Agent("raj", groups="network", skills=["vpn"]),
...     Agent("kim", groups="network"),
... ])
>>> picked = assign(ticket, staff, RoundRobin(), group="network", now=now,
...                 workload=Workload(), last_assigned="ann")
>>> picked.id
'raj'
>>> assign(ticket, staff, "least_loaded", group="network", now=now,
...        workload=Workload({"ann": 2, "raj": 1})).id
'kim'
>>> assign(ticket, staff, SkillsBased(), group="network", now=now, workload=Workload()).id
'raj'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from attrs import field, frozen

from supportflow._directory import Agent, Directory
from supportflow._model import Ticket, Tier
from supportflow._time import ensure_aware
from supportflow.errors import ConfigError, ValidationError

__all__ = [
    "BUILTIN_STRATEGIES",
    "AssignmentContext",
    "AssignmentStrategy",
    "LeastLoaded",
    "RoundRobin",
    "SkillsBased",
    "Workload",
    "assign",
    "eligible",
    "strategy_named",
]


# --------------------------------------------------------------------------- workload


def _counts(value: Mapping[str, int] | None) -> Mapping[str, int]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"a workload is a mapping of agent id to open tickets, got {value!r}; "
            'pass e.g. Workload({"ann": 3})'
        )
    counts: dict[str, int] = {}
    for agent_id, count in value.items():
        if not isinstance(agent_id, str) or not agent_id.strip():
            raise ValidationError(
                f"workload key {agent_id!r} is not an agent id; use the agent's id string"
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError(
                f"workload of agent {agent_id!r} is {count!r}; give the number of open "
                "tickets as an int of 0 or more"
            )
        if count:
            counts[agent_id] = count
    return MappingProxyType(counts)


@frozen(eq=False, repr=False)
class Workload(Mapping[str, int]):
    """How many open tickets each agent holds, as computed by the caller from the store.

    A read-only mapping of agent id to count. Agents it does not list hold
    none; a count of 0 is the same as leaving the agent out, so two workloads
    are equal when every agent has the same count in both.

    >>> load = Workload({"ann": 3, "raj": 0})
    >>> load.of("ann"), load.of("raj"), load.of("kim")
    (3, 0, 0)
    >>> load == Workload({"ann": 3}), dict(load)
    (True, {'ann': 3})
    >>> load.plus("raj")
    Workload({'ann': 3, 'raj': 1})

    Raises:
        ValidationError: a key is not an agent id, or a count is not an int of 0
            or more.
    """

    counts: Mapping[str, int] = field(default=None, converter=_counts)

    def of(self, agent_id: str) -> int:
        """The number of open tickets the agent holds (0 when not listed)."""
        return self.counts.get(agent_id, 0)

    def plus(self, agent_id: str, count: int = 1) -> Workload:
        """A new workload with ``count`` more tickets for the agent.

        Useful to replay several assignments without going back to the store.
        """
        return Workload({**self.counts, agent_id: self.of(agent_id) + count})

    def __getitem__(self, agent_id: str) -> int:
        return self.counts[agent_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    def __hash__(self) -> int:
        return hash(frozenset(self.counts.items()))

    def __repr__(self) -> str:
        return f"Workload({dict(self.counts)!r})"


def _workload(value: Mapping[str, int]) -> Workload:
    return value if isinstance(value, Workload) else Workload(value)


# --------------------------------------------------------------------------- protocol


def _aware(value: datetime) -> datetime:
    return ensure_aware(value, "now")


def _optional_id(value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError(
            f"last_assigned must be an agent id or None, got {value!r}; pass the id of the "
            "agent most recently assigned a ticket in the group"
        )
    return value


def _rotation(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError(
            f"rotation must be a sequence of agent ids, got the string {value!r}; "
            'pass e.g. ("ann", "raj")'
        )
    ids = tuple(value)
    seen: set[str] = set()
    for agent_id in ids:
        if agent_id in seen:
            raise ValidationError(
                f"rotation lists agent {agent_id!r} twice; list each agent once, in the "
                "order turns are taken"
            )
        seen.add(agent_id)
    return ids


@frozen
class AssignmentContext:
    """What a strategy knows besides the ticket and its candidates.

    Attributes:
        now: the instant of the assignment (timezone-aware).
        workload: the open tickets each agent holds.
        last_assigned: the agent most recently assigned a ticket in the group,
            read by the caller from the store; ``None`` when there is none yet.
            Round-robin takes its turn from it.
        rotation: the ids of everyone in the group, eligible or not, in the
            order turns are taken (directory order). Round-robin needs the
            agents that are not candidates too, to know who comes after a
            ``last_assigned`` who is off shift. Empty means "the candidates'
            order".
    """

    now: datetime = field(converter=_aware)
    workload: Workload = field(factory=Workload, converter=_workload)
    last_assigned: str | None = field(default=None, converter=_optional_id)
    rotation: tuple[str, ...] = field(default=(), converter=_rotation)


@runtime_checkable
class AssignmentStrategy(Protocol):
    """Picks one agent out of the eligible candidates.

    Implementations must be deterministic: the same ticket, candidates and
    context always give the same agent. They keep no state of their own; what
    they need to remember lives in the store and arrives in the context.
    """

    def choose(
        self, ticket: Ticket, candidates: Sequence[Agent], context: AssignmentContext
    ) -> Agent | None:
        """Return one of ``candidates``, or ``None`` to leave the ticket unassigned.

        Args:
            ticket: the ticket to assign.
            candidates: the eligible agents, in directory order. May be empty.
            context: the instant, the workload and the round-robin turn.
        """
        ...


def _in_turn(candidates: Sequence[Agent], context: AssignmentContext) -> list[Agent]:
    """The candidates in round-robin order: starting after ``last_assigned``, wrapping."""
    ring = context.rotation or tuple(dict.fromkeys(agent.id for agent in candidates))
    last = context.last_assigned
    start = ring.index(last) + 1 if last is not None and last in ring else 0
    by_id: dict[str, Agent] = {}
    for agent in candidates:
        by_id.setdefault(agent.id, agent)
    ordered = [by_id[agent_id] for agent_id in (*ring[start:], *ring[:start]) if agent_id in by_id]
    in_ring = set(ring)
    # Candidates outside the rotation (a caller-built list) take their turn last.
    ordered.extend(agent for agent_id, agent in by_id.items() if agent_id not in in_ring)
    return ordered


# --------------------------------------------------------------------------- strategies


@frozen
class RoundRobin:
    """Takes turns: the next candidate after the last agent assigned in the group.

    The order is the group's directory order, wrapping from the last member to
    the first. Agents who are not eligible now are skipped, and an agent who
    is not in the rotation at all (who left the group) restarts it from the
    top. With two or more candidates the same agent never gets two tickets in
    a row.
    """

    def choose(
        self, ticket: Ticket, candidates: Sequence[Agent], context: AssignmentContext
    ) -> Agent | None:
        """Return the candidate whose turn it is, or ``None`` if there are none."""
        ordered = _in_turn(candidates, context)
        return ordered[0] if ordered else None


@frozen
class LeastLoaded:
    """Picks the candidate with the fewest open tickets.

    Ties go to whoever comes first in round-robin order after
    ``last_assigned`` (plain directory order when there is no last assigned
    agent), so a team with equal loads still shares new tickets out in turn
    instead of piling them on the first member.
    """

    def choose(
        self, ticket: Ticket, candidates: Sequence[Agent], context: AssignmentContext
    ) -> Agent | None:
        """Return the least loaded candidate, or ``None`` if there are none."""
        ordered = _in_turn(candidates, context)
        if not ordered:
            return None
        # min() keeps the first of equal keys: the tie-break is the turn order.
        return min(ordered, key=lambda agent: context.workload.of(agent.id))


def _fold(text: str) -> str:
    return text.strip().casefold()


def _check_fallback(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, AssignmentStrategy):
        raise ConfigError(
            f"the fallback of SkillsBased must be an assignment strategy (an object with a "
            f"choose() method), got {value!r}; pass e.g. LeastLoaded() or RoundRobin()"
        )


def _check_require(_instance: object, _attribute: object, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"SkillsBased(require=...) takes True or False, got {value!r}")


@frozen
class SkillsBased:
    """Picks the candidate whose skills best cover the ticket.

    An agent's score is how many of the ticket's category and tags appear
    among the agent's skills, compared without regard to case or surrounding
    spaces. The highest score wins; candidates sharing it go to ``fallback``.

    Attributes:
        fallback: the strategy that breaks ties (by default :class:`LeastLoaded`).
        require: when ``True``, an agent must match at least one skill: if
            nobody does (or the ticket has no category and no tags), nobody is
            chosen. When ``False``, a ticket nobody matches goes to ``fallback``
            over all candidates.
    """

    fallback: AssignmentStrategy = field(factory=LeastLoaded, validator=_check_fallback)
    require: bool = field(default=False, validator=_check_require)

    @staticmethod
    def score(ticket: Ticket, agent: Agent) -> int:
        """How many of the ticket's category and tags are among the agent's skills.

        >>> from datetime import UTC, datetime
        >>> from supportflow._model import Channel, Priority
        >>> at = datetime(2026, 3, 2, tzinfo=UTC)
        >>> t = Ticket(id="t", subject="s", requester="r", channel=Channel.WEB,
        ...            priority=Priority.LOW, state="new", version=1, created_at=at,
        ...            updated_at=at, category="Network", tags=("vpn", "mac"))
        >>> SkillsBased.score(t, Agent("raj", skills=["network", "VPN", "linux"]))
        2
        """
        wanted = {_fold(tag) for tag in ticket.tags}
        if ticket.category is not None:
            wanted.add(_fold(ticket.category))
        wanted.discard("")
        return len(wanted & {_fold(skill) for skill in agent.skills})

    def choose(
        self, ticket: Ticket, candidates: Sequence[Agent], context: AssignmentContext
    ) -> Agent | None:
        """Return the best-matching candidate, or ``None`` if none qualifies."""
        if not candidates:
            return None
        scores = [self.score(ticket, agent) for agent in candidates]
        best = max(scores)
        if best == 0 and self.require:
            return None
        top = [agent for agent, score in zip(candidates, scores, strict=True) if score == best]
        if len(top) == 1:
            return top[0]
        return self.fallback.choose(ticket, top, context)


# --------------------------------------------------------------------------- registry

#: The shipped strategies by the names a configuration uses.
BUILTIN_STRATEGIES: Mapping[str, AssignmentStrategy] = MappingProxyType(
    {
        "round_robin": RoundRobin(),
        "least_loaded": LeastLoaded(),
        "skills": SkillsBased(),
    }
)


def strategy_named(name: str) -> AssignmentStrategy:
    """Return the shipped strategy called ``name``.

    Case, surrounding spaces and ``-`` for ``_`` are forgiven.

    >>> strategy_named("Round-Robin")
    RoundRobin()

    Raises:
        ConfigError: no shipped strategy has that name; the message lists them.
    """
    known = ", ".join(repr(key) for key in BUILTIN_STRATEGIES)
    if not isinstance(name, str):
        raise ConfigError(f"a strategy name must be a string, got {name!r}; use one of {known}")
    key = name.strip().lower().replace("-", "_")
    try:
        return BUILTIN_STRATEGIES[key]
    except KeyError:
        raise ConfigError(f"unknown assignment strategy {name!r}; use one of {known}") from None


# --------------------------------------------------------------------------- assignment


def _pool(directory: Directory, group: str | None) -> list[Agent]:
    if group is None:
        return list(directory.agents.values())
    if not isinstance(group, str) or not group.strip():
        raise ValidationError(
            f"group must be a group id or None (every agent), got {group!r}; "
            'pass e.g. group="network"'
        )
    return directory.members(group)


def eligible(
    ticket: Ticket,
    directory: Directory,
    *,
    group: str | None,
    now: datetime,
    tier: Tier | str | None = None,
    workload: Mapping[str, int],
) -> list[Agent]:
    """The agents who may take ``ticket`` at ``now``, in directory order.

    An agent is eligible when they are in ``group`` (any agent when ``group``
    is ``None``), marked available, inside their calendar's open hours at
    ``now`` (an agent without a calendar is always on), holding fewer open
    tickets than their capacity (no capacity means no limit) and, when
    ``tier`` is given, of exactly that tier. A group nobody belongs to has no
    eligible agents.

    Args:
        ticket: the ticket to assign (the filters above do not depend on it yet;
            it is passed so that future filters can).
        directory: the agents and groups.
        group: the group whose members are considered, or ``None`` for everyone.
        now: the instant of the assignment (timezone-aware).
        tier: only agents of this tier (functional escalation asks for
            ``"senior"`` or ``"manager"``), or ``None`` for any tier.
        workload: open tickets per agent id.

    Returns:
        The eligible agents, possibly none.

    Raises:
        NaiveDatetimeError: ``now`` has no time zone.
        ValidationError: an unknown tier, a malformed group or workload.
    """
    at = ensure_aware(now, "now")
    wanted_tier = None if tier is None else Tier.parse(tier)
    load = _workload(workload)
    return [
        agent
        for agent in _pool(directory, group)
        if agent.available
        and (wanted_tier is None or agent.tier is wanted_tier)
        and (agent.capacity is None or load.of(agent.id) < agent.capacity)
        and (agent.calendar is None or agent.calendar.is_open(at))
    ]


def assign(
    ticket: Ticket,
    directory: Directory,
    strategy: AssignmentStrategy | str,
    *,
    group: str | None,
    now: datetime,
    workload: Mapping[str, int],
    last_assigned: str | None = None,
    tier: Tier | str | None = None,
) -> Agent | None:
    """Pick the agent who gets ``ticket``: :func:`eligible`, then the strategy.

    Args:
        ticket: the ticket to assign.
        directory: the agents and groups.
        strategy: a strategy, or the name of a shipped one (``"round_robin"``,
            ``"least_loaded"``, ``"skills"``).
        group: the group whose members are considered, or ``None`` for everyone.
        now: the instant of the assignment (timezone-aware).
        workload: open tickets per agent id, computed from the store.
        last_assigned: the agent most recently assigned a ticket in ``group``,
            read from the store; round-robin continues after them.
        tier: only agents of this tier, or ``None`` for any.

    Returns:
        The chosen agent, or ``None`` when nobody is eligible or the strategy
        declines; the caller then leaves the ticket in the group's queue.

    Raises:
        ConfigError: ``strategy`` is an unknown name or not a strategy, or it
            returned an agent that was not a candidate.
        NaiveDatetimeError: ``now`` has no time zone.
        ValidationError: an unknown tier, a malformed group, workload or
            ``last_assigned``.
    """
    chooser = strategy_named(strategy) if isinstance(strategy, str) else strategy
    if not isinstance(chooser, AssignmentStrategy):
        raise ConfigError(
            f"{chooser!r} is not an assignment strategy (it has no choose() method); pass "
            f"one such as LeastLoaded(), or a name: {', '.join(BUILTIN_STRATEGIES)}"
        )
    context = AssignmentContext(
        now=now,
        workload=_workload(workload),
        last_assigned=last_assigned,
        rotation=tuple(agent.id for agent in _pool(directory, group)),
    )
    candidates = eligible(
        ticket, directory, group=group, now=context.now, tier=tier, workload=context.workload
    )
    if not candidates:
        return None
    chosen = chooser.choose(ticket, candidates, context)
    if chosen is not None and chosen not in candidates:
        raise ConfigError(
            f"strategy {chooser!r} chose {chosen!r}, who is not one of the eligible agents "
            f"{[agent.id for agent in candidates]}; a strategy must return a candidate or None"
        )
    return chosen
