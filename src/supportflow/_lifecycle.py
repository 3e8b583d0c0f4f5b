"""Lifecycle definitions: the states a ticket moves through and who may move it.

A :class:`Lifecycle` is plain data (states with categories, named transitions
with rights and guards, reactions to replies) that is validated as a whole when
it is built and compiled once into a single ``transitions.Machine``. Tickets are
never registered with that machine: each attempt passes a small per-call model
to ``machine.events[name].trigger(...)``, so a desk with a million tickets still
has one machine and no per-ticket state machine objects.
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, NoReturn

import attrs
import cattrs
import tomli_w
from attrs import field, frozen
from transitions import Event as _MachineEvent
from transitions import Machine, MachineError
from transitions import State as _MachineState
from transitions import Transition as _MachineTransition

from supportflow._model import Actor, Category, Role, Ticket, repeated
from supportflow.errors import InvalidTransition, LifecycleError, PermissionDenied

__all__ = [
    "Guard",
    "GuardContext",
    "Lifecycle",
    "Reaction",
    "State",
    "Transition",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: The roles that may fire a transition whose definition does not say otherwise.
STAFF_AND_SYSTEM: tuple[Role, ...] = (Role.AGENT, Role.SUPERVISOR, Role.SYSTEM)

ReplyKind = Literal["agent_reply", "customer_reply"]
_REPLY_KINDS: tuple[str, ...] = ("agent_reply", "customer_reply")


class GuardContext:
    """What a guard may look at when it decides whether a transition may happen.

    Attributes:
        ticket: the ticket as it is before the transition.
        actor: who fires the event.
        event: the event's name.
        data: the keyword data passed with the command (``resolution=...``).
        at: the instant of the command (guards must not read the wall clock).
    """

    __slots__ = ("actor", "at", "data", "event", "ticket")

    def __init__(
        self,
        ticket: Ticket,
        actor: Actor,
        event: str,
        data: Mapping[str, Any],
        at: datetime | None = None,
    ) -> None:
        self.ticket = ticket
        self.actor = actor
        self.event = event
        self.data = data
        self.at = ticket.updated_at if at is None else at

    def __repr__(self) -> str:
        return f"GuardContext(ticket={self.ticket.id!r}, actor={self.actor}, event={self.event!r})"


#: A guard returns ``None`` to allow the transition, or the reason it refuses.
Guard = Callable[[GuardContext], "str | None"]


def _category(value: Category | str) -> Category:
    return Category.parse(value)


def _roles(values: Iterable[Role | str]) -> tuple[Role, ...]:
    if isinstance(values, str):
        values = (values,)
    return tuple(Role.parse(value) for value in values)


def _names(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(values)


@frozen
class State:
    """A lifecycle state; its ``category`` tells the library what it means."""

    name: str
    category: Category = field(converter=_category)
    description: str = ""


@frozen
class Transition:
    """A named move from any of ``source`` to ``dest``.

    Args:
        event: the event name that fires it (``"resolve"``). Several transitions
            may share an event name if their sources do not overlap.
        source: the states it may be fired from.
        dest: the state it leads to.
        by: the roles allowed to fire it. Customers may only ever act on their
            own tickets, so ``customer`` here means "the requester".
        requires: names of data items the caller must pass, non-empty
            (``resolve`` requires ``resolution``).
        guards: names of guards (registered on the lifecycle) that must all allow it.
        description: free text for humans and diagrams.
    """

    event: str
    source: tuple[str, ...] = field(converter=_names)
    dest: str
    by: tuple[Role, ...] = field(default=STAFF_AND_SYSTEM, converter=_roles)
    requires: tuple[str, ...] = field(default=(), converter=_names)
    guards: tuple[str, ...] = field(default=(), converter=_names)
    description: str = ""


@frozen
class Reaction:
    """Fire ``fire`` automatically when a reply of kind ``on`` lands on a
    ticket in one of ``states``.

    ``on`` is ``"agent_reply"`` (a public reply by an agent or supervisor) or
    ``"customer_reply"`` (a public reply by the requester). The transition is
    part of the same command as the reply and is recorded with
    ``cause="reaction:<on>"``. Rights are not checked (the desk's configuration
    authorised it) but guards are: if the event cannot fire, the reply is kept
    and the ticket stays where it is.
    """

    on: str
    states: tuple[str, ...] = field(converter=_names)
    fire: str


def _state_tuple(states: Iterable[State]) -> tuple[State, ...]:
    return tuple(states)


def _transition_tuple(transitions: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(transitions)


def _reaction_tuple(reactions: Iterable[Reaction]) -> tuple[Reaction, ...]:
    return tuple(reactions)


def _guard_map(guards: Mapping[str, Guard]) -> Mapping[str, Guard]:
    return MappingProxyType(dict(guards))


class _Attempt(GuardContext):
    """The model handed to the shared machine for one attempt: the guard
    context plus the ``state`` attribute the machine reads and moves. It lives
    for one call; the machine never keeps it."""

    __slots__ = ("refusal", "state")

    def __init__(
        self, ticket: Ticket, actor: Actor, event: str, data: Mapping[str, Any], at: datetime
    ) -> None:
        # Not super().__init__(): one Python call less on every command.
        self.ticket = ticket
        self.actor = actor
        self.event = event
        self.data = data
        self.at = at
        self.state = ticket.state
        self.refusal: str | None = None


class _Gate:
    """The machine condition of one transition: required data, then guards."""

    __slots__ = ("guards", "requires")

    def __init__(self, requires: tuple[str, ...], guards: tuple[tuple[str, Guard], ...]) -> None:
        self.requires = requires
        self.guards = guards

    def __call__(self, event_data: Any) -> bool:
        attempt: _Attempt = event_data.model
        context = attempt
        for name in self.requires:
            value = context.data.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                attempt.refusal = (
                    f"{context.event!r} requires {name!r}: pass {name}=... with a non-empty value"
                )
                return False
        for name, guard in self.guards:
            reason = guard(context)
            if reason is not None:
                attempt.refusal = f"guard {name!r} refused {context.event!r}: {reason}"
                return False
        return True


class _QuietState(_MachineState):
    """A machine state without enter/exit callback passes.

    supportflow attaches no callbacks to the machine (plugin hooks run after the
    command commits, never inside a transition), so the empty callback loops and
    the per-state log lines of the stock class are pure overhead on every
    command.
    """

    def enter(self, event_data: Any) -> None:
        pass

    def exit(self, event_data: Any) -> None:
        pass


class _QuietTransition(_MachineTransition):
    """A machine transition that checks its conditions and moves the model,
    without the stock class's empty before/after callback passes."""

    def execute(self, event_data: Any) -> bool:
        for condition in self.conditions:
            if not condition.check(event_data):
                return False
        event_data.model.state = self.dest
        return True


