"""Bulk import: whole ticket histories into a store, validated and written in batches.

:func:`import_histories` is how tickets from another system (or a backup)
get into a store without running one desk command per event. Every history
is replayed first (:func:`supportflow.events.replay`), so what lands in the
store is exactly what a desk would have written: the events, versions 1 to
n, and the snapshot they project to.

Stores that offer ``import_tickets(changes)`` (the SQL store does: one
transaction of multi-row inserts per batch) get each batch through it; any
other :class:`~supportflow.Store` gets one :meth:`~supportflow.Store.commit`
per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from supportflow._lifecycle import Lifecycle
from supportflow._model import Ticket
from supportflow.errors import ValidationError
from supportflow.events import Event, TicketOpened, Transitioned, apply, replay
from supportflow.store import Commit, Store, TicketChange

__all__ = ["BulkImporter", "import_histories"]


@runtime_checkable
class BulkImporter(Protocol):
    """A store that writes a batch of new tickets faster than a commit does.

    ``import_tickets`` writes every change atomically: all of them or none.
    Every change is a new ticket (``expected_version == 0``); a ticket id
    that exists already refuses the whole batch with
    :class:`~supportflow.errors.ConcurrencyConflict`.
    """

    def import_tickets(self, changes: Sequence[TicketChange]) -> None: ...


def import_histories(
    store: Store,
    histories: Iterable[Sequence[Event]],
    *,
    lifecycle: Lifecycle | None = None,
    batch: int = 1000,
) -> int:
    """Write whole ticket histories to ``store`` as new tickets; return how many.

    Each history is the complete event sequence of one ticket: a
    :class:`~supportflow.events.TicketOpened` (version 1), then versions 2 to
    n of the same ticket. It is replayed to build the snapshot stored with
    it. With ``lifecycle``, its states must be the lifecycle's, and each
    :class:`~supportflow.events.Transitioned` must be a transition the
    lifecycle defines from the state the ticket was in (rights and guards
    are not re-checked: the history records what was allowed then).

    Tickets are written ``batch`` at a time; each batch is atomic. Histories
    are read lazily, so an iterator of millions is fine. No SLA projections,
    timers or outbox messages are written: a desk with SLA policies replays
    an imported ticket's history on its next command (or ``desk.sla()``),
    and notifiers are not told about the past.

    Raises:
        ValidationError: a history does not replay (empty, not starting with
            ``TicketOpened``, a gap or repeat in the versions, another
            ticket's event, a naive datetime), or breaks ``lifecycle``; the
            message names the ticket and the event version. That history's
            batch and everything after it are not written; earlier batches
            are, and the message says how many tickets that was.
        ConcurrencyConflict: a ticket id already exists in the store; that
            batch is not written (nor anything after it).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError(f"batch must be a whole number of at least 1, got {batch!r}")
    importer = store if isinstance(store, BulkImporter) else None
    imported = 0
    pending: list[TicketChange] = []
    for history in histories:
        events = tuple(history)
        try:
            ticket = _replayed(events, lifecycle)
        except ValidationError as exc:
            if imported:
                raise ValidationError(
                    f"{exc} ({imported} tickets of earlier batches were imported)"
                ) from None
            raise
        pending.append(TicketChange(ticket, 0, events))
        if len(pending) >= batch:
            _write(store, importer, pending)
            imported += len(pending)
            pending = []
    if pending:
        _write(store, importer, pending)
        imported += len(pending)
    return imported


def _write(store: Store, importer: BulkImporter | None, changes: list[TicketChange]) -> None:
    if importer is not None:
        importer.import_tickets(changes)
    else:
        store.commit(Commit(tuple(changes)))


def _replayed(events: tuple[Event, ...], lifecycle: Lifecycle | None) -> Ticket:
    """The snapshot ``events`` replay to, after checking they form one whole history."""
    if not events:
        raise ValidationError("cannot import an empty history: it must start with TicketOpened")
    first = events[0]
    if not isinstance(first, TicketOpened):
        name = getattr(first, "ticket_id", None)
        what = f"ticket {name}" if isinstance(name, str) else "a history"
        raise ValidationError(
            f"cannot import {what}: event version {getattr(first, 'version', '?')} is a "
            f"{type(first).__name__}, but a history starts with TicketOpened (version 1)"
        )
    ticket_id = first.ticket_id
    for event in events:
        if not isinstance(event, Event):
            raise ValidationError(
                f"cannot import ticket {ticket_id}: its history holds {event!r}, which is "
                "not a supportflow event"
            )
        if event.at.tzinfo is None or event.at.utcoffset() is None:
            raise ValidationError(
                f"cannot import ticket {ticket_id}: event version {event.version} "
                f"({type(event).__name__}) has a naive datetime {event.at!r}; attach a time zone"
            )
    try:
        ticket = replay(events)
    except ValueError:
        ticket = None
    if ticket is None or ticket.id != ticket_id or ticket.version != len(events):
        raise ValidationError(_why_not(events))
    if lifecycle is not None:
        _check_lifecycle(events, lifecycle)
    return ticket


def _why_not(events: tuple[Event, ...]) -> str:
    """Say which event of a history that does not replay is the first bad one."""
    ticket_id = events[0].ticket_id
    ticket: Ticket | None = None
    for position, event in enumerate(events, start=1):
        problem = None
        if event.ticket_id != ticket_id:
            problem = f"belongs to ticket {event.ticket_id}"
        elif event.version != position:
            problem = f"comes where version {position} should"
        else:
            try:
                ticket = apply(ticket, event)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            return (
                f"cannot import ticket {ticket_id}: its history does not replay at event "
                f"version {event.version} ({type(event).__name__}): {problem}; a history is "
                "TicketOpened (version 1), then versions 2, 3, ... of the same ticket"
            )
    return f"cannot import ticket {ticket_id}: its history does not replay"  # pragma: no cover


def _check_lifecycle(events: tuple[Event, ...], lifecycle: Lifecycle) -> None:
    first = events[0]
    assert isinstance(first, TicketOpened)
    known = set(lifecycle.state_names)
    if first.state not in known:
        raise ValidationError(
            f"cannot import ticket {first.ticket_id}: event version 1 opens it in state "
            f"{first.state!r}, which lifecycle {lifecycle.name!r} does not have"
        )
    state = first.state
    for event in events[1:]:
        if not isinstance(event, Transitioned):
            continue
        route = lifecycle.transition_for(event.event, state)
        if event.source != state or route is None or route.dest != event.dest:
            raise ValidationError(
                f"cannot import ticket {event.ticket_id}: event version {event.version} "
                f"moves it {event.source!r} → {event.dest!r} by {event.event!r} while it is "
                f"in {state!r}; lifecycle {lifecycle.name!r} has no such transition"
            )
        state = event.dest
