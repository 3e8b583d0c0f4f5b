"""Clocks and the one rule about time: instants are timezone-aware.

The core never reads the wall clock. The shell asks a :class:`Clock`; tests and
simulations hand in a :class:`ManualClock` and move it by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from supportflow.errors import NaiveDatetimeError, ValidationError

__all__ = ["Clock", "ManualClock", "SystemClock", "ensure_aware", "to_utc"]


def ensure_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` unchanged if it carries a time zone, else raise.

    Args:
        value: the datetime to check.
        name: what the value is, for the error message (``"start"``, ``"at"``).

    Raises:
        NaiveDatetimeError: ``value`` has no ``tzinfo`` (or one that gives no offset).
        ValidationError: ``value`` is not a datetime at all.
    """
    if not isinstance(value, datetime):
        raise ValidationError(
            f"{name} must be a timezone-aware datetime, got {type(value).__name__} {value!r}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} {value.isoformat()} is naive (no time zone); supportflow never guesses "
            "one: pass an aware datetime, e.g. value.replace(tzinfo=ZoneInfo('Europe/Berlin')) "
            "or datetime.now(UTC)"
        )
    return value


def to_utc(value: datetime, name: str = "datetime") -> datetime:
    """Check that ``value`` is aware and convert it to UTC."""
    return ensure_aware(value, name).astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """Where the shell gets the current instant from.

    Implementations return a timezone-aware datetime. The core never calls
    ``datetime.now()``; it is handed instants by the shell, which asks a Clock.
    """

    def now(self) -> datetime:
        """Return the current instant, timezone-aware."""
        ...


class SystemClock:
    """The real clock: the current instant in UTC."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: for tests, notebooks and simulations.

    Example:
        >>> from datetime import datetime, timedelta, UTC
        >>> clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        >>> clock.advance(timedelta(minutes=90))
        datetime.datetime(2026, 3, 2, 10, 30, tzinfo=datetime.timezone.utc)
        >>> clock.now().isoformat()
        '2026-03-02T10:30:00+00:00'
    """

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        self._now = to_utc(start, "ManualClock start")

    def now(self) -> datetime:
        """The instant the clock was last set or advanced to (UTC)."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new instant.

        Raises:
            ValidationError: ``delta`` is negative: time does not run backwards.
        """
        if not isinstance(delta, timedelta):
            raise ValidationError(f"advance() takes a timedelta, got {delta!r}")
        if delta < timedelta(0):
            raise ValidationError(
                f"cannot advance a ManualClock by a negative amount ({delta}); "
                "time only moves forward"
            )
        self._now = self._now + delta
        return self._now

    def set(self, at: datetime) -> datetime:
        """Jump to the instant ``at`` (aware, not earlier than now) and return it.

        Raises:
            NaiveDatetimeError: ``at`` has no time zone.
            ValidationError: ``at`` is earlier than the clock's current instant.
        """
        target = to_utc(at, "ManualClock.set")
        if target < self._now:
            raise ValidationError(
                f"cannot set a ManualClock back from {self._now.isoformat()} to "
                f"{target.isoformat()}; time only moves forward"
            )
        self._now = target
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