class _QuietEvent(_MachineEvent):
    """A machine event without the prepare/finalize callback passes.

    Dispatch is the stock one (``trigger`` → ``Machine._process`` →
    ``_trigger``); the source state is still checked by ``_is_valid_source``
    (raising ``MachineError``) and each transition still evaluates its conditions.
    """

    def _trigger(self, event_data: Any) -> bool:
        event_data.state = self.machine.get_model_state(event_data.model)
        if self._is_valid_source(event_data.state):
            for transition in self.transitions[event_data.state.name]:
                event_data.transition = transition
                if transition.execute(event_data):
                    event_data.result = True
                    break
        return bool(event_data.result)


class _LifecycleMachine(Machine):
    """The one machine a lifecycle compiles into: stock dispatch, no callback passes."""

    state_cls = _QuietState
    transition_cls = _QuietTransition
    event_cls = _QuietEvent

    def get_state(self, state: Any) -> Any:
        # Every trigger looks its source state up by name; state names are
        # validated strings here, so try the dict first and leave enum names
        # and error reporting to the stock method.
        try:
            return self.states[state]
        except (KeyError, TypeError):
            return super().get_state(state)


def _assigned_guard(context: GuardContext) -> str | None:
    if context.ticket.assignee is None:
        return "the ticket has no assignee; assign it first"
    return None


#: Guards every lifecycle knows by name without registering them.
BUILTIN_GUARDS: Mapping[str, Guard] = MappingProxyType({"assigned": _assigned_guard})


