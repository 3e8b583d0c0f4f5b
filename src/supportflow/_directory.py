"""Who is who: customers, organisations, agents and groups.

The desk identifies people by id strings (a requester's e-mail address, an
agent's login). A :class:`Directory` says more about them: a customer's
organisation and tier (a VIP), how to reach them and in which language; an
agent's groups, skills, tier, working hours and supervisor; a group's members
and supervisor. Escalation and SLA conditions read customer tiers from it,
assignment strategies pick agents from it, and notifications find addresses
and language preferences in it.

A directory is plain data, built once and replaced when the organisation
changes (it is immutable, so a running escalation or dispatcher never sees a
half-updated one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from attrs import field, frozen

from supportflow._model import Tier
from supportflow.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from supportflow._calendar import BusinessCalendar

__all__ = ["Agent", "Customer", "Directory", "Group", "Organization"]


def _tuple_of_str(value: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _channel_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


def _tier(value: Tier | str) -> Tier:
    return Tier.parse(value)


def _optional_tier(value: Tier | str | None) -> Tier | None:
    return None if value is None else Tier.parse(value)


def _check_id(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"a {kind} needs a non-empty string id, got {value!r}")


@frozen
class Organization:
    """A customer organisation: a key account has a higher ``tier`` (``"vip"``)."""

    id: str
    name: str | None = None
    tier: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_id("organization", self.id)


@frozen
class Customer:
    """A person who asks for help.

    Attributes:
        id: the id tickets use as ``requester`` (often the e-mail address).
        contacts: addresses by channel (``{"email": "alice@example.com",
            "chat": "@alice"}``). An id that is an e-mail address needs no
            ``email`` entry.
        preferred_channel: where notifications go first (default ``"email"``).
        language: the language of the notifications they receive.
        tier: the customer's own tier; when ``None``, their organisation's.
    """

    id: str
    name: str | None = None
    organization: str | None = None
    tier: str | None = None
    contacts: Mapping[str, str] = field(default=None, converter=_channel_map)
    preferred_channel: str = "email"
    language: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_id("customer", self.id)


@frozen
class Agent:
    """A member of staff who works tickets.

    Attributes:
        groups: the groups (queues) the agent works in.
        skills: what the agent knows (matched against ticket categories and tags).
        tier: front line, senior or manager (functional escalation).
        supervisor: the agent's manager (hierarchical escalation).
        calendar: the agent's working hours; ``None`` means always available.
        capacity: the most open tickets the agent should hold, or ``None``.
        available: ``False`` takes the agent out of assignment (leave, sick).
    """

    id: str
    name: str | None = None
    groups: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    skills: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    tier: Tier = field(default=Tier.FRONT_LINE, converter=_tier)
    supervisor: str | None = None
    contacts: Mapping[str, str] = field(default=None, converter=_channel_map)
    language: str | None = None
    calendar: BusinessCalendar | None = None
    capacity: int | None = None
    available: bool = True

    def __attrs_post_init__(self) -> None:
        _check_id("agent", self.id)
        if self.capacity is not None and (not isinstance(self.capacity, int) or self.capacity < 1):
            raise ValidationError(
                f"agent {self.id!r}: capacity must be None or at least 1, got {self.capacity!r}"
            )


@frozen
class Group:
    """A team or queue: its members come from the agents' ``groups``.

    ``tier`` places the group in a functional escalation path; ``supervisor``
    is who hierarchical escalation tells; ``email`` is the group's shared
    address for notifications.
    """

    id: str
    name: str | None = None
    tier: Tier | None = field(default=None, converter=_optional_tier)
    supervisor: str | None = None
    email: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_id("group", self.id)


_T = TypeVar("_T", Customer, Agent, Organization, Group)


def _by_id(kind: str, items: Iterable[_T]) -> Mapping[str, _T]:
    found: dict[str, _T] = {}
    for item in items:
        if item.id in found:
            raise ConfigError(f"the directory lists {kind} {item.id!r} twice; keep one entry")
        found[item.id] = item
    return MappingProxyType(found)


def _customers(items: Iterable[Customer]) -> Mapping[str, Customer]:
    return _by_id("customer", items)


def _agents(items: Iterable[Agent]) -> Mapping[str, Agent]:
    return _by_id("agent", items)


def _organizations(items: Iterable[Organization]) -> Mapping[str, Organization]:
    return _by_id("organization", items)


def _groups(items: Iterable[Group]) -> Mapping[str, Group]:
    return _by_id("group", items)


@frozen
class Directory:
    """Customers, organisations, agents and groups, looked up by id.

    >>> d = Directory(
    ...     organizations=[Organization("acme", tier="vip")],
    ...     customers=[Customer("alice@acme.test", organization="acme", language="de")],
    ...     agents=[
    ...         Agent("ann", groups=["network"], supervisor="sam"),
    ...         Agent("sam", tier="manager"),
    ...     ],
    ...     groups=[Group("network", supervisor="sam")],
    ... )
    >>> d.customer_tier("alice@acme.test")
    'vip'
    >>> [a.id for a in d.members("network")]
    ['ann']

    Raises:
        ConfigError: an id listed twice, or a reference to an organisation,
            group or supervisor the directory does not hold.
    """

    customers: Mapping[str, Customer] = field(factory=tuple, converter=_customers)
    agents: Mapping[str, Agent] = field(factory=tuple, converter=_agents)
    organizations: Mapping[str, Organization] = field(factory=tuple, converter=_organizations)
    groups: Mapping[str, Group] = field(factory=tuple, converter=_groups)

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        for customer in self.customers.values():
            if (
                customer.organization is not None
                and customer.organization not in self.organizations
            ):
                problems.append(
                    f"customer {customer.id!r} belongs to unknown organization "
                    f"{customer.organization!r}"
                )
        for agent in self.agents.values():
            if agent.supervisor is not None and agent.supervisor not in self.agents:
                problems.append(f"agent {agent.id!r} has unknown supervisor {agent.supervisor!r}")
        for group in self.groups.values():
            if group.supervisor is not None and group.supervisor not in self.agents:
                problems.append(f"group {group.id!r} has unknown supervisor {group.supervisor!r}")
        if problems:
            raise ConfigError(
                "the directory refers to people it does not hold: "
                + "; ".join(problems)
                + ". Add them, or remove the references"
            )

    def customer(self, customer_id: str) -> Customer | None:
        """The customer with that id, if listed."""
        return self.customers.get(customer_id)

    def customer_tier(self, customer_id: str) -> str | None:
        """The customer's tier, or else their organisation's, or ``None``."""
        customer = self.customers.get(customer_id)
        if customer is None:
            return None
        if customer.tier is not None:
            return customer.tier
        if customer.organization is None:
            return None
        return self.organizations[customer.organization].tier

    def agent(self, agent_id: str) -> Agent | None:
        """The agent with that id, if listed."""
        return self.agents.get(agent_id)

    def members(self, group_id: str) -> list[Agent]:
        """The agents in the group, in directory order."""
        return [agent for agent in self.agents.values() if group_id in agent.groups]

    def supervisor_of(self, *, agent: str | None = None, group: str | None = None) -> Agent | None:
        """The assignee's supervisor, or else the group's, if either is listed."""
        if agent is not None:
            listed = self.agents.get(agent)
            if listed is not None and listed.supervisor is not None:
                return self.agents[listed.supervisor]
        if group is not None:
            listed_group = self.groups.get(group)
            if listed_group is not None and listed_group.supervisor is not None:
                return self.agents[listed_group.supervisor]
        return None
