"""Every exception supportflow raises on purpose.

All of them derive from :class:`SupportflowError`, so an application can catch
the library's errors in one place. Each message names the offending value and
says how to fix it. A command that raises any of these has changed nothing: no
event, no snapshot, no hook.

The hierarchy::

    SupportflowError
    ├── ValidationError (also ValueError)     a bad argument value
    │   └── NaiveDatetimeError                a datetime without a time zone
    ├── ConfigError                           a bad configuration
    │   └── LifecycleError                    a lifecycle definition with problems
    ├── InvalidTransition                     an event not allowed now
    ├── PermissionDenied                      the actor lacks the right
    ├── NotFound (also LookupError)           no such ticket (or not visible)
    ├── ConcurrencyConflict                   another writer got there first
    ├── IdempotencyConflict                   a key reused with other arguments
    ├── UnsafeDestination (also ValidationError) a webhook URL or address refused
    ├── HeaderInjection (also ValidationError)   an e-mail header value refused
    └── DeliveryFailed                        a notifier could not deliver
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

__all__ = [
    "ConcurrencyConflict",
    "ConfigError",
    "DeliveryFailed",
    "HeaderInjection",
    "IdempotencyConflict",
    "InvalidTransition",
    "LifecycleError",
    "NaiveDatetimeError",
    "NotFound",
    "PermissionDenied",
    "StaleTimer",
    "SupportflowError",
    "UnsafeDestination",
    "ValidationError",
]


class SupportflowError(Exception):
    """Base class of every error raised by supportflow on purpose."""


class ValidationError(SupportflowError, ValueError):
    """An argument has a value supportflow cannot accept (unknown priority,
    empty subject, ...). The message names the value and the accepted ones."""


class NaiveDatetimeError(ValidationError):
    """A datetime without ``tzinfo`` was given where an instant is needed.

    supportflow never guesses a time zone: attach one, for example with
    ``datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))``.
    """


class ConfigError(SupportflowError):
    """A configuration (lifecycle, priority matrix, plugin setup) is invalid."""


class LifecycleError(ConfigError):
    """A lifecycle definition failed validation.

    Every problem found is listed at once in :attr:`problems`, so a definition
    can be fixed in one pass rather than one error at a time.
    """

    def __init__(self, name: str, problems: Iterable[str]) -> None:
        self.lifecycle = name
        self.problems: tuple[str, ...] = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"lifecycle {name!r} has {count} {noun}:\n{listing}")


class InvalidTransition(SupportflowError):
    """An event cannot be fired on a ticket in its current state.

    Raised when the event is not defined from the ticket's state, when a guard
    refuses it (for example ``resolve`` without a ``resolution``), or when the
    ticket is closed. :attr:`allowed` lists the events that are possible from
    the ticket's state.
    """

    def __init__(
        self,
        message: str,
        *,
        ticket_id: str | None = None,
        state: str | None = None,
        event: str | None = None,
        allowed: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.ticket_id = ticket_id
        self.state = state
        self.event = event
        self.allowed: tuple[str, ...] = tuple(allowed)


class PermissionDenied(SupportflowError):
    """The actor's role does not hold the right the command needs."""


class NotFound(SupportflowError, LookupError):
    """No ticket with that id exists, or it exists but is not visible to the
    actor asking (a customer looking at somebody else's ticket)."""


class ConcurrencyConflict(SupportflowError):
    """Another writer changed the ticket between this command's read and its
    write. Nothing was written; reload and retry the command."""

    def __init__(self, ticket_id: str, expected: int, actual: int | None) -> None:
        self.ticket_id = ticket_id
        self.expected = expected
        self.actual = actual
        found = "it no longer exists" if actual is None else f"it is at version {actual}"
        super().__init__(
            f"ticket {ticket_id} changed concurrently: expected version {expected}, "
            f"but {found}; reload the ticket and retry the command"
        )


class StaleTimer(SupportflowError):
    """A commit tried to fire a timer that is no longer due: it fired already,
    or a later command cancelled it or moved it later. Nothing was written.

    The due-work runner expects this when two runners race for a step or a
    ticket changed between the claim and the step: the step is simply not
    taken again.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"timer {key!r} cannot fire: {reason}; nothing was written")


class IdempotencyConflict(SupportflowError):
    """An idempotency key was reused with different arguments.

    The same key with the same arguments returns the first result; with other
    arguments it is almost certainly a bug in the caller, so it is refused.
    """


class UnsafeDestination(ValidationError):
    """A notification destination is refused: a webhook URL with a scheme other
    than http/https, credentials in it, or a host that resolves to a loopback,
    private, link-local or otherwise internal address (unless allow-listed)."""


class HeaderInjection(ValidationError):
    """An e-mail header value (subject, name, address) holds CR, LF, NUL or an
    encoded word that would break the header; refused before any message is built."""


class DeliveryFailed(SupportflowError):
    """A notifier could not deliver a notification.

    Attributes:
        permanent: retrying cannot help (a template error, a ``4xx`` refusal, an
            unknown recipient): the notification is dead-lettered at once.
        retry_after: the receiver asked to wait this long (``429 Retry-After``);
            the dispatcher waits at least this long before the next attempt.
        disable_endpoint: the endpoint is gone for good (``410 Gone``): the
            notifier stops sending to it.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: timedelta | None = None,
        disable_endpoint: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or disable_endpoint
        self.retry_after = retry_after
        self.disable_endpoint = disable_endpoint
