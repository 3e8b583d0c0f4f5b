"""The dispatcher: from outbox rows to delivered (or dead-lettered) notifications.

Delivery runs in two steps, each safe with any number of dispatchers at once:

1. **Expand.** Claim outbox rows (events committed with their command), route
   each to its recipients, render each recipient's template, and queue the
   notifications, completing the outbox row in the same transaction (a
   compare-and-set on the claim). A template that fails to render
   dead-letters that one notification with the reason.
2. **Deliver.** Claim due notifications with a lease, hand each to the
   notifier for its channel, and record the outcome (again a compare-and-set
   on the claim): sent, retry later with exponential backoff and jitter (at
   least as long as a ``429``'s ``Retry-After``), or dead-lettered after a
   permanent failure or the last allowed attempt.

A notification's id is stable across attempts and dispatchers, so a receiver
that deduplicates on it applies each notification once. Without crashes
nothing is sent twice: a send is followed by its recorded outcome. A
dispatcher killed between a send and its record leaves that notification to
be sent again once its lease runs out; that window is the only source of
duplicates.

The dispatcher never reads the wall clock: ``now`` comes from its clock.
"""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from attrs import define, field, frozen

from supportflow._directory import Directory
from supportflow._time import Clock, SystemClock, to_utc
from supportflow.errors import ConfigError, DeliveryFailed, ValidationError
from supportflow.notify._model import Notification, Notifier
from supportflow.notify._routing import (
    DEFAULT_ROUTES,
    Route,
    Router,
    build,
    check_routes,
    context_of,
)
from supportflow.store import Delivery, DeliveryClaim, DeliveryQueue, Store

if TYPE_CHECKING:
    from supportflow._desk import Desk
    from supportflow._plugins import PluginHost
    from supportflow.notify._templates import Templates

__all__ = ["Backoff", "DispatchReport", "Dispatcher"]

_log = logging.getLogger("supportflow.notifications")


