"""The storage port, and the in-memory store that is the reference backend.

A store keeps, per ticket, the ordered history of events and the snapshot
projected from it, and applies a :class:`Commit` atomically: all of its ticket
changes (and its idempotency record) are written, or none. The :class:`~supportflow.Desk`
computes commits with pure functions and hands them to the store; a store
never decides anything about tickets itself.

Writing a backend means implementing :class:`Store`; the conformance tests in
:mod:`supportflow.testing.storage` say whether it behaves.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import attrs
from attrs import field, frozen

from supportflow._model import Priority, Ticket, repeated
from supportflow._sla import SLAProjection, Timer
from supportflow.errors import (
    ConcurrencyConflict,
    IdempotencyConflict,
    StaleTimer,
    ValidationError,
)
from supportflow.events import Event

if TYPE_CHECKING:
    from supportflow.notify._model import Notification

__all__ = [
    "DELIVERY_STATUSES",
    "Commit",
    "Delivery",
    "DeliveryClaim",
    "DeliveryQueue",
    "IdempotencyRecord",
    "MemoryStore",
    "OutboxClaim",
    "OutboxMessage",
    "Store",
    "TicketChange",
    "TicketQuery",
    "TimerClaim",
]


@frozen(slots=False)  # dict-backed: built on every command, cheaper to create
class TicketChange:
    """One ticket's part of a commit.

    ``expected_version`` is the version the command read (0 for a new ticket);
    the store refuses the whole commit with
    :class:`~supportflow.errors.ConcurrencyConflict` if the stored version
    differs. ``events`` continue the history from ``expected_version + 1`` and
    ``ticket`` is the snapshot after them.

    ``sla`` is the ticket's SLA projection after the events, and ``timers`` the
    complete set of its pending timers, replacing the stored set (``None``
    leaves either unchanged). Timers already fired are never stored again.
    ``outbox`` holds the events to announce to notifiers, written to the
    outbox in the same transaction.

    ``fired`` names the timers this change carries out (an escalation step,
    an auto-close): in the same transaction each is removed from the pending
    set and its key recorded as fired. Each must still be pending and due no
    later than the instant it was claimed for; otherwise the store refuses
    the whole commit with :class:`~supportflow.errors.StaleTimer`. That is
    what makes a step happen once however many runners race for it.
    """

    ticket: Ticket
    expected_version: int
    events: tuple[Event, ...]
    sla: SLAProjection | None = None
    timers: tuple[Timer, ...] | None = None
    outbox: tuple[Event, ...] = ()
    fired: tuple[Timer, ...] = ()


@frozen
class OutboxMessage:
    """An event waiting to be delivered to notifiers.

    ``id`` is assigned by the store in commit order; it is the message's
    stable identity (and the notification's idempotency key).
    """

    id: int
    event: Event

    @property
    def ticket_id(self) -> str:
        """The ticket the event belongs to."""
        return self.event.ticket_id

    @property
    def kind(self) -> str:
        """The event's kind (``"opened"``, ``"commented"``, ...)."""
        return self.event.kind


@frozen
class OutboxClaim:
    """A leased hold on an outbox message.

    The holder completes it with :meth:`Store.complete_outbox`; if the lease
    runs out and someone else claims the message, it gets a new token and the
    late holder's completion is refused. A lease that ran out without anyone
    re-claiming the message still completes: the token is what counts.
    """

    message: OutboxMessage
    token: str
    lease_until: datetime
    attempts: int


@frozen
class TimerClaim:
    """A leased hold on a due timer (see :meth:`Store.claim_due_timers`).

    While the lease runs no other claimant receives the timer. The holder
    carries the timer out either in a commit that names it in
    :attr:`TicketChange.fired`, or with :meth:`Store.complete_timers`; a
    holder that dies leaves the lease to run out, and the timer is claimed
    again with a new token. ``attempts`` counts the claims so far, this one
    included.
    """

    timer: Timer
    token: str
    lease_until: datetime
    attempts: int


@frozen
class IdempotencyRecord:
    """What a command with an idempotency key produced, so a retry gets the same answer.

    ``fingerprint`` identifies the command and its arguments; ``ticket_id`` and
    ``version`` identify its result.
    """

    key: str
    fingerprint: str
    ticket_id: str
    version: int


@frozen(slots=False)
class Commit:
    """Everything one command writes, applied atomically."""

    changes: tuple[TicketChange, ...]
    idempotency: IdempotencyRecord | None = None


@frozen(kw_only=True)
class TicketQuery:
    """Which tickets :meth:`Store.find` returns: every given criterion must hold.

    ``states`` is a set of state names (the desk turns lifecycle categories into
    states). Results come in id order, which is creation order; page with
    ``after`` (the last id of the previous page) and ``limit``.
    """

    states: frozenset[str] | None = None
    assignee: str | None = None
    requester: str | None = None
    priority: Priority | None = None
    group: str | None = None
    after: str | None = None
    limit: int | None = field(default=None)


#: Where a notification is in its delivery: waiting (or between retries), done, given up.
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "sent", "dead")

