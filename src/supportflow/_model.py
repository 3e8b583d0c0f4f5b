"""The values a support desk talks about: actors, priorities, channels, tickets.

Everything here is an immutable value. A :class:`Ticket` is a snapshot of a
ticket at one version: it is *derived* from the ticket's history, never edited
in place. Commands go through :class:`supportflow.Desk`, which appends events
and projects a new snapshot.
"""

from __future__ import annotations

import enum
import functools
import os
import random
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs
from attrs import field, frozen

from supportflow.errors import ConfigError, ValidationError

__all__ = [
    "EMPTY_FIELDS",
    "Actor",
    "Category",
    "Channel",
    "Priority",
    "PriorityMatrix",
    "Role",
    "Ticket",
    "Tier",
    "new_ticket_id",
]

#: The shared, read-only empty mapping used for tickets without custom fields.
EMPTY_FIELDS: Mapping[str, Any] = MappingProxyType({})


def _choices(enum_cls: type[enum.Enum]) -> str:
    return ", ".join(str(member.value) for member in enum_cls)


class Role(enum.StrEnum):
    """Who is acting: the rights on each transition are granted per role."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        """Accept a member or its name/value in any case."""
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValidationError(f"unknown role {value!r}; use one of {_choices(cls)}") from None


class Tier(enum.StrEnum):
    """Support tier of an agent, used by functional escalation (front line → senior → manager)."""

    FRONT_LINE = "front_line"
    SENIOR = "senior"
    MANAGER = "manager"

    @classmethod
    def parse(cls, value: Tier | str) -> Tier:
        """Accept a member or its name/value in any case (``"front-line"`` too)."""
        if isinstance(value, Tier):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_").replace(" ", "_"))
        except ValueError:
            raise ValidationError(f"unknown tier {value!r}; use one of {_choices(cls)}") from None


class Channel(enum.StrEnum):
    """Where a request came in."""

    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    WEB = "web"
    SOCIAL = "social"
    FORUM = "forum"
    ONSITE = "onsite"
    API = "api"

    @classmethod
    def parse(cls, value: Channel | str) -> Channel:
        """Accept a member or its name/value in any case."""
        if isinstance(value, Channel):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValidationError(
                f"unknown channel {value!r}; use one of {_choices(cls)}"
            ) from None


class Category(enum.StrEnum):
    """What a lifecycle state *means* to the rest of the library.

    SLA clocks, reactions and reports look at a state's category, never at its
    name, so a desk can call its states whatever it likes.
    """

    NEW = "new"
    """Arrived, nobody has responded yet."""
    ACTIVE = "active"
    """Being worked on."""
    WAITING = "waiting"
    """Paused, waiting on the customer or a third party."""
    RESOLVED = "resolved"
    """A fix was delivered; awaiting the customer's verification."""
    CLOSED = "closed"
    """Finished (closed, cancelled, merged). No more work happens."""

    @classmethod
    def parse(cls, value: Category | str) -> Category:
        """Accept a member or its name/value in any case."""
        if isinstance(value, Category):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValidationError(
                f"unknown state category {value!r}; use one of {_choices(cls)}"
            ) from None


class Priority(enum.Enum):
    """The four priority levels, most urgent first.

    Every API that takes a priority also accepts the level's name in any case
    and the ITIL codes ``P1`` to ``P4``:

    >>> Priority.parse("High"), Priority.parse("p1"), Priority.parse(Priority.LOW)
    (<Priority.HIGH: 'high'>, <Priority.URGENT: 'urgent'>, <Priority.LOW: 'low'>)
    >>> Priority.URGENT.rank, Priority.URGENT.itil
    (1, 'P1')
    """

    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """1 for urgent down to 4 for low (sort by it for "most urgent first")."""
        return _PRIORITY_RANK[self]

    @property
    def itil(self) -> str:
        """The ITIL code, ``P1`` (urgent) .. ``P4`` (low)."""
        return f"P{_PRIORITY_RANK[self]}"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: Priority | str) -> Priority:
        """Return the priority named by ``value``.

        Raises:
            ValidationError: ``value`` names no priority.
        """
        if isinstance(value, Priority):
            return value
        found = _PRIORITY_NAMES.get(str(value).strip().lower()) if isinstance(value, str) else None
        if found is None:
            raise ValidationError(
                f"unknown priority {value!r}; use one of urgent, high, medium, low "
                "(any case) or the ITIL codes P1..P4"
            )
        return found


_PRIORITY_RANK = {Priority.URGENT: 1, Priority.HIGH: 2, Priority.MEDIUM: 3, Priority.LOW: 4}
_PRIORITY_NAMES = {p.value: p for p in Priority} | {f"p{r}": p for p, r in _PRIORITY_RANK.items()}