@frozen
class Backoff:
    """How long to wait before attempt ``n + 1`` after ``n`` failed ones.

    ``base * factor ** (n - 1)``, capped at ``cap``, then spread by ``jitter``
    (a fraction: 0.2 waits between 80 % and 120 % of that), so that many
    notifications failing together do not all retry in the same second.

    >>> b = Backoff(base=timedelta(seconds=10), factor=2, cap=timedelta(minutes=1), jitter=0)
    >>> [b.delay(n, random.Random(1)).total_seconds() for n in (1, 2, 3, 4, 5)]
    [10.0, 20.0, 40.0, 60.0, 60.0]
    """

    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2

    def __attrs_post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base:
            raise ConfigError(f"backoff needs 0 < base <= cap, got base={self.base} cap={self.cap}")
        if self.factor < 1:
            raise ConfigError(f"backoff factor must be at least 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, failures: int, rng: random.Random) -> timedelta:
        """The wait after ``failures`` failed attempts."""
        seconds = min(
            self.cap.total_seconds(),
            self.base.total_seconds() * self.factor ** max(0, failures - 1),
        )
        if self.jitter:
            seconds *= 1 + self.jitter * (2 * rng.random() - 1)
        return timedelta(seconds=seconds)


@define
class DispatchReport:
    """What one :meth:`Dispatcher.run_once` did."""

    expanded: int = 0
    queued: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0

    @property
    def idle(self) -> bool:
        """Nothing was there to do."""
        return not (self.expanded or self.sent or self.retried or self.dead or self.lost_claims)


def _notifier_map(notifiers: Iterable[Notifier]) -> dict[str, Notifier]:
    by_channel: dict[str, Notifier] = {}
    for notifier in notifiers:
        if not isinstance(notifier, Notifier):
            raise ConfigError(
                f"{notifier!r} is not a notifier: it needs name, channels, send() and close()"
            )
        for channel in notifier.channels:
            if channel in by_channel:
                raise ConfigError(
                    f"channel {channel!r} is served by both {by_channel[channel].name!r} and "
                    f"{notifier.name!r}; give each channel one notifier"
                )
            by_channel[channel] = notifier
    return by_channel


@define(eq=False)
class Dispatcher:
    """Delivers the outbox's events as notifications (see the module docs).

    Args:
        store: a store that is also a :class:`~supportflow.store.DeliveryQueue`
            (the memory and SQL stores are), with ``Desk(outbox=True)``
            writing its outbox.
        notifiers: one notifier per channel (``email``, ``webhook``, ``chat``, ``log``...).
        routes: which events notify whom (default :data:`DEFAULT_ROUTES`).
        directory: customers, agents and groups, for addresses and languages.
        templates: the templates (default: :func:`default_templates`).
        clock: where ``now`` comes from.
        plugins: receives ``supportflow_notification_sent`` / ``_failed``.
        max_attempts: sends tried before a notification is dead-lettered.
        backoff: the wait between attempts.
        lease: how long a claim holds an outbox row or a notification. A
            notification whose lease ran out while its batch was being sent
            is left to whoever claims it next, never sent late; keep ``batch``
            times the notifiers' worst-case send time below it.
        batch: how many rows and notifications one step claims.
        worker: a name for this dispatcher in the leases it takes.
        rng: the source of jitter (seed it for reproducible runs).
        ticket_url: a link pattern for templates, ``{id}`` replaced by the ticket id.
    """

    store: Store
    notifiers: Mapping[str, Notifier] = field(converter=_notifier_map)
    routes: tuple[Route, ...] = field(default=DEFAULT_ROUTES, converter=check_routes)
    directory: Directory = field(factory=Directory)
    templates: Templates | None = None
    clock: Clock = field(factory=SystemClock)
    plugins: PluginHost | None = None
    max_attempts: int = 10
    backoff: Backoff = field(factory=Backoff)
    lease: timedelta = timedelta(minutes=10)
    batch: int = 50
    worker: str = field(factory=lambda: f"{socket.gethostname()}")
    rng: random.Random = field(factory=random.Random)
    ticket_url: str | None = None
    _router: Router = field(init=False)
    _delivery_queue: DeliveryQueue = field(init=False)
    _templates: Templates = field(init=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.store, DeliveryQueue):
            raise ConfigError(
                f"{type(self.store).__name__} is not a delivery queue; use the memory or SQL "
                "store, or implement supportflow.store.DeliveryQueue"
            )
        self._delivery_queue = self.store
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"batch must be at least 1, got {self.batch!r}")
        if self.templates is None:
            from supportflow.notify._templates import default_templates

            self.templates = default_templates()
        self._templates = self.templates
        self._router = Router(routes=self.routes, directory=self.directory)

    @classmethod
    def for_desk(cls, desk: Desk, notifiers: Iterable[Notifier], **options: Any) -> Dispatcher:
        """A dispatcher on the desk's store, clock and plugins (the desk needs ``outbox=True``)."""
        if not desk.outbox:
            raise ConfigError(
                "the desk writes no outbox rows; create it with Desk(..., outbox=True)"
            )
        options.setdefault("clock", desk.clock)
        options.setdefault("plugins", desk.plugins)
        return cls(desk.store, notifiers, **options)

    # -- one pass ------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> DispatchReport:
        """Expand one batch of outbox rows, then deliver one batch of due notifications."""
        report = DispatchReport()
        self.expand(now, report)
        self.deliver(now, report)
        return report

    def drain(self, *, max_passes: int = 1000) -> DispatchReport:
        """Run passes until nothing is left to do now (or ``max_passes`` ran); the totals."""
        total = DispatchReport()
        for _ in range(max_passes):
            report = self.run_once()
            for name in ("expanded", "queued", "sent", "retried", "dead", "lost_claims"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if report.idle:
                break
        return total

    def expand(self, now: datetime | None = None, report: DispatchReport | None = None) -> int:
        """Turn one batch of outbox rows into queued notifications; returns the rows done."""
        report = report if report is not None else DispatchReport()
        moment = self._now(now)
        claims = self.store.claim_outbox(
            moment, lease=self.lease, limit=self.batch, worker=self.worker
        )
        for claim in claims:
            event = claim.message.event
            ticket = self.store.load(event.ticket_id)
            ready: list[Notification] = []
            failed: list[tuple[Notification, str]] = []
            if ticket is not None:
                for target in self._router.targets(event, ticket):
                    context = context_of(event, ticket, target.recipient, self.ticket_url)
                    try:
                        rendered = self._templates.render(
                            target.template, target.recipient.language, context
                        )
                    except ValidationError as exc:
                        stub = build(claim.message.id, event, ticket, target, "", "", None)
                        failed.append((stub, f"template: {exc}"))
                        continue
                    ready.append(
                        build(
                            claim.message.id,
                            event,
                            ticket,
                            target,
                            rendered.subject,
                            rendered.text,
                            rendered.html,
                        )
                    )
            if self._delivery_queue.expand_outbox(claim, moment, ready, failed):
                report.expanded += 1
                report.queued += len(ready)
                report.dead += len(failed)
                for stub, reason in failed:
                    self._failed(stub, reason, 0, dead=True)
            else:
                report.lost_claims += 1
        return len(claims)

    def deliver(self, now: datetime | None = None, report: DispatchReport | None = None) -> int:
        """Send one batch of due notifications; returns how many were claimed."""
        report = report if report is not None else DispatchReport()
        moment = self._now(now)
        claims = self._delivery_queue.claim_deliveries(
            moment, lease=self.lease, limit=self.batch, worker=self.worker
        )
        for claim in claims:
            self._deliver_one(claim, report)
        return len(claims)

    def _deliver_one(self, claim: DeliveryClaim, report: DispatchReport) -> None:
        notification = claim.notification
        if self.clock.now() >= claim.lease_until:
            # The batch outlasted its lease: another dispatcher may hold this
            # notification now. Leave it to them rather than send it twice.
            report.lost_claims += 1
            return
        if not notification.subject and not notification.text and notification.html is None:
            self._finish(
                claim,
                report,
                dead=True,
                error="never rendered (its template failed when the event was expanded); "
                "fix the template: later events render with the fix",
            )
            return
        notifier = self.notifiers.get(notification.recipient.channel)
        if notifier is None:
            self._finish(
                claim,
                report,
                dead=True,
                error=f"no notifier serves channel {notification.recipient.channel!r}",
            )
            return
        try:
            receipt = notifier.send(notification)
        except DeliveryFailed as exc:
            self._finish(
                claim, report, dead=exc.permanent, error=str(exc), retry_after=exc.retry_after
            )
            return
        except Exception as exc:  # a notifier bug or an unexpected error: retry, never crash
            self._finish(claim, report, dead=False, error=f"{type(exc).__name__}: {exc}")
            return
        done = self._delivery_queue.finish_delivery(
            claim, self.clock.now(), "sent", detail=receipt.detail
        )
        if not done:
            report.lost_claims += 1
            return
        report.sent += 1
        if self.plugins is not None:
            self.plugins.notify(
                "supportflow_notification_sent", notification=notification, receipt=receipt
            )

    def _finish(
        self,
        claim: DeliveryClaim,
        report: DispatchReport,
        *,
        dead: bool,
        error: str,
        retry_after: timedelta | None = None,
    ) -> None:
        moment = self.clock.now()
        give_up = dead or claim.attempts >= self.max_attempts
        if give_up:
            done = self._delivery_queue.finish_delivery(claim, moment, "dead", error=error)
        else:
            wait = self.backoff.delay(claim.attempts, self.rng)
            if retry_after is not None and retry_after > wait:
                wait = retry_after
            done = self._delivery_queue.finish_delivery(
                claim, moment, "retry", retry_at=moment + wait, error=error
            )
        if not done:
            report.lost_claims += 1
            return
        if give_up:
            report.dead += 1
        else:
            report.retried += 1
        self._failed(claim.notification, error, claim.attempts, dead=give_up)

    def _failed(self, notification: Notification, error: str, attempts: int, *, dead: bool) -> None:
        _log.warning(
            "notification %s (ticket %s, %s) %s after %d attempt(s): %s",
            notification.id,
            notification.ticket_id,
            notification.event_kind,
            "dead-lettered" if dead else "failed, will retry",
            attempts,
            error,
        )
        if self.plugins is not None:
            self.plugins.notify(
                "supportflow_notification_failed",
                notification=notification,
                error=error,
                attempts=attempts,
                dead=dead,
            )

    # -- inline delivery -------------------------------------------------------------------

    def inline(self, desk: Desk) -> None:
        """Deliver right after each of ``desk``'s commits, in the calling thread.

        For simple apps without a worker: the dispatcher runs from the desk's
        ticket hooks, which run after the commit, so a notifier that fails or
        raises is logged and retried later; it never rolls back the command.
        """
        from supportflow.hookspecs import hookimpl

        dispatcher = self

        class InlineDispatch:
            """Runs one dispatcher pass after every announced event."""

            @hookimpl
            def supportflow_ticket_opened(self) -> None:
                dispatcher.run_once()

            @hookimpl
            def supportflow_ticket_commented(self) -> None:
                dispatcher.run_once()

            @hookimpl
            def supportflow_ticket_transitioned(self) -> None:
                dispatcher.run_once()

            @hookimpl
            def supportflow_ticket_assigned(self) -> None:
                dispatcher.run_once()

            @hookimpl
            def supportflow_priority_changed(self) -> None:
                dispatcher.run_once()

            @hookimpl
            def supportflow_ticket_merged(self) -> None:
                dispatcher.run_once()

            @hookimpl
            def supportflow_escalated(self) -> None:
                dispatcher.run_once()

        desk.plugins.register(InlineDispatch(), name=f"supportflow-inline-dispatch-{id(self)}")

    # -- dead letters ----------------------------------------------------------------------

    def dead_letters(self, *, after: str | None = None, limit: int | None = 100) -> list[Delivery]:
        """The dead-lettered notifications, in id order, with their last error."""
        return self._delivery_queue.deliveries(status="dead", after=after, limit=limit)

    def requeue(self, ids: Iterable[str], now: datetime | None = None) -> int:
        """Send these dead letters again (attempts start over); returns how many."""
        return self._delivery_queue.requeue_deliveries(ids, self._now(now))

    def _now(self, now: datetime | None) -> datetime:
        return self.clock.now() if now is None else to_utc(now, "now")

    def close(self) -> None:
        """Close every notifier."""
        for notifier in {id(n): n for n in self.notifiers.values()}.values():
            notifier.close()
