"""Business calendars: when the support desk is open, and business-time arithmetic.

A :class:`BusinessCalendar` says which wall-clock hours are open in one IANA time
zone, week by week, minus holidays and with per-date overrides. It answers the
questions SLA clocks ask: *what is the deadline* (:meth:`BusinessCalendar.add`),
*how much business time has passed* (:meth:`BusinessCalendar.elapsed`), *are we
open* (:meth:`BusinessCalendar.is_open`, :meth:`BusinessCalendar.next_open`), and
*show me why* (:meth:`BusinessCalendar.explain`).

The rules, in one place:

* Open intervals are wall-clock times in the calendar's zone. Business time is
  the **real elapsed time** inside them: a 00:00-12:00 window holds 11 hours on
  a spring-forward day and 13 on a fall-back day.
* An interval belongs to the day it starts on; ``22:00-06:00`` runs into the
  next morning, and ``24:00`` is a valid end.
* A wall-clock boundary inside a DST gap moves forward by the gap (02:30 on a
  day that jumps from 02:00 to 03:00 becomes 03:30); an ambiguous boundary in
  the autumn overlap takes its first occurrence. Both are Python's ``fold=0``.
* Precedence for a date: an override, else a holiday (closes the intervals that
  *start* on that date), else the weekly hours.
* Where intervals of neighbouring days overlap (an override against last
  night's shift) the open time is their union: nothing is counted twice.
* Arithmetic is exact to the microsecond; every result is an aware datetime in
  **UTC**. The calendar never reads the wall clock.
* No search runs further than the calendar's ``horizon`` (default 3653 days,
  about ten years) past its starting instant; beyond that a
  :class:`~supportflow.errors.ValidationError` names the horizon. Dates within
  three days of ``date.min`` or ``date.max`` count as closed.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Final, Literal, NoReturn, TypeAlias, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import field, frozen

from supportflow._time import ensure_aware
from supportflow.errors import ConfigError, ValidationError

__all__ = [
    "DEFAULT_HORIZON",
    "BusinessCalendar",
    "BusinessInterval",
    "CalendarExplanation",
    "SkippedDay",
]

#: How far past its starting instant a calendar search may look, unless the
#: calendar is built with another ``horizon``: ten years, leap days included.
DEFAULT_HORIZON: Final = timedelta(days=3653)

_DAY_S: Final = 86_400
_DAY_US: Final = 86_400_000_000
_ONE_US: Final = timedelta(microseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = 719_163  # date(1970, 1, 1).toordinal()
# Days this close to date.min/date.max are treated as closed, so that building
# their intervals (which may run 48 h of wall clock past midnight) cannot overflow.
_FIRST_ORDINAL: Final = 3
_LAST_ORDINAL: Final = date.max.toordinal() - 3
# Past this many cached days/segments a cache is emptied and refilled: bounded
# memory, and still a full horizon of warm days.
_CACHE_LIMIT: Final = 8192

_DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_TITLES: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
_DAY_TOKENS: Final = {
    **{name: index for index, name in enumerate(_DAY_NAMES)},
    **{title.lower(): index for index, title in enumerate(_DAY_TITLES)},
}
_TIME_RE: Final = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_SPEC_HELP: Final = "e.g. 'mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00'"

# (start, end) in seconds from the start day's midnight, wall clock; an end past
# 86 400 runs into the next day.
_WallInterval: TypeAlias = tuple[int, int]
_DayHours: TypeAlias = tuple[_WallInterval, ...]
# One UTC day of open time: interval starts, interval ends, running totals of the
# interval lengths, and the day's total, all in microseconds since the epoch.
_Segment: TypeAlias = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]
_EMPTY_SEGMENT: Final[_Segment] = ((), (), (), 0)
_DayKind: TypeAlias = Literal["hours", "override", "holiday", "closed"]

SkipReason: TypeAlias = Literal["closed", "holiday", "override", "dst"]
IntervalSource: TypeAlias = Literal["hours", "override"]


# --------------------------------------------------------------------------- values


@frozen
class BusinessInterval:
    """One stretch of counted business time in an explanation.

    Attributes:
        day: the local date the interval belongs to (the day it starts on in the
            calendar, before clipping).
        start_utc: where counting starts, in UTC.
        end_utc: where counting stops, in UTC.
        start_local: ``start_utc`` in the calendar's zone.
        end_local: ``end_utc`` in the calendar's zone.
        source: ``"hours"`` for the weekly hours, ``"override"`` for a date override.
    """

    day: date
    start_utc: datetime
    end_utc: datetime
    start_local: datetime
    end_local: datetime
    source: IntervalSource

    @property
    def duration(self) -> timedelta:
        """The real time between ``start_utc`` and ``end_utc``."""
        return self.end_utc - self.start_utc


@frozen
class SkippedDay:
    """A local date inside an explained window that contributed no business time.

    Attributes:
        day: the local date.
        reason: ``"closed"`` (no weekly hours that weekday), ``"holiday"``,
            ``"override"`` (an override closes the date) or ``"dst"`` (the
            date's hours fall entirely into a DST gap).
        detail: a human sentence, e.g. ``"holiday: Christmas Day"``.
    """

    day: date
    reason: SkipReason
    detail: str


@frozen
class CalendarExplanation:
    """What :meth:`BusinessCalendar.explain` returns: an auditable account of a window.

    ``str()`` of it is a table a human can check line by line against the
    calendar's definition.

    Attributes:
        start: the window's start, in UTC.
        end: the window's end, in UTC.
        zone: the calendar's IANA zone name.
        intervals: the business intervals counted, clipped to the window, in order.
        skipped: the local dates in the window that counted nothing, and why.
        total: the business time in the window; equals
            :meth:`BusinessCalendar.elapsed` for the same window.
    """

    start: datetime
    end: datetime
    zone: str
    intervals: tuple[BusinessInterval, ...]
    skipped: tuple[SkippedDay, ...]
    total: timedelta

    def __str__(self) -> str:
        zone = ZoneInfo(self.zone)
        local_start, local_end = self.start.astimezone(zone), self.end.astimezone(zone)
        lines = [
            f"Business time in {self.zone}",
            f"  from {_fmt_moment(local_start)} ({_fmt_utc(self.start)})",
            f"  to   {_fmt_moment(local_end)} ({_fmt_utc(self.end)})",
        ]
        rows: list[tuple[date, int, str]] = []
        for piece in self.intervals:
            local = _fmt_span(piece.start_local, piece.end_local, piece.day)
            utc = _fmt_span(piece.start_utc, piece.end_utc, piece.day)
            note = "  override" if piece.source == "override" else ""
            text = f"{local:<24} = {utc:<20} {_fmt_duration(piece.duration):>9}{note}"
            rows.append((piece.day, 0, text))
        rows.extend((skip.day, 1, f"skipped: {skip.detail}") for skip in self.skipped)
        for day, _order, text in sorted(rows, key=lambda row: (row[0], row[1])):
            lines.append(f"  {day.strftime('%a')} {day.isoformat()}  {text}".rstrip())
        lines.append(f"Total: {_fmt_duration(self.total)}")
        return "\n".join(lines)


# ------------------------------------------------------------------------- calendar


@frozen(repr=False)
class BusinessCalendar:
    """Open hours in one time zone, and exact business-time arithmetic over them.

    Build one with :meth:`weekly` or :meth:`always`, not with the constructor.
    A calendar is an immutable value; it keeps a bounded private cache of the
    days it has already resolved, which is why repeated calls are fast.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> cal = BusinessCalendar.weekly("mon-fri 09:00-12:00,13:00-17:00", tz="Europe/Berlin")
        >>> friday = datetime(2026, 3, 27, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        >>> cal.add(friday, timedelta(hours=2))  # 1 h on Friday, 1 h on Monday (now CEST)
        datetime.datetime(2026, 3, 30, 8, 0, tzinfo=datetime.timezone.utc)
        >>> cal.elapsed(friday, datetime(2026, 3, 30, 14, 0, tzinfo=UTC))  # 1 h + 3 h + 3 h
        datetime.timedelta(seconds=25200)
        >>> cal.is_open(friday)
        True

    Attributes:
        zone: the calendar's time zone.
        week: for Monday..Sunday, the open intervals as (start, end) seconds from
            midnight, wall clock; an end past 86400 runs into the next day.
        holidays: dates whose intervals are closed (anything supporting ``in``).
        overrides: special hours per date, same form as a ``week`` entry.
        horizon: how far past its starting instant a search may look.
        spec: the hours as written, for ``repr``.
    """

    zone: ZoneInfo
    week: tuple[_DayHours, _DayHours, _DayHours, _DayHours, _DayHours, _DayHours, _DayHours]
    holidays: Container[date] = field(factory=frozenset, hash=False)
    overrides: Mapping[date, _DayHours] = field(factory=dict, hash=False)
    horizon: timedelta = DEFAULT_HORIZON
    spec: str = field(default="", eq=False)
    _horizon_us: int = field(init=False, eq=False, hash=False)
    _reach: int = field(init=False, eq=False, hash=False)
    _days: dict[int, tuple[_WallInterval, ...]] = field(
        init=False, factory=dict, eq=False, hash=False
    )
    _segments: dict[int, _Segment] = field(init=False, factory=dict, eq=False, hash=False)
    _blocks: dict[int, int] = field(init=False, factory=dict, eq=False, hash=False)

    @_horizon_us.default
    def _horizon_us_default(self) -> int:
        # Validated in __attrs_post_init__, which runs after this default.
        return self.horizon // _ONE_US if isinstance(self.horizon, timedelta) else 0

    @_reach.default
    def _reach_default(self) -> int:
        every_day = (*self.week, *self.overrides.values())
        spills = any(end > _DAY_S for hours in every_day for _start, end in hours)
        return 2 if spills else 1

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.horizon, timedelta) or self.horizon <= timedelta(0):
            raise ConfigError(
                f"horizon must be a positive timedelta, got {self.horizon!r}; "
                "pass e.g. horizon=timedelta(days=3653) (about ten years)"
            )
        if not any(self.week):
            raise ConfigError(
                f"calendar {self.spec!r} has no open time in the week; give at least one "
                f"day with hours, {_SPEC_HELP}"
            )

    # -- construction --------------------------------------------------------

    @classmethod
    def weekly(
        cls,
        spec: str,
        *,
        tz: str | ZoneInfo,
        holidays: Iterable[date] | Container[date] | None = None,
        overrides: Mapping[date, str | Iterable[str]] | None = None,
        horizon: timedelta = DEFAULT_HORIZON,
    ) -> BusinessCalendar:
        """Build a calendar from weekly hours written as text.

        The spec is ``;``-separated groups of *days* then *intervals*:
        ``"mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00"``. Days are
        ``mon``..``sun`` (or full names), ranges (``mon-fri``, wrapping
        ``fri-mon``), lists (``mon,wed``) or ``daily``. Intervals are
        ``HH:MM-HH:MM`` (``HH:MM:SS`` also accepted), comma-separated; an end at
        or before the start crosses midnight (``22:00-06:00``) and belongs to the
        start day; ``24:00`` ends at midnight. ``closed`` instead of intervals
        makes the days explicitly closed. A day named in several groups gets all
        their intervals.

        Args:
            spec: the weekly hours.
            tz: an IANA zone name (``"Europe/Berlin"``) or a ``ZoneInfo``. Required:
                the calendar never guesses a zone.
            holidays: closed dates, either an iterable of ``date`` or any object
                supporting ``day in holidays`` such as
                ``holidays.country_holidays("DE", subdiv="BY")`` (queried lazily,
                its names are shown by :meth:`explain`). A holiday closes the
                intervals that start on it; last night's shift still ends.
            overrides: special hours for single dates, replacing both the weekly
                hours and any holiday there: ``{date(2026, 12, 24): "09:00-12:00"}``.
                A value is an interval string, an iterable of them, or ``""``/``()``
                (closed that day).
            horizon: how far past its starting instant any search may look before
                giving up with a ValidationError (default: about ten years).

        Returns:
            The calendar.

        Raises:
            ConfigError: the spec, a holiday, an override, the zone or the horizon
                is invalid, two intervals of one day overlap, or the week has no
                open time. The message names the bad part.
        """
        if not isinstance(spec, str):
            raise ConfigError(f"the weekly hours must be a string, {_SPEC_HELP}; got {spec!r}")
        zone = _load_zone(tz)
        week = _parse_week(spec)
        return cls(
            zone=zone,
            week=week,
            holidays=_holiday_container(holidays),
            overrides=_parse_overrides(overrides),
            horizon=horizon,
            spec=spec,
        )

    @classmethod
    def always(
        cls,
        tz: str | ZoneInfo = "UTC",
        *,
        holidays: Iterable[date] | Container[date] | None = None,
        overrides: Mapping[date, str | Iterable[str]] | None = None,
        horizon: timedelta = DEFAULT_HORIZON,
    ) -> BusinessCalendar:
        """Build a 24x7 calendar: business time is real time.

        Holidays and overrides still apply (in ``tz``), which makes e.g. "24x7
        except Christmas Day" possible.

        Args:
            tz: the zone that holidays and overrides are read in.
            holidays: as for :meth:`weekly`.
            overrides: as for :meth:`weekly`.
            horizon: as for :meth:`weekly`.

        Returns:
            The calendar.

        Raises:
            ConfigError: as for :meth:`weekly`.

        Example:
            >>> from datetime import UTC, datetime, timedelta
            >>> BusinessCalendar.always().add(datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=2))
            datetime.datetime(2026, 1, 3, 0, 0, tzinfo=datetime.timezone.utc)
        """
        return cls.weekly(
            "daily 00:00-24:00", tz=tz, holidays=holidays, overrides=overrides, horizon=horizon
        )

    @property
    def tz(self) -> str:
        """The calendar's IANA zone name."""
        return str(self.zone.key)

    def __repr__(self) -> str:
        extra = ""
        if self.overrides:
            extra += f", overrides=<{len(self.overrides)} dates>"
        if self.holidays:
            extra += f", holidays=<{type(self.holidays).__name__}>"
        if self.horizon != DEFAULT_HORIZON:
            extra += f", horizon={self.horizon!r}"
        return f"BusinessCalendar.weekly({self.spec!r}, tz={self.tz!r}{extra})"

    # -- arithmetic ------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the instant at which ``duration`` of business time has passed since ``start``.

        If ``start`` is outside business hours, counting begins at the next
        opening. A deadline that uses up an interval's last microsecond is that
        interval's closing instant (Monday 17:00), never the next opening.
        ``add(start, timedelta(0))`` is ``start`` itself (in UTC), even when the
        calendar is closed then: no business time is needed, so none is waited for.

        Args:
            start: an aware datetime, in any zone.
            duration: business time to add, at least zero.

        Returns:
            The deadline, an aware datetime in UTC.

        Raises:
            NaiveDatetimeError: ``start`` has no time zone.
            ValidationError: ``duration`` is negative or not a timedelta, or the
                deadline lies beyond the calendar's horizon past ``start``.
        """
        t = _to_us(start, "start")
        remaining = _duration_us(duration)
        if remaining == 0:
            return _from_us(t)
        limit = t + self._horizon_us
        k = t // _DAY_US
        segments = self._segments
        segment = segments.get(k) or self._segment(k)
        starts, ends, cums, total = segment
        # Count from the start of UTC day k: the business time before t that day
        # plus the duration is the cumulative total the deadline sits at.
        target = remaining
        i = bisect_right(ends, t)
        if i:
            target += cums[i - 1]
        if i < len(starts) and starts[i] < t:
            target += t - starts[i]
        while target > total:
            target -= total
            k += 1
            if k % 7 == 0:
                # Whole weeks at a time for long durations.
                block = self._blocks.get(k // 7)
                if block is None:
                    block = self._block_total(k // 7)
                while target > block:
                    target -= block
                    k += 7
                    if k * _DAY_US > limit:
                        self._beyond_horizon("add", start, duration)
                    block = self._blocks.get(k // 7)
                    if block is None:
                        block = self._block_total(k // 7)
            if k * _DAY_US > limit:
                self._beyond_horizon("add", start, duration)
            segment = segments.get(k) or self._segment(k)
            starts, ends, cums, total = segment
        j = bisect_left(cums, target)
        result = ends[j] - (cums[j] - target)
        if result > limit:
            self._beyond_horizon("add", start, duration)
        return _EPOCH + timedelta(0, 0, result)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Return the business time between ``start`` and ``end``.

        The result is signed like ``end - start``: if ``end`` is before ``start``
        it is ``-elapsed(end, start)``, so ``elapsed(now, deadline)`` is the
        business time left, negative once the deadline has passed.

        Args:
            start: an aware datetime.
            end: an aware datetime.

        Returns:
            The business time, exact to the microsecond.

        Raises:
            NaiveDatetimeError: ``start`` or ``end`` has no time zone.
            ValidationError: the two are further apart than the calendar's horizon.
        """
        a = _to_us(start, "start")
        b = _to_us(end, "end")
        if b < a:
            a, b = b, a
            sign = -1
        else:
            sign = 1
        if b - a > self._horizon_us:
            raise ValidationError(
                f"cannot measure business time from {start.isoformat()} to {end.isoformat()}: "
                f"they are {_fmt_duration(abs(end - start))} apart, more than the calendar's "
                f"horizon of {_fmt_horizon(self.horizon)}; measure a shorter window, or build "
                "the calendar with a larger horizon="
            )
        return timedelta(microseconds=sign * self._business_between(a, b))

    def is_open(self, at: datetime) -> bool:
        """Tell whether the calendar is open at the instant ``at``.

        Intervals are half-open: open at 09:00, closed again at 17:00.

        Args:
            at: an aware datetime.

        Returns:
            True if ``at`` lies inside an open interval.

        Raises:
            NaiveDatetimeError: ``at`` has no time zone.
        """
        t = _to_us(at, "at")
        k = t // _DAY_US
        starts, ends, _cums, _total = self._segments.get(k) or self._segment(k)
        i = bisect_right(starts, t) - 1
        return i >= 0 and t < ends[i]

    def next_open(self, at: datetime) -> datetime:
        """Return the first instant at or after ``at`` when the calendar is open.

        Args:
            at: an aware datetime.

        Returns:
            ``at`` itself (in UTC) if the calendar is open then, else the next
            opening, in UTC.

        Raises:
            NaiveDatetimeError: ``at`` has no time zone.
            ValidationError: no open time within the calendar's horizon past ``at``.
        """
        t = _to_us(at, "at")
        limit = t + self._horizon_us
        k = t // _DAY_US
        starts, ends, _cums, _total = self._segments.get(k) or self._segment(k)
        i = bisect_right(starts, t) - 1
        if i >= 0 and t < ends[i]:
            return _from_us(t)
        if i + 1 < len(starts):
            return _from_us(starts[i + 1])
        while True:
            k += 1
            if k % 7 == 0:
                while self._block_total(k // 7) == 0 and k * _DAY_US <= limit:
                    k += 7
            if k * _DAY_US > limit:
                break
            starts, _ends, _cums, _total = self._segments.get(k) or self._segment(k)
            if starts:
                if starts[0] > limit:
                    break
                return _from_us(starts[0])
        raise ValidationError(
            f"the calendar {self!r} has no open time within its horizon of "
            f"{_fmt_horizon(self.horizon)} after {at.isoformat()}; check its holidays and "
            "overrides, or build it with a larger horizon="
        )

    def explain(self, start: datetime, end: datetime) -> CalendarExplanation:
        """Account for the business time between ``start`` and ``end``.

        Lists each business interval counted (clipped to the window, in UTC and
        local time) and each local date in the window that counted nothing, with
        the reason. ``str()`` of the result is a readable audit table.

        Args:
            start: an aware datetime.
            end: an aware datetime, not before ``start``.

        Returns:
            The explanation; its ``total`` equals ``elapsed(start, end)``.

        Raises:
            NaiveDatetimeError: ``start`` or ``end`` has no time zone.
            ValidationError: ``end`` is before ``start``, or the window is longer
                than the calendar's horizon.

        Example:
            >>> from datetime import UTC, datetime
            >>> cal = BusinessCalendar.weekly("mon-fri 09:00-17:00", tz="Europe/Berlin")
            >>> report = cal.explain(
            ...     datetime(2026, 3, 27, 15, 0, tzinfo=UTC),
            ...     datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
            ... )
            >>> report.total
            datetime.timedelta(seconds=7200)
            >>> print(report)
            Business time in Europe/Berlin
              from Fri 2026-03-27 16:00 CET (2026-03-27 15:00Z)
              to   Mon 2026-03-30 10:00 CEST (2026-03-30 08:00Z)
              Fri 2026-03-27  16:00-17:00 CET          = 15:00-16:00 UTC        1:00:00
              Sat 2026-03-28  skipped: closed (no business hours on Saturdays)
              Sun 2026-03-29  skipped: closed (no business hours on Sundays)
              Mon 2026-03-30  09:00-10:00 CEST         = 07:00-08:00 UTC        1:00:00
            Total: 2:00:00
        """
        a = _to_us(start, "start")
        b = _to_us(end, "end")
        if b < a:
            raise ValidationError(
                f"explain() needs start <= end, got start {start.isoformat()} after end "
                f"{end.isoformat()}; swap them (elapsed() accepts either order)"
            )
        if b - a > self._horizon_us:
            raise ValidationError(
                f"cannot explain {start.isoformat()} to {end.isoformat()}: the window is longer "
                f"than the calendar's horizon of {_fmt_horizon(self.horizon)}; explain a shorter "
                "window, or build the calendar with a larger horizon="
            )
        zone = self.zone
        first_local = _from_us(a).astimezone(zone).date().toordinal()
        last_local = _from_us(max(a, b - 1)).astimezone(zone).date().toordinal()
        pieces: list[tuple[int, int, int, IntervalSource]] = []
        skipped: list[SkippedDay] = []
        # Intervals of the two days before the window can still run into it.
        for ordinal in range(first_local - 2, last_local + 2):
            kind, hours, detail = self._plan(ordinal)
            spans = self._day_spans(ordinal)
            source: IntervalSource = "override" if kind == "override" else "hours"
            for s, e in spans:
                s, e = max(s, a), min(e, b)
                if s < e:
                    pieces.append((s, e, ordinal, source))
            if b > a and first_local <= ordinal <= last_local:
                if kind in ("closed", "holiday"):
                    skipped.append(SkippedDay(date.fromordinal(ordinal), kind, detail))
                elif kind == "override" and not hours:
                    skipped.append(SkippedDay(date.fromordinal(ordinal), "override", detail))
                elif not spans:
                    skipped.append(
                        SkippedDay(
                            date.fromordinal(ordinal),
                            "dst",
                            f"its hours {_fmt_hours(hours)} fall into a DST gap",
                        )
                    )
        intervals: list[BusinessInterval] = []
        covered = a
        total = 0
        # The union of the pieces: overlap between neighbouring days counts once,
        # for the interval that started first.
        for s, e, ordinal, source in sorted(pieces):
            s = max(s, covered)
            if s >= e:
                continue
            covered = e
            total += e - s
            start_utc, end_utc = _from_us(s), _from_us(e)
            intervals.append(
                BusinessInterval(
                    day=date.fromordinal(ordinal),
                    start_utc=start_utc,
                    end_utc=end_utc,
                    start_local=start_utc.astimezone(zone),
                    end_local=end_utc.astimezone(zone),
                    source=source,
                )
            )
        return CalendarExplanation(
            start=_from_us(a),
            end=_from_us(b),
            zone=self.tz,
            intervals=tuple(intervals),
            skipped=tuple(skipped),
            total=timedelta(microseconds=total),
        )

    # -- internals ---------------------------------------------------------------

    def _business_between(self, a: int, b: int) -> int:
        """Business microseconds in [a, b), a <= b."""
        ka, kb = a // _DAY_US, b // _DAY_US
        segments = self._segments
        seg_a = segments.get(ka) or self._segment(ka)
        if ka == kb:
            return _before(seg_a, b) - _before(seg_a, a)
        acc = seg_a[3] - _before(seg_a, a)
        k = ka + 1
        blocks = self._blocks
        while k < kb:
            if k % 7 == 0 and k + 7 <= kb:
                block = blocks.get(k // 7)
                acc += self._block_total(k // 7) if block is None else block
                k += 7
            else:
                acc += (segments.get(k) or self._segment(k))[3]
                k += 1
        return acc + _before(segments.get(kb) or self._segment(kb), b)

    def _segment(self, k: int) -> _Segment:
        """The open time inside UTC day ``k`` (days since 1970-01-01), merged."""
        cached = self._segments.get(k)
        if cached is not None:
            return cached
        lo, hi = k * _DAY_US, (k + 1) * _DAY_US
        spans: list[tuple[int, int]] = []
        # The instants of local date D lie within UTC days D-1 .. D+1, as zone
        # offsets are under 24 h. Date D's intervals stay within local date D
        # (an end at 24:00 is the first instant of D+1, even in a DST gap), or
        # run into D+1 when they cross midnight. So UTC day k sees the
        # intervals of local dates k-1 .. k+1, and k-2 if any interval spills.
        base = k + _EPOCH_ORDINAL
        days = self._days
        for ordinal in range(base - self._reach, base + 2):
            day_spans = days.get(ordinal)
            if day_spans is None:
                day_spans = self._day_spans(ordinal)
            for s, e in day_spans:
                if s < hi and e > lo:
                    spans.append((s if s > lo else lo, e if e < hi else hi))
        if not spans:
            segment: _Segment = _EMPTY_SEGMENT
        else:
            if len(spans) > 1:
                spans.sort()
            starts: list[int] = []
            ends: list[int] = []
            cums: list[int] = []
            running = 0
            for s, e in spans:
                if ends and s <= ends[-1]:
                    # Overlapping or touching neighbours (one day's night shift
                    # and the next day's override) count once.
                    if e > ends[-1]:
                        running += e - ends[-1]
                        ends[-1] = e
                        cums[-1] = running
                else:
                    running += e - s
                    starts.append(s)
                    ends.append(e)
                    cums.append(running)
            segment = (tuple(starts), tuple(ends), tuple(cums), running)
        if len(self._segments) >= _CACHE_LIMIT:
            self._segments.clear()
        self._segments[k] = segment
        return segment

    def _block_total(self, block: int) -> int:
        """Business microseconds in UTC days 7*block .. 7*block+6."""
        cached = self._blocks.get(block)
        if cached is not None:
            return cached
        total = sum(self._segment(k)[3] for k in range(7 * block, 7 * block + 7))
        if len(self._blocks) >= _CACHE_LIMIT:
            self._blocks.clear()
        self._blocks[block] = total
        return total

    def _day_spans(self, ordinal: int) -> tuple[_WallInterval, ...]:
        """The UTC microsecond spans of the intervals that start on local date ``ordinal``."""
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached
        _kind, hours, _detail = self._plan(ordinal)
        spans: list[tuple[int, int]] = []
        if hours:
            day = date.fromordinal(ordinal)
            midnight = datetime(day.year, day.month, day.day, tzinfo=self.zone)
            offset = cast(Callable[[datetime], timedelta], self.zone.utcoffset)
            wall_midnight = (ordinal - _EPOCH_ORDINAL) * _DAY_US
            for start_s, end_s in hours:
                # Aware + timedelta is wall-clock arithmetic with fold=0, and the
                # zone's offset for it is the fold=0 one: a time in a DST gap
                # moves forward by the gap, an ambiguous one is the first.
                # instant = wall clock - offset, all in integer microseconds.
                s_off = offset(midnight + timedelta(0, start_s)) // _ONE_US
                e_off = offset(midnight + timedelta(0, end_s)) // _ONE_US
                s = wall_midnight + start_s * 1_000_000 - s_off
                e = wall_midnight + end_s * 1_000_000 - e_off
                if s < e:
                    spans.append((s, e))
        result = tuple(spans)
        if len(self._days) >= _CACHE_LIMIT:
            self._days.clear()
        self._days[ordinal] = result
        return result

    def _plan(self, ordinal: int) -> tuple[_DayKind, _DayHours, str]:
        """Which rule governs local date ``ordinal``: (kind, wall hours, human detail)."""
        if not _FIRST_ORDINAL <= ordinal <= _LAST_ORDINAL:
            return "closed", (), "outside the supported date range"
        day = date.fromordinal(ordinal)
        override = self.overrides.get(day)
        if override is not None:
            if override:
                return "override", override, f"override: {_fmt_hours(override)}"
            return "override", (), "override: closed"
        weekday = (ordinal - 1) % 7
        hours = self.week[weekday]
        if not hours:
            return "closed", (), f"closed (no business hours on {_DAY_TITLES[weekday]}s)"
        if day in self.holidays:
            return "holiday", (), _holiday_detail(self.holidays, day)
        return "hours", hours, ""

    def _beyond_horizon(self, operation: str, start: datetime, duration: timedelta) -> NoReturn:
        raise ValidationError(
            f"{operation}({start.isoformat()}, {duration!r}): the deadline lies beyond the "
            f"calendar's horizon of {_fmt_horizon(self.horizon)} after the start (not enough "
            "open time in that period); use a shorter duration, check the holidays and "
            "overrides, or build the calendar with a larger horizon="
        )


# ------------------------------------------------------------------------- helpers


def _to_us(value: datetime, name: str) -> int:
    ensure_aware(value, name)
    return (value - _EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(0, 0, us)


def _duration_us(duration: timedelta) -> int:
    if not isinstance(duration, timedelta):
        raise ValidationError(
            f"duration must be a timedelta, got {type(duration).__name__} {duration!r}; "
            "pass e.g. timedelta(hours=8)"
        )
    if duration < timedelta(0):
        raise ValidationError(
            f"duration must not be negative, got {duration!r}; business time only adds "
            "forward (use elapsed() to measure backwards)"
        )
    return duration // _ONE_US


def _before(segment: _Segment, t: int) -> int:
    """Business microseconds in ``segment`` before instant ``t``."""
    starts, ends, cums, _total = segment
    i = bisect_right(ends, t)
    acc = cums[i - 1] if i else 0
    if i < len(starts) and starts[i] < t:
        acc += t - starts[i]
    return acc


def _load_zone(tz: object) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    if not isinstance(tz, str):
        raise ConfigError(
            f"tz must be an IANA time zone name or a zoneinfo.ZoneInfo, got "
            f"{type(tz).__name__} {tz!r}; pass e.g. tz='Europe/Berlin' or tz='UTC'"
        )
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {tz!r}; pass an IANA name such as 'Europe/Berlin' or "
            "'America/New_York' (zoneinfo.available_timezones() lists them all)"
        ) from exc


def _parse_time(text: str, *, end: bool, where: str) -> int:
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"bad time {text!r} in {where}; write HH:MM (00:00 to 23:59, or 24:00 as an end)"
        )
    hours, minutes = int(match[1]), int(match[2])
    seconds = int(match[3]) if match[3] else 0
    if hours == 24 and minutes == 0 and seconds == 0:
        if not end:
            raise ConfigError(
                f"24:00 cannot start an interval (in {where}); start the next day at 00:00"
            )
        return _DAY_S
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ConfigError(
            f"bad time {text!r} in {where}; hours run 00-23 (24:00 only as an end), "
            "minutes and seconds 00-59"
        )
    return hours * 3600 + minutes * 60 + seconds


def _parse_intervals(text: str, where: str) -> _DayHours:
    intervals: list[_WallInterval] = []
    for raw in text.split(","):
        token = raw.strip()
        parts = token.split("-")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            hint = ""
            if any(char.isalpha() for char in token):
                hint = " (separate day groups with ';', e.g. 'mon-fri 09:00-17:00; sat ...')"
            raise ConfigError(
                f"bad interval {token!r} in {where}; write HH:MM-HH:MM, e.g. 09:00-17:00, "
                f"several separated by commas{hint}"
            )
        within = f"interval {token!r} of {where}"
        start = _parse_time(parts[0].strip(), end=False, where=within)
        end = _parse_time(parts[1].strip(), end=True, where=within)
        if end == start:
            raise ConfigError(
                f"empty interval {token!r} in {where}; an interval needs an end after its start "
                "(a whole day is 00:00-24:00)"
            )
        if end < start:
            end += _DAY_S  # crosses midnight: runs into the next day
        intervals.append((start, end))
    return tuple(sorted(intervals))


def _parse_days(text: str, where: str) -> list[int]:
    days: list[int] = []
    for raw in text.split(","):
        token = raw.strip().lower()
        if token in ("daily", "everyday"):
            days.extend(range(7))
            continue
        first, sep, last = token.partition("-")
        if first.strip() not in _DAY_TOKENS or (sep and last.strip() not in _DAY_TOKENS):
            raise ConfigError(
                f"unknown day {raw.strip()!r} in {where}; use mon, tue, wed, thu, fri, sat, sun, "
                "a range like mon-fri, a list like mon,wed, or daily"
            )
        lo = _DAY_TOKENS[first.strip()]
        hi = _DAY_TOKENS[last.strip()] if sep else lo
        days.extend((lo + step) % 7 for step in range((hi - lo) % 7 + 1))
    return days


def _parse_week(
    spec: str,
) -> tuple[_DayHours, _DayHours, _DayHours, _DayHours, _DayHours, _DayHours, _DayHours]:
    hours: list[list[_WallInterval]] = [[] for _ in range(7)]
    closed: set[int] = set()
    for raw_group in spec.split(";"):
        group = raw_group.strip()
        if not group:
            continue
        where = f"spec group {group!r}"
        split_at = next((i for i, char in enumerate(group) if char.isdigit()), None)
        if split_at is None:
            head, _space, tail = group.rpartition(" ")
            if tail.lower() != "closed" or not head.strip():
                raise ConfigError(
                    f"{where} has no hours; write days then intervals, {_SPEC_HELP}, "
                    "or 'sat-sun closed'"
                )
            closed.update(_parse_days(head, where))
            continue
        day_text, interval_text = group[:split_at].strip(), group[split_at:]
        if not day_text:
            raise ConfigError(f"{where} names no days; start it with days, {_SPEC_HELP}")
        intervals = _parse_intervals(interval_text, where)
        for day in _parse_days(day_text, where):
            hours[day].extend(intervals)
    for day in sorted(closed):
        if hours[day]:
            raise ConfigError(
                f"{_DAY_NAMES[day]} is both closed and given hours in {spec!r}; keep one"
            )
    week = tuple(tuple(sorted(day_hours)) for day_hours in hours)
    for day, day_hours in enumerate(week):
        _check_overlaps(day_hours, _DAY_NAMES[day])
        spill = [(s, e - _DAY_S) for s, e in day_hours if e > _DAY_S]
        following = week[(day + 1) % 7]
        for s, spill_end in spill:
            for ns, ne in following:
                if ns < spill_end:
                    late = _fmt_interval((s, spill_end + _DAY_S))
                    raise ConfigError(
                        f"overlapping intervals: {_DAY_NAMES[day]} {late} runs into "
                        f"{_DAY_NAMES[(day + 1) % 7]} and overlaps its "
                        f"{_fmt_interval((ns, ne))}; shorten one of them"
                    )
    return week[0], week[1], week[2], week[3], week[4], week[5], week[6]


def _check_overlaps(hours: _DayHours, label: str) -> None:
    for (s1, e1), (s2, e2) in pairwise(hours):
        if s2 < e1:
            raise ConfigError(
                f"overlapping intervals on {label}: {_fmt_interval((s1, e1))} and "
                f"{_fmt_interval((s2, e2))}; merge them or fix the times"
            )


def _parse_overrides(
    overrides: Mapping[date, str | Iterable[str]] | None,
) -> dict[date, _DayHours]:
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"overrides must be a mapping of date to hours, got {type(overrides).__name__}; "
            "pass e.g. {date(2026, 12, 24): '09:00-12:00'}"
        )
    parsed: dict[date, _DayHours] = {}
    for day, value in overrides.items():
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ConfigError(
                f"override key {day!r} is not a date; use a datetime.date such as "
                "date(2026, 12, 24)"
            )
        where = f"override for {day.isoformat()}"
        if isinstance(value, str):
            text = value.strip()
            texts = [] if text.lower() in ("", "closed") else [text]
        elif isinstance(value, Iterable):
            texts = list(value)
            for item in texts:
                if not isinstance(item, str):
                    raise ConfigError(
                        f"{where} has {item!r}; give interval strings such as '09:00-12:00'"
                    )
        else:
            raise ConfigError(
                f"{where} is {value!r}; give an interval string such as '09:00-12:00', "
                "a list of them, or '' for closed"
            )
        hours = tuple(sorted(i for text in texts for i in _parse_intervals(text, where)))
        _check_overlaps(hours, day.isoformat())
        parsed[day] = hours
    return parsed


def _holiday_container(value: object) -> Container[date]:
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes):
        raise ConfigError(
            f"holidays must be dates or a holiday calendar, got the string {value!r}; pass "
            "e.g. [date(2026, 12, 25)] or holidays.country_holidays('DE')"
        )
    # A holidays.HolidayBase (a dict) expands years lazily: query it, never
    # iterate it. Other mappings are checked by their keys.
    if isinstance(value, Mapping):
        _check_holiday_dates(value.keys())
        return value
    if isinstance(value, set | frozenset | list | tuple | Iterator):
        return frozenset(_check_holiday_dates(value))
    if isinstance(value, Container):
        return value
    if isinstance(value, Iterable):
        return frozenset(_check_holiday_dates(value))
    raise ConfigError(
        f"holidays must be an iterable of dates or support 'day in holidays', got "
        f"{type(value).__name__}; pass e.g. [date(2026, 12, 25)]"
    )


def _check_holiday_dates(values: Iterable[object]) -> list[date]:
    checked: list[date] = []
    for item in values:
        if isinstance(item, datetime) or not isinstance(item, date):
            raise ConfigError(
                f"holiday {item!r} is not a date; holidays are whole local dates such as "
                "date(2026, 12, 25) (for a datetime use value.date())"
            )
        checked.append(item)
    return checked


def _holiday_detail(holidays: Container[date], day: date) -> str:
    getter = getattr(holidays, "get", None)
    name = getter(day) if callable(getter) else None
    return f"holiday: {name}" if isinstance(name, str) and name else "holiday"


def _fmt_clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _fmt_interval(interval: _WallInterval) -> str:
    start, end = interval
    # Crossing midnight is written as on input, 22:00-06:00; 24:00 stays 24:00.
    return f"{_fmt_clock(start)}-{_fmt_clock(end - _DAY_S if end > _DAY_S else end)}"


def _fmt_hours(hours: _DayHours) -> str:
    return ",".join(_fmt_interval(interval) for interval in hours)


def _fmt_time(value: datetime) -> str:
    text = value.strftime("%H:%M")
    if value.second or value.microsecond:
        text += value.strftime(":%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return text


def _fmt_moment(value: datetime) -> str:
    return f"{value.strftime('%a %Y-%m-%d')} {_fmt_time(value)} {value.tzname()}"


def _fmt_utc(value: datetime) -> str:
    return f"{value.date().isoformat()} {_fmt_time(value)}Z"


def _fmt_span(start: datetime, end: datetime, day: date) -> str:
    """``09:00-17:00 CET``; ``22:00-06:00(+1) UTC`` when a time is on another date than ``day``."""

    def clock(value: datetime) -> str:
        shift = (value.date() - day).days
        return _fmt_time(value) + (f"({shift:+d})" if shift else "")

    start_zone, end_zone = start.tzname(), end.tzname()
    if start_zone == end_zone:
        return f"{clock(start)}-{clock(end)} {end_zone}"
    return f"{clock(start)} {start_zone}-{clock(end)} {end_zone}"


def _fmt_duration(value: timedelta) -> str:
    us = value // _ONE_US
    sign = "-" if us < 0 else ""
    seconds, micro = divmod(abs(us), 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return text + (f".{micro:06d}" if micro else "")


def _fmt_horizon(horizon: timedelta) -> str:
    if horizon % timedelta(days=1) == timedelta(0):
        return f"{horizon.days} days"
    return _fmt_duration(horizon)