@frozen
class Lifecycle:
    """A validated ticket lifecycle, compiled into one shared state machine.

    Build one directly, from plain data (:meth:`from_dict`, :meth:`from_toml`),
    or take a shipped one from :mod:`supportflow.lifecycles`. Every problem in
    the definition is reported at once as a :class:`~supportflow.errors.LifecycleError`.

    Args:
        name: a label for messages and diagrams.
        states: the states, each with its category.
        initial: the state new tickets start in (category ``new`` or ``active``).
        transitions: the named transitions.
        reactions: what replies do automatically (see :class:`Reaction`).
        merge_event: the event :meth:`Desk.merge <supportflow.Desk.merge>` fires
            on the ticket merged away, or ``None`` if this lifecycle has no merging.
        guards: custom guards by name, in addition to the built-in ``assigned``.
    """

    name: str
    states: tuple[State, ...] = field(converter=_state_tuple)
    initial: str
    transitions: tuple[Transition, ...] = field(converter=_transition_tuple)
    reactions: tuple[Reaction, ...] = field(default=(), converter=_reaction_tuple)
    merge_event: str | None = None
    guards: Mapping[str, Guard] = field(factory=dict, converter=_guard_map, eq=False, repr=False)

    # Compiled form, built once in __attrs_post_init__.
    _by_name: Mapping[str, State] = field(init=False, eq=False, repr=False)
    _routes: Mapping[tuple[str, str], Transition] = field(init=False, eq=False, repr=False)
    _events_from: Mapping[str, tuple[str, ...]] = field(init=False, eq=False, repr=False)
    _reaction_index: Mapping[tuple[str, str], str] = field(init=False, eq=False, repr=False)
    _machine: Machine = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        problems = _validate(self)
        if problems:
            raise LifecycleError(self.name, problems)
        by_name = {state.name: state for state in self.states}
        routes = {(t.event, s): t for t in self.transitions for s in t.source}
        events_from: dict[str, list[str]] = {state.name: [] for state in self.states}
        for event, source in routes:
            if event not in events_from[source]:
                events_from[source].append(event)
        reactions = {(r.on, s): r.fire for r in self.reactions for s in r.states}
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_routes", MappingProxyType(routes))
        object.__setattr__(
            self, "_events_from", MappingProxyType({k: tuple(v) for k, v in events_from.items()})
        )
        object.__setattr__(self, "_reaction_index", MappingProxyType(reactions))
        object.__setattr__(self, "_machine", self._build_machine())

    def _build_machine(self) -> Machine:
        guards = {**BUILTIN_GUARDS, **self.guards}
        specs = []
        for t in self.transitions:
            spec: dict[str, Any] = {"trigger": t.event, "source": list(t.source), "dest": t.dest}
            if t.requires or t.guards:
                spec["conditions"] = [_Gate(t.requires, tuple((g, guards[g]) for g in t.guards))]
            specs.append(spec)
        return _LifecycleMachine(
            model=None,
            states=[state.name for state in self.states],
            initial=self.initial,
            transitions=specs,
            auto_transitions=False,
            send_event=True,
            name=f"{self.name}: ",
        )

    # -- reading the definition -------------------------------------------------

    @property
    def machine(self) -> Machine:
        """The one ``transitions.Machine`` compiled from this definition."""
        return self._machine

    @property
    def state_names(self) -> tuple[str, ...]:
        """Every state name, in definition order."""
        return tuple(state.name for state in self.states)

    @property
    def event_names(self) -> tuple[str, ...]:
        """Every event name, in definition order, without repeats."""
        return tuple(dict.fromkeys(t.event for t in self.transitions))

    def state(self, name: str) -> State:
        """The state called ``name``.

        Raises:
            KeyError: no such state.
        """
        return self._by_name[name]

    def category(self, state: str) -> Category:
        """The category of the state called ``state``."""
        return self._by_name[state].category

    def states_in(self, *categories: Category | str) -> frozenset[str]:
        """The names of the states in any of ``categories``."""
        wanted = {Category.parse(c) for c in categories}
        return frozenset(s.name for s in self.states if s.category in wanted)

    def events_from(self, state: str) -> tuple[str, ...]:
        """The events defined from ``state`` (rights and guards not considered)."""
        return self._events_from.get(state, ())

    def transition_for(self, event: str, state: str) -> Transition | None:
        """The transition ``event`` fires from ``state``, or ``None``."""
        return self._routes.get((event, state))

    def allowed_events(self, state: str, role: Role | str) -> tuple[str, ...]:
        """The events ``role`` may fire from ``state`` (guards not evaluated)."""
        role = Role.parse(role)
        return tuple(
            event
            for event in self._events_from.get(state, ())
            if role in self._routes[(event, state)].by
        )

    def reaction(self, on: str, state: str) -> str | None:
        """The event a reply of kind ``on`` fires from ``state``, if any."""
        return self._reaction_index.get((on, state))

    # -- firing -------------------------------------------------------------------

    def fire(
        self,
        ticket: Ticket,
        event: str,
        actor: Actor,
        data: Mapping[str, Any],
        *,
        at: datetime | None = None,
        check_rights: bool = True,
    ) -> str:
        """Decide the state ``ticket`` moves to when ``actor`` fires ``event``.

        A pure decision: nothing is changed; the caller records the transition.
        ``at`` is the instant guards see (the ticket's last update if not given).

        Returns:
            The destination state.

        Raises:
            InvalidTransition: the event is unknown, not possible from the
                ticket's state, or refused by a guard.
            PermissionDenied: ``actor``'s role may not fire it (when ``check_rights``).
        """
        state = ticket.state
        transition = self._routes.get((event, state))
        if transition is None:
            self._refuse_unknown(ticket, event, actor)
        if check_rights and actor.role not in transition.by:
            allowed = ", ".join(r.value for r in transition.by)
            raise PermissionDenied(
                f"{actor} may not fire {event!r} on ticket {ticket.id}: it is allowed to "
                f"{allowed}; ask someone with one of those roles"
            )
        attempt = _Attempt(ticket, actor, event, data, ticket.updated_at if at is None else at)
        try:
            moved = self._machine.events[event].trigger(attempt)
        except MachineError as exc:  # defensive: _routes and the machine agree
            raise InvalidTransition(
                str(exc),
                ticket_id=ticket.id,
                state=state,
                event=event,
                allowed=self.events_from(state),
            ) from exc
        if not moved:
            raise InvalidTransition(
                f"cannot {event!r} ticket {ticket.id} in state {state!r}: {attempt.refusal}",
                ticket_id=ticket.id,
                state=state,
                event=event,
                allowed=self.events_from(state),
            )
        return attempt.state

    def _refuse_unknown(self, ticket: Ticket, event: str, actor: Actor) -> NoReturn:
        state = ticket.state
        possible = self.events_from(state)
        if event not in self.event_names:
            detail = f"lifecycle {self.name!r} has no event {event!r}; its events are " + ", ".join(
                self.event_names
            )
        else:
            detail = f"{event!r} is not possible from state {state!r}"
        yours = self.allowed_events(state, actor.role)
        if possible:
            detail += f"; from {state!r} the possible events are {', '.join(possible)}"
            if set(yours) != set(possible):
                detail += f" ({actor.role.value}: {', '.join(yours) or 'none'})"
        else:
            detail += f"; state {state!r} has no way out"
        raise InvalidTransition(
            f"cannot {event!r} ticket {ticket.id}: {detail}",
            ticket_id=ticket.id,
            state=state,
            event=event,
            allowed=possible,
        )

    # -- plain data -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data (lists, dicts, strings); guards by name only."""
        data = _converter.unstructure(_LifecycleData.of(self))
        if data["merge_event"] is None:
            del data["merge_event"]
        return dict(data)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, guards: Mapping[str, Guard] | None = None
    ) -> Lifecycle:
        """Build and validate a lifecycle from plain data (as made by :meth:`to_dict`).

        Args:
            data: the definition.
            guards: implementations for the custom guard names the data uses.

        Raises:
            LifecycleError: the data is malformed or the definition is invalid;
                every problem is listed.
        """
        name = str(data.get("name", "<unnamed>")) if isinstance(data, Mapping) else "<unnamed>"
        try:
            raw = _converter.structure(data, _LifecycleData)
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
            raise LifecycleError(name, _describe_structure_error(exc)) from None
        return raw.build(guards or {})

    def to_toml(self) -> str:
        """The definition as a TOML document."""
        return str(tomli_w.dumps(self.to_dict()))

    @classmethod
    def from_toml(cls, text: str, *, guards: Mapping[str, Guard] | None = None) -> Lifecycle:
        """Build a lifecycle from a TOML document (see :meth:`to_toml`).

        Raises:
            LifecycleError: the TOML does not parse, or the definition is invalid.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LifecycleError("<toml>", [f"not valid TOML: {exc}"]) from None
        return cls.from_dict(data, guards=guards)

    # -- pictures -------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """A mermaid ``stateDiagram-v2`` of the lifecycle, drawn by transitions.

        Closed-category states get an arrow to the end marker ``[*]``.
        """
        from transitions.extensions.diagrams import GraphMachine

        class _Sketch:  # a throwaway model: diagrams need one, the real machine does not
            pass

        specs = [
            {"trigger": t.event, "source": list(t.source), "dest": t.dest} for t in self.transitions
        ]
        sketch = _Sketch()
        GraphMachine(
            model=sketch,
            states=[state.name for state in self.states],
            initial=self.initial,
            transitions=specs,
            auto_transitions=False,
            graph_engine="mermaid",
            title=self.name,
            show_state_attributes=False,
        )
        lines = str(sketch.get_graph().draw(None)).rstrip().splitlines()  # type: ignore[attr-defined]
        lines += [f"  {s.name} --> [*]" for s in self.states if s.category is Category.CLOSED]
        return "\n".join(lines) + "\n"

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        """Let notebooks draw the lifecycle as a diagram."""
        return {
            "text/markdown": f"```mermaid\n{self.to_mermaid()}```\n",
            "text/plain": repr(self),
        }


# -- validation -----------------------------------------------------------------------


def _validate(lc: Lifecycle) -> list[str]:
    problems: list[str] = []
    names = [state.name for state in lc.states]
    declared = set(names)
    if not lc.states:
        problems.append("no states are declared")
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(
                f"state name {name!r} is not an identifier (letters, digits, underscores)"
            )
    duplicates = repeated(names)
    if duplicates:
        problems.append(f"states declared more than once: {', '.join(duplicates)}")

    if lc.initial not in declared:
        problems.append(f"initial state {lc.initial!r} is not a declared state")
    else:
        initial_category = next(s.category for s in lc.states if s.name == lc.initial)
        if initial_category not in (Category.NEW, Category.ACTIVE):
            problems.append(
                f"initial state {lc.initial!r} has category {initial_category.value!r}; "
                "new tickets must start in a 'new' or 'active' state"
            )

    known_guards = set(BUILTIN_GUARDS) | set(lc.guards)
    seen_routes: dict[tuple[str, str], int] = {}
    for index, t in enumerate(lc.transitions):
        where = f"transition #{index + 1} ({t.event!r})"
        if not isinstance(t.event, str) or not _NAME.match(t.event):
            problems.append(f"{where}: event name {t.event!r} is not an identifier")
        if not t.source:
            problems.append(f"{where}: has no source state")
        for source in t.source:
            if source not in declared:
                problems.append(f"{where}: unknown source state {source!r}")
            if (t.event, source) in seen_routes:
                other = seen_routes[(t.event, source)]
                problems.append(
                    f"{where}: event {t.event!r} from {source!r} is already defined by "
                    f"transition #{other}; one event may lead to only one state from a source"
                )
            seen_routes.setdefault((t.event, source), index + 1)
        if t.dest not in declared:
            problems.append(f"{where}: unknown destination state {t.dest!r}")
        if not t.by:
            problems.append(f"{where}: no role may fire it (empty 'by')")
        for guard in t.guards:
            if guard not in known_guards:
                problems.append(
                    f"{where}: unknown guard {guard!r}; register it with guards={{{guard!r}: ...}}"
                )

    for index, r in enumerate(lc.reactions):
        where = f"reaction #{index + 1} ({r.on} -> {r.fire!r})"
        if r.on not in _REPLY_KINDS:
            problems.append(f"{where}: 'on' must be one of {', '.join(_REPLY_KINDS)}")
        for state in r.states:
            if state not in declared:
                problems.append(f"{where}: unknown state {state!r}")
            elif (r.fire, state) not in seen_routes:
                problems.append(f"{where}: event {r.fire!r} is not possible from {state!r}")
            else:
                route = lc.transitions[seen_routes[(r.fire, state)] - 1]
                if route.requires:
                    problems.append(
                        f"{where}: event {r.fire!r} from {state!r} requires "
                        f"{', '.join(route.requires)}, which a reply cannot supply; "
                        "the reaction could never fire"
                    )

    if lc.merge_event is not None:
        merges = [t for t in lc.transitions if t.event == lc.merge_event]
        if not merges:
            problems.append(f"merge_event {lc.merge_event!r} is not an event of this lifecycle")
        for t in merges:
            dest = next((s for s in lc.states if s.name == t.dest), None)
            if dest is not None and dest.category is not Category.CLOSED:
                problems.append(
                    f"merge_event {lc.merge_event!r} leads to {t.dest!r}, which is not in "
                    "category 'closed'; a merged ticket must be finished"
                )

    if problems or not lc.states:
        return problems  # the graph checks below need a well-formed graph
    problems.extend(_graph_problems(lc))
    return problems


def _graph_problems(lc: Lifecycle) -> list[str]:
    problems: list[str] = []
    category = {state.name: state.category for state in lc.states}
    successors: dict[str, set[str]] = {state.name: set() for state in lc.states}
    predecessors: dict[str, set[str]] = {state.name: set() for state in lc.states}
    for t in lc.transitions:
        for source in t.source:
            successors[source].add(t.dest)
            predecessors[t.dest].add(source)

    reachable = _closure(lc.initial, successors)
    for state in lc.states:
        if state.name not in reachable:
            problems.append(f"state {state.name!r} is unreachable from {lc.initial!r}")

    closed = {name for name, cat in category.items() if cat is Category.CLOSED}
    for state in lc.states:
        if state.category is not Category.CLOSED and not successors[state.name]:
            problems.append(
                f"state {state.name!r} ({state.category.value}) has no way out; only "
                "'closed' states may be terminal"
            )
    if not closed:
        problems.append("no state has category 'closed'; tickets could never finish")
    else:
        can_finish: set[str] = set()
        for end in closed:
            can_finish |= _closure(end, predecessors)
        for state in lc.states:
            if state.name in reachable and state.name not in can_finish and successors[state.name]:
                problems.append(
                    f"state {state.name!r} cannot lead to any 'closed' state; tickets there "
                    "could never finish"
                )
    resolved = [s.name for s in lc.states if s.category is Category.RESOLVED]
    if not resolved:
        problems.append("no state has category 'resolved'; tickets could never be resolved")
    return problems


def _closure(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


# -- plain-data form ------------------------------------------------------------------------


@frozen
class _StateData:
    name: str
    category: str
    description: str = ""


@frozen
class _TransitionData:
    event: str
    source: list[str]
    dest: str
    by: list[str] = attrs.Factory(lambda: [r.value for r in STAFF_AND_SYSTEM])
    requires: list[str] = attrs.Factory(list)
    guards: list[str] = attrs.Factory(list)
    description: str = ""


@frozen
class _ReactionData:
    on: str
    states: list[str]
    fire: str


@frozen
class _LifecycleData:
    """The on-disk shape of a lifecycle: lists and strings only."""

    name: str
    initial: str
    states: list[_StateData]
    transitions: list[_TransitionData]
    reactions: list[_ReactionData] = attrs.Factory(list)
    merge_event: str | None = None

    @classmethod
    def of(cls, lc: Lifecycle) -> _LifecycleData:
        return cls(
            name=lc.name,
            initial=lc.initial,
            states=[_StateData(s.name, s.category.value, s.description) for s in lc.states],
            transitions=[
                _TransitionData(
                    t.event,
                    list(t.source),
                    t.dest,
                    [r.value for r in t.by],
                    list(t.requires),
                    list(t.guards),
                    t.description,
                )
                for t in lc.transitions
            ],
            reactions=[_ReactionData(r.on, list(r.states), r.fire) for r in lc.reactions],
            merge_event=lc.merge_event,
        )

    def build(self, guards: Mapping[str, Guard]) -> Lifecycle:
        problems: list[str] = []
        states: list[State] = []
        for index, s in enumerate(self.states):
            try:
                states.append(State(s.name, s.category, s.description))
            except ValueError as exc:
                problems.append(f"state #{index + 1} ({s.name!r}): {exc}")
        transitions: list[Transition] = []
        for index, t in enumerate(self.transitions):
            try:
                transitions.append(
                    Transition(t.event, t.source, t.dest, t.by, t.requires, t.guards, t.description)
                )
            except ValueError as exc:
                problems.append(f"transition #{index + 1} ({t.event!r}): {exc}")
        try:
            lifecycle = Lifecycle(
                name=self.name,
                states=states,
                initial=self.initial,
                transitions=transitions,
                reactions=[Reaction(r.on, r.states, r.fire) for r in self.reactions],
                merge_event=self.merge_event,
                guards=guards,
            )
        except LifecycleError as exc:
            # Report the entries that could not even be read together with what
            # validating the rest found, so the whole definition is fixed in one pass.
            raise LifecycleError(self.name, [*problems, *exc.problems]) from None
        except ValueError as exc:
            raise LifecycleError(self.name, [*problems, str(exc)]) from None
        if problems:
            raise LifecycleError(self.name, problems)
        return lifecycle


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _str_list(value: Any, _type: type) -> list[str]:
    if isinstance(value, str):
        return [value]  # a single source written as a string is common in TOML
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of strings, got {type(value).__name__} {value!r}")
    return [_strict_str(item, str) for item in value]


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook_func(lambda t: t == list[str], _str_list)


def _describe_structure_error(exc: BaseException) -> list[str]:
    if isinstance(exc, cattrs.BaseValidationError):
        return [message.replace("$.", "") for message in cattrs.transform_error(exc, path="$")]
    return [str(exc)]