Outcome = Literal["sent", "retry", "dead"]


@frozen
class Delivery:
    """A notification in the delivery queue, and how its delivery went.

    ``status`` is ``"pending"`` (due at ``next_at``), ``"sent"`` or ``"dead"``
    (dead-lettered: ``error`` says why). ``attempts`` counts the sends tried.
    """

    notification: Notification
    status: str
    attempts: int
    next_at: datetime | None
    error: str | None = None
    detail: str = ""
    finished_at: datetime | None = None


@frozen
class DeliveryClaim:
    """A leased hold on one pending notification (see :meth:`DeliveryQueue.claim_deliveries`)."""

    notification: Notification
    token: str
    lease_until: datetime
    attempts: int


@runtime_checkable
class DeliveryQueue(Protocol):
    """The notification queue a :class:`~supportflow.notify.Dispatcher` works from.

    Outbox rows (events) are *expanded* into one notification per recipient,
    in one compare-and-set on the outbox claim; each notification is then
    claimed, sent and finished on its own, so a retry never re-sends what
    already went out. The memory and SQL stores implement it.
    """

    def expand_outbox(
        self,
        claim: OutboxClaim,
        now: datetime,
        notifications: Sequence[Notification],
        failed: Sequence[tuple[Notification, str]] = (),
    ) -> bool:
        """Complete the outbox ``claim`` and queue its notifications, atomically.

        ``notifications`` become pending (due at ``now``); ``failed`` ones
        (those that could not even be built, say a template error) are stored
        as dead letters with their reason. A notification id already queued is
        left as it is. Returns ``False``, writing nothing, if the claim is no
        longer current.
        """
        ...

    def claim_deliveries(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[DeliveryClaim]:
        """Lease up to ``limit`` pending notifications due at ``now``, earliest first.

        Each claim counts one more attempt; concurrent claimants never get the
        same notification while its lease runs.
        """
        ...

    def finish_delivery(
        self,
        claim: DeliveryClaim,
        now: datetime,
        outcome: Outcome,
        *,
        retry_at: datetime | None = None,
        error: str | None = None,
        detail: str = "",
    ) -> bool:
        """Record how the claimed attempt went, if ``claim`` is still current.

        ``"sent"`` finishes it; ``"retry"`` makes it pending again at
        ``retry_at``; ``"dead"`` dead-letters it with ``error``. Returns
        whether the claim was current (a late worker's outcome is ignored).
        """
        ...

    def deliveries(
        self, *, status: str | None = None, after: str | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """The queued notifications (optionally of one status), in id order, paged."""
        ...

    def requeue_deliveries(self, ids: Iterable[str], now: datetime) -> int:
        """Make these dead letters pending again (due ``now``, attempts reset);
        returns how many were dead letters."""
        ...

    def delivery_counts(self) -> dict[str, int]:
        """How many notifications are pending, sent and dead."""
        ...


@runtime_checkable
class Store(Protocol):
    """What the :class:`~supportflow.Desk` needs from a storage backend."""

    def load(self, ticket_id: str) -> Ticket | None:
        """The latest snapshot of the ticket, or ``None`` if there is none."""
        ...

    def history(self, ticket_id: str) -> Sequence[Event]:
        """The ticket's events in order (empty if there is no such ticket)."""
        ...

    def commit(self, commit: Commit) -> None:
        """Apply ``commit`` atomically.

        Raises:
            ConcurrencyConflict: a change's ``expected_version`` is not the
                stored version; nothing was written.
            IdempotencyConflict: the commit's idempotency key is already
                recorded; nothing was written (the desk then returns the
                recorded result or reports the conflict).
        """
        ...

    def find(self, query: TicketQuery) -> list[Ticket]:
        """The snapshots matching ``query``, in id order."""
        ...

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record stored under ``key``, if any."""
        ...

    def sla_projection(self, ticket_id: str) -> SLAProjection | None:
        """The ticket's stored SLA projection, if any."""
        ...

    def pending_timers(self, ticket_id: str) -> tuple[Timer, ...]:
        """The ticket's timers that have not fired yet, in due order."""
        ...

    def claim_due_timers(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[TimerClaim]:
        """Lease up to ``limit`` pending timers due at ``now`` whose lease is free,
        oldest first (by due instant, then key).

        Concurrent claimants never receive the same timer while its lease runs.
        A claimed timer stays pending until it is carried out (a commit naming
        it in :attr:`TicketChange.fired`, or :meth:`complete_timers`); a commit
        that replaces the ticket's timers keeps the lease of every key it keeps.
        """
        ...

    def complete_timers(self, claims: Sequence[TimerClaim], now: datetime) -> list[Timer]:
        """Record the claimed timers as fired, for those ``claims`` that still hold
        their timer (compare-and-set on the token) and whose timer is still due
        no later than when it was claimed. Returns the timers recorded, in
        ``claims`` order; the others were taken over, cancelled or moved.
        """
        ...

    def renew_timers(
        self, claims: Sequence[TimerClaim], now: datetime, *, lease: timedelta
    ) -> list[TimerClaim]:
        """Extend the leases of those ``claims`` still held (same token) to
        ``now + lease``; returns the renewed claims, in ``claims`` order."""
        ...

    def claim_outbox(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[OutboxClaim]:
        """Lease up to ``limit`` undelivered messages whose lease is free, oldest first.

        Concurrent claimants never receive the same message while its lease
        runs; an expired lease makes the message claimable again.
        """
        ...

    def complete_outbox(self, claim: OutboxClaim, now: datetime) -> bool:
        """Mark the claimed message delivered, if the claim is still the
        current one (compare-and-set on its token). Returns whether it was."""
        ...

    def close(self) -> None:
        """Release the backend's resources."""
        ...


class MemoryStore:
    """Keeps everything in process memory: the default, and the reference backend.

    Thread-safe: a lock makes each commit atomic with respect to others. The
    snapshots handed out are immutable, so they are shared, not copied.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets: dict[str, Ticket] = {}
        self._histories: dict[str, list[Event]] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._sla: dict[str, SLAProjection] = {}
        self._timers: dict[str, dict[str, Timer]] = {}  # ticket id -> key -> timer
        self._fired: set[str] = set()
        # Timer key -> its lease; kept across timer-set replacements for the
        # keys that stay, dropped when the key fires or leaves the set.
        self._timer_leases: dict[str, _TimerLease] = {}
        self._outbox: dict[int, _OutboxRow] = {}
        self._outbox_ids = itertools.count(1)
        self._deliveries: dict[str, _DeliveryRow] = {}

    def load(self, ticket_id: str) -> Ticket | None:
        """The latest snapshot, or ``None``."""
        return self._tickets.get(ticket_id)

    def history(self, ticket_id: str) -> Sequence[Event]:
        """The ticket's events in order (a copy)."""
        return tuple(self._histories.get(ticket_id, ()))

    def commit(self, commit: Commit) -> None:
        """Apply ``commit`` atomically (see :meth:`Store.commit`)."""
        record = commit.idempotency
        check_commit(commit)
        with self._lock:
            if len(commit.changes) == 1 and record is None:
                self._commit_single(commit.changes[0])
                return
            for change in commit.changes:
                current = self._tickets.get(change.ticket.id)
                actual = 0 if current is None else current.version
                if actual != change.expected_version:
                    raise ConcurrencyConflict(
                        change.ticket.id,
                        change.expected_version,
                        None if current is None else actual,
                    )
            if record is not None and record.key in self._idempotency:
                raise IdempotencyConflict(f"idempotency key {record.key!r} is already recorded")
            for change in commit.changes:
                self._check_fired(change)
            for change in commit.changes:
                self._apply(change)
            if record is not None:
                self._idempotency[record.key] = record

    def _commit_single(self, change: TicketChange) -> None:
        # The common case (one ticket, no idempotency key), without the loops.
        ticket = change.ticket
        current = self._tickets.get(ticket.id)
        actual = 0 if current is None else current.version
        if actual != change.expected_version:
            raise ConcurrencyConflict(
                ticket.id, change.expected_version, None if current is None else actual
            )
        if change.fired:
            self._check_fired(change)
        self._apply(change)

    def _check_fired(self, change: TicketChange) -> None:
        pending = self._timers.get(change.ticket.id, {})
        for timer in change.fired:
            stored = pending.get(timer.key)
            if stored is None:
                raise StaleTimer(timer.key, "it is not pending (it fired, or was cancelled)")
            if stored.at > timer.at:
                moved = f"it was moved to {stored.at.isoformat()}, after {timer.at.isoformat()}"
                raise StaleTimer(timer.key, moved)

    def _apply(self, change: TicketChange) -> None:
        ticket = change.ticket
        if change.expected_version == 0:
            self._histories[ticket.id] = list(change.events)
        elif change.events:
            self._histories[ticket.id].extend(change.events)
        self._tickets[ticket.id] = ticket
        if change.sla is not None:
            self._sla[ticket.id] = change.sla
        fired = self._fired
        for timer in change.fired:
            fired.add(timer.key)
            self._timers[ticket.id].pop(timer.key, None)
            self._timer_leases.pop(timer.key, None)
        if change.timers is not None:
            before = self._timers.get(ticket.id, {})
            after = {t.key: t for t in change.timers if t.key not in fired}
            for gone in before.keys() - after.keys():
                self._timer_leases.pop(gone, None)
            self._timers[ticket.id] = after
        for event in change.outbox:
            message_id = next(self._outbox_ids)
            self._outbox[message_id] = _OutboxRow(OutboxMessage(message_id, event))

    def find(self, query: TicketQuery) -> list[Ticket]:
        """The snapshots matching ``query``, in id order."""
        check_limit(query.limit)
        found: list[Ticket] = []
        limit = query.limit
        for ticket in self._scan(query.after):
            if _matches(ticket, query):
                found.append(ticket)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def _scan(self, after: str | None) -> Iterator[Ticket]:
        # Dicts keep insertion order and ids are time-ordered, but a ticket
        # imported with an old id may come later: sort to honour "id order".
        tickets: Iterable[Ticket] = sorted(self._tickets.values(), key=lambda t: t.id)
        for ticket in tickets:
            if after is None or ticket.id > after:
                yield ticket

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The record stored under ``key``, if any."""
        return self._idempotency.get(key)

    def sla_projection(self, ticket_id: str) -> SLAProjection | None:
        """The ticket's stored SLA projection, if any."""
        return self._sla.get(ticket_id)

    def pending_timers(self, ticket_id: str) -> tuple[Timer, ...]:
        """The ticket's timers that have not fired yet, in due order."""
        timers = self._timers.get(ticket_id, {}).values()
        return tuple(sorted(timers, key=lambda t: (t.at, t.key)))

    def claim_due_timers(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[TimerClaim]:
        """Lease due timers, oldest first (see :meth:`Store.claim_due_timers`)."""
        check_limit(limit)
        check_lease(lease)
        leases = self._timer_leases
        claims: list[TimerClaim] = []
        with self._lock:
            due = sorted(
                (
                    t
                    for timers in self._timers.values()
                    for t in timers.values()
                    if t.at <= now and (t.key not in leases or leases[t.key].lease_until <= now)
                ),
                key=lambda t: (t.at, t.key),
            )
            for timer in due[:limit]:
                held = leases.setdefault(timer.key, _TimerLease())
                held.token, held.lease_until = secrets.token_hex(16), now + lease
                held.attempts += 1
                claims.append(TimerClaim(timer, held.token, held.lease_until, held.attempts))
        return claims

    def complete_timers(self, claims: Sequence[TimerClaim], now: datetime) -> list[Timer]:
        """Record the still-held, still-due claimed timers as fired (see
        :meth:`Store.complete_timers`)."""
        done: list[Timer] = []
        with self._lock:
            for claim in claims:
                timer = claim.timer
                stored = self._timers.get(timer.ticket_id, {}).get(timer.key)
                held = self._timer_leases.get(timer.key)
                if stored is None or stored.at > timer.at or held is None:
                    continue
                if held.token != claim.token:
                    continue
                del self._timers[timer.ticket_id][timer.key]
                del self._timer_leases[timer.key]
                self._fired.add(timer.key)
                done.append(timer)
        return done

    def renew_timers(
        self, claims: Sequence[TimerClaim], now: datetime, *, lease: timedelta
    ) -> list[TimerClaim]:
        """Extend the leases still held (see :meth:`Store.renew_timers`)."""
        check_lease(lease)
        renewed: list[TimerClaim] = []
        with self._lock:
            for claim in claims:
                held = self._timer_leases.get(claim.timer.key)
                if held is None or held.token != claim.token:
                    continue
                held.lease_until = now + lease
                renewed.append(attrs.evolve(claim, lease_until=held.lease_until))
        return renewed

    def claim_outbox(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[OutboxClaim]:
        """Lease undelivered messages, oldest first (see :meth:`Store.claim_outbox`)."""
        check_limit(limit)
        claims: list[OutboxClaim] = []
        with self._lock:
            for row in self._outbox.values():
                if len(claims) >= limit:
                    break
                if row.delivered_at is not None:
                    continue
                if row.lease_until is not None and row.lease_until > now:
                    continue
                row.token = secrets.token_hex(8)
                row.lease_until = now + lease
                row.attempts += 1
                row.worker = worker
                claims.append(OutboxClaim(row.message, row.token, row.lease_until, row.attempts))
        return claims

    def complete_outbox(self, claim: OutboxClaim, now: datetime) -> bool:
        """Mark delivered if ``claim`` is still current (see :meth:`Store.complete_outbox`)."""
        with self._lock:
            row = self._outbox.get(claim.message.id)
            if row is None or row.token != claim.token or row.delivered_at is not None:
                return False
            row.delivered_at = now
            return True

    def outbox_backlog(self) -> int:
        """How many messages are not delivered yet."""
        with self._lock:
            return sum(1 for row in self._outbox.values() if row.delivered_at is None)

    # -- the delivery queue (see DeliveryQueue) --

    def expand_outbox(
        self,
        claim: OutboxClaim,
        now: datetime,
        notifications: Sequence[Notification],
        failed: Sequence[tuple[Notification, str]] = (),
    ) -> bool:
        """Complete ``claim``, queue its notifications (:meth:`DeliveryQueue.expand_outbox`)."""
        check_notifications(notifications, failed)
        with self._lock:
            row = self._outbox.get(claim.message.id)
            if row is None or row.token != claim.token or row.delivered_at is not None:
                return False
            row.delivered_at = now
            for notification in notifications:
                if notification.id not in self._deliveries:
                    self._deliveries[notification.id] = _DeliveryRow(notification, now)
            for notification, reason in failed:
                if notification.id not in self._deliveries:
                    dead = _DeliveryRow(notification, None)
                    dead.status, dead.error, dead.finished_at = "dead", reason, now
                    self._deliveries[notification.id] = dead
            return True

    def claim_deliveries(
        self, now: datetime, *, lease: timedelta, limit: int, worker: str = ""
    ) -> list[DeliveryClaim]:
        """Lease due notifications (see :meth:`DeliveryQueue.claim_deliveries`)."""
        check_limit(limit)
        check_lease(lease)
        with self._lock:
            due = sorted(
                (
                    row
                    for row in self._deliveries.values()
                    if row.status == "pending"
                    and row.next_at is not None
                    and row.next_at <= now
                    and (row.lease_until is None or row.lease_until <= now)
                ),
                key=_delivery_order,
            )[:limit]
            claims = []
            for row in due:
                row.token = secrets.token_hex(8)
                row.lease_until = now + lease
                row.attempts += 1
                row.worker = worker
                claims.append(
                    DeliveryClaim(row.notification, row.token, row.lease_until, row.attempts)
                )
            return claims

    def finish_delivery(
        self,
        claim: DeliveryClaim,
        now: datetime,
        outcome: Outcome,
        *,
        retry_at: datetime | None = None,
        error: str | None = None,
        detail: str = "",
    ) -> bool:
        """Record the attempt's outcome (see :meth:`DeliveryQueue.finish_delivery`)."""
        check_outcome(outcome, retry_at)
        with self._lock:
            row = self._deliveries.get(claim.notification.id)
            if row is None or row.token != claim.token or row.status != "pending":
                return False
            row.token, row.lease_until = None, None
            row.error, row.detail = error, detail
            if outcome == "retry":
                row.next_at = retry_at
            else:
                row.status, row.next_at, row.finished_at = outcome, None, now
            return True

    def deliveries(
        self, *, status: str | None = None, after: str | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """Queued notifications in id order (see :meth:`DeliveryQueue.deliveries`)."""
        check_status(status)
        check_limit(limit)
        with self._lock:
            rows = sorted(self._deliveries.items())
            found = [
                row.delivery()
                for key, row in rows
                if (status is None or row.status == status) and (after is None or key > after)
            ]
        return found if limit is None else found[:limit]

    def requeue_deliveries(self, ids: Iterable[str], now: datetime) -> int:
        """Make dead letters pending again (see :meth:`DeliveryQueue.requeue_deliveries`)."""
        count = 0
        with self._lock:
            for key in set(ids):
                row = self._deliveries.get(key)
                if row is not None and row.status == "dead":
                    row.status, row.next_at, row.attempts = "pending", now, 0
                    row.finished_at = None
                    count += 1
        return count

    def delivery_counts(self) -> dict[str, int]:
        """How many notifications are in each status."""
        counts = dict.fromkeys(DELIVERY_STATUSES, 0)
        with self._lock:
            for row in self._deliveries.values():
                counts[row.status] += 1
        return counts

    def close(self) -> None:
        """Nothing to release: the data goes when the store does."""

    def __len__(self) -> int:
        return len(self._tickets)

    def __repr__(self) -> str:
        return f"<MemoryStore: {len(self._tickets)} tickets>"


def check_limit(limit: int | None) -> None:
    """Refuse a ``limit`` that is not ``None`` or a positive whole number.

    Raises:
        ValidationError: a zero, negative or non-integer limit.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit must be None or at least 1, got {limit!r}")


def check_commit(commit: Commit) -> None:
    """Refuse a malformed commit before anything is written.

    Every store calls this: a commit changes each ticket at most once, and a
    ticket's timers are filed under that ticket.

    Raises:
        ValidationError: a ticket appears twice, or a timer names another ticket.
    """
    changes = commit.changes
    if len(changes) == 1 and not changes[0].timers and not changes[0].fired:
        return  # the common command: one ticket, nothing to cross-check
    seen: set[str] = set()
    for change in changes:
        ticket_id = change.ticket.id
        if ticket_id in seen:
            raise ValidationError(
                f"commit changes ticket {ticket_id} twice; fold both changes into one TicketChange"
            )
        seen.add(ticket_id)
        for timer in (*(change.timers or ()), *change.fired):
            if timer.ticket_id != ticket_id:
                raise ValidationError(
                    f"timer {timer.key!r} belongs to ticket {timer.ticket_id}, but was filed "
                    f"with ticket {ticket_id}"
                )


def check_lease(lease: timedelta) -> None:
    """Refuse a lease that is not a positive timedelta."""
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise ValidationError(f"lease must be a positive timedelta, got {lease!r}")


def check_status(status: str | None) -> None:
    """Refuse an unknown delivery status."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationError(
            f"unknown delivery status {status!r}; use one of {', '.join(DELIVERY_STATUSES)}"
        )


def check_outcome(outcome: str, retry_at: datetime | None) -> None:
    """Refuse an outcome other than sent/retry/dead, or a retry without its time."""
    if outcome not in ("sent", "retry", "dead"):
        raise ValidationError(f"unknown delivery outcome {outcome!r}; use sent, retry or dead")
    if (outcome == "retry") != (retry_at is not None):
        raise ValidationError(
            f"a {outcome!r} outcome {'needs' if outcome == 'retry' else 'takes no'} retry_at"
        )


def check_notifications(
    notifications: Sequence[Notification], failed: Sequence[tuple[Notification, str]]
) -> None:
    """Refuse an expansion that lists a notification id twice."""
    twice = repeated([n.id for n in notifications] + [n.id for n, _ in failed])
    if twice:
        raise ValidationError(
            f"notification ids {twice} appear twice in one expansion; make route keys unique"
        )


class _DeliveryRow:
    __slots__ = (
        "attempts",
        "detail",
        "error",
        "finished_at",
        "lease_until",
        "next_at",
        "notification",
        "status",
        "token",
        "worker",
    )

    def __init__(self, notification: Notification, next_at: datetime | None) -> None:
        self.notification = notification
        self.status = "pending"
        self.attempts = 0
        self.next_at = next_at
        self.token: str | None = None
        self.lease_until: datetime | None = None
        self.worker = ""
        self.error: str | None = None
        self.detail = ""
        self.finished_at: datetime | None = None

    def delivery(self) -> Delivery:
        return Delivery(
            self.notification,
            self.status,
            self.attempts,
            self.next_at,
            self.error,
            self.detail,
            self.finished_at,
        )


def _delivery_order(row: _DeliveryRow) -> tuple[datetime, str]:
    assert row.next_at is not None
    return (row.next_at, row.notification.id)


class _TimerLease:
    """A claimed timer's lease in a MemoryStore (the timer itself stays pending)."""

    __slots__ = ("attempts", "lease_until", "token")

    def __init__(self) -> None:
        self.token = ""
        self.lease_until = datetime.min.replace(tzinfo=UTC)
        self.attempts = 0


class _OutboxRow:
    __slots__ = ("attempts", "delivered_at", "lease_until", "message", "token", "worker")

    def __init__(self, message: OutboxMessage) -> None:
        self.message = message
        self.token: str | None = None
        self.lease_until: datetime | None = None
        self.attempts = 0
        self.worker = ""
        self.delivered_at: datetime | None = None


def _matches(ticket: Ticket, query: TicketQuery) -> bool:
    return (
        (query.states is None or ticket.state in query.states)
        and (query.assignee is None or ticket.assignee == query.assignee)
        and (query.requester is None or ticket.requester == query.requester)
        and (query.priority is None or ticket.priority is query.priority)
        and (query.group is None or ticket.group == query.group)
    )