_LEVEL_ORDER = ("high", "medium", "low")


@frozen
class PriorityMatrix:
    """Derive a priority from ITIL impact × urgency.

    The default follows the usual ITIL table, squeezed to four levels:

    ================  ======  ======  ======
    impact / urgency  high    medium  low
    ================  ======  ======  ======
    high              urgent  high    medium
    medium            high    medium  low
    low               medium  low     low
    ================  ======  ======  ======

    >>> PriorityMatrix.default().derive(impact="high", urgency="medium")
    <Priority.HIGH: 'high'>

    A desk may configure its own table with :meth:`from_dict`; it must give a
    priority for every impact × urgency pair.
    """

    table: Mapping[tuple[str, str], Priority]

    @classmethod
    def default(cls) -> PriorityMatrix:
        """The ITIL-style table above."""
        return cls.from_dict(
            {
                "high": {"high": "urgent", "medium": "high", "low": "medium"},
                "medium": {"high": "high", "medium": "medium", "low": "low"},
                "low": {"high": "medium", "medium": "low", "low": "low"},
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Priority | str]]) -> PriorityMatrix:
        """Build a matrix from ``{impact: {urgency: priority}}``.

        Raises:
            ConfigError: a priority is unknown, or an impact × urgency pair is missing.
        """
        if not data:
            raise ConfigError("a priority matrix needs at least one impact level")
        urgencies = sorted({str(u).lower() for row in data.values() for u in row})
        problems: list[str] = []
        table: dict[tuple[str, str], Priority] = {}
        for impact, row in data.items():
            row_lower = {str(u).lower(): p for u, p in row.items()}
            for urgency in urgencies:
                if urgency not in row_lower:
                    problems.append(f"impact {impact!r} has no priority for urgency {urgency!r}")
                    continue
                try:
                    table[(str(impact).lower(), urgency)] = Priority.parse(row_lower[urgency])
                except ValidationError as exc:
                    problems.append(f"impact {impact!r}, urgency {urgency!r}: {exc}")
        if problems:
            raise ConfigError("invalid priority matrix: " + "; ".join(problems))
        return cls(MappingProxyType(table))

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The inverse of :meth:`from_dict`."""
        out: dict[str, dict[str, str]] = {}
        for (impact, urgency), priority in self.table.items():
            out.setdefault(impact, {})[urgency] = priority.value
        return out

    @property
    def impacts(self) -> tuple[str, ...]:
        """The impact levels, most severe first."""
        return _ordered({impact for impact, _ in self.table})

    @property
    def urgencies(self) -> tuple[str, ...]:
        """The urgency levels, most urgent first."""
        return _ordered({urgency for _, urgency in self.table})

    def derive(self, *, impact: str, urgency: str) -> Priority:
        """Return the priority for ``impact`` × ``urgency`` (names in any case).

        Raises:
            ValidationError: either level is not in the matrix.
        """
        key = (str(impact).strip().lower(), str(urgency).strip().lower())
        try:
            return self.table[key]
        except KeyError:
            if key[0] not in self.impacts:
                raise ValidationError(
                    f"unknown impact {impact!r}; use one of {', '.join(self.impacts)}"
                ) from None
            raise ValidationError(
                f"unknown urgency {urgency!r}; use one of {', '.join(self.urgencies)}"
            ) from None


def _ordered(levels: set[str]) -> tuple[str, ...]:
    known = [level for level in _LEVEL_ORDER if level in levels]
    return tuple(known + sorted(levels - set(_LEVEL_ORDER)))


def _role(value: Role | str) -> Role:
    return Role.parse(value)


def _optional_tier(value: Tier | str | None) -> Tier | None:
    return None if value is None else Tier.parse(value)


def _tuple_of_str(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(values)


@frozen
class Actor:
    """Somebody (or something) acting on a ticket.

    Build actors with the named constructors:

    >>> Actor.agent("ann", tier="senior", groups=["network"], skills=["vpn"])
    Actor(role=<Role.AGENT: 'agent'>, id='ann', name=None, tier=<Tier.SENIOR: 'senior'>, \
groups=('network',), skills=('vpn',), organization=None)
    >>> Actor.customer("alice@example.com").role
    <Role.CUSTOMER: 'customer'>
    """

    role: Role = field(converter=_role)
    id: str = field()
    name: str | None = None
    tier: Tier | None = field(default=None, converter=_optional_tier)
    groups: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    skills: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    organization: str | None = None

    @id.validator
    def _check_id(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"an actor needs a non-empty string id, got {value!r}")

    @classmethod
    def customer(
        cls, id: str, *, name: str | None = None, organization: str | None = None
    ) -> Actor:
        """A customer, identified by e.g. their e-mail address or account id."""
        if name is None and organization is None and cls is Actor:
            return _plain_customer(id)
        return cls(Role.CUSTOMER, id, name=name, organization=organization)

    @classmethod
    def agent(
        cls,
        id: str,
        *,
        name: str | None = None,
        tier: Tier | str | None = Tier.FRONT_LINE,
        groups: Iterable[str] = (),
        skills: Iterable[str] = (),
    ) -> Actor:
        """A support agent; front line unless another ``tier`` is given."""
        return cls(Role.AGENT, id, name=name, tier=tier, groups=tuple(groups), skills=tuple(skills))

    @classmethod
    def supervisor(
        cls,
        id: str,
        *,
        name: str | None = None,
        tier: Tier | str | None = Tier.MANAGER,
        groups: Iterable[str] = (),
    ) -> Actor:
        """A supervisor or manager."""
        return cls(Role.SUPERVISOR, id, name=name, tier=tier, groups=tuple(groups))

    @classmethod
    def system(cls, id: str = "system") -> Actor:
        """The library or the host app acting on its own (timers, automations)."""
        return cls(Role.SYSTEM, id)

    @property
    def is_staff(self) -> bool:
        """True for agents and supervisors, the people who answer customers."""
        return self.role is Role.AGENT or self.role is Role.SUPERVISOR

    def __str__(self) -> str:
        return f"{self.role.value}:{self.id}"


@functools.lru_cache(maxsize=4096)
def _plain_customer(id: str) -> Actor:
    # Actors are immutable, so the desk can share one per customer id instead
    # of building (and storing) a new one with every ticket a customer opens.
    return Actor(Role.CUSTOMER, id)


@frozen(slots=False)  # dict-backed: built on every command; see events.py
class Ticket:
    """A ticket as of one version of its history.

    A Ticket is a read-only snapshot derived from the ticket's events; its
    ``version`` is the number of events in the history. To change a ticket,
    send a command to the :class:`~supportflow.Desk`; it returns the new
    snapshot.
    """

    id: str
    subject: str
    requester: str
    channel: Channel
    priority: Priority
    state: str
    version: int
    created_at: datetime
    updated_at: datetime
    description: str = ""
    category: str | None = None
    tags: tuple[str, ...] = ()
    assignee: str | None = None
    group: str | None = None
    fields: Mapping[str, Any] = EMPTY_FIELDS
    merged_into: str | None = None


_id_lock = threading.Lock()
_id_last_ms = -1
_id_counter = 0
_id_last_at: datetime | None = None
# Ids need uniqueness, not secrecy (a customer asking for somebody else's id
# gets NotFound anyway), so a PRNG seeded from the OS beats a syscall per id.
_id_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _id_random.seed(os.urandom(32)))


def new_ticket_id(at: datetime) -> str:
    """Return a new UUIDv7 (RFC 9562) string for a ticket created at ``at``.

    Ids sort in creation order: the first 48 bits are the creation instant in
    milliseconds, and ids made in the same millisecond (a simulation opening
    many tickets at one instant of a manual clock) count up in the next 12
    bits, so they still sort in the order they were made. If the instant
    goes back (two desks on different manual clocks in one process), ids keep
    counting up from the latest one: ordering wins over the timestamp bits,
    as RFC 9562 allows. The ticket's ``created_at`` is the authoritative time.
    """
    global _id_last_ms, _id_counter, _id_last_at
    with _id_lock:
        # A manual clock hands out the same instant many times: skip the conversion.
        ms = _id_last_ms if at is _id_last_at else int(at.timestamp() * 1000)
        _id_last_at = at
        if ms > _id_last_ms:
            _id_last_ms = ms
            _id_counter = _id_random.getrandbits(10)  # leave room to count up
        else:
            ms = _id_last_ms
            _id_counter += 1
            if _id_counter > 0xFFF:
                ms = _id_last_ms = ms + 1
                _id_counter = 0
        counter = _id_counter
        tail = _id_random.getrandbits(62)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | tail
    return _UUID_FORMAT % (
        value >> 96,
        value >> 80 & 0xFFFF,
        value >> 64 & 0xFFFF,
        value >> 48 & 0xFFFF,
        value & 0xFFFF_FFFF_FFFF,
    )


_UUID_FORMAT = "%08x-%04x-%04x-%04x-%012x"


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted (for "must be unique" checks)."""
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        (twice if name in seen else seen).add(name)
    return sorted(twice)
