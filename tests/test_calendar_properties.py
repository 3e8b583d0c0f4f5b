"""Property tests: BusinessCalendar against a brute-force, minute-by-minute oracle.

The oracle knows nothing about the implementation. It reads the same wall-clock
rules (weekly hours, holidays, overrides), resolves every boundary to an instant
by *searching* for the UTC instants that display that wall time, and marks each
whole UTC minute [m, m+1) as business iff the instant m lies inside an open
interval. Everything else (elapsed, add, is_open, next_open) is counting minutes.

Calendars have boundaries on whole minutes and instants are whole minutes, in
zones whose offsets are whole minutes in the years used, so minute counting is
exact. Windows are at most a dozen days long and sit around DST changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supportflow._calendar import BusinessCalendar

MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Zones with a DST change (or none) and dates to centre the windows on.
ANCHORS: dict[str, tuple[date, ...]] = {
    "Europe/London": (date(2026, 3, 29), date(2026, 10, 25)),
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
    # DST shifts by 30 minutes: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
    "Australia/Lord_Howe": (date(2026, 4, 5), date(2026, 10, 4)),
    # DST began at midnight: 2015-10-18 00:00 did not exist; on 2015-02-21 the
    # hour 23:00-24:00 happened twice.
    "America/Sao_Paulo": (date(2015, 2, 21), date(2015, 10, 18)),
    "Asia/Kolkata": (date(2026, 3, 29), date(2026, 7, 1)),
    "Europe/Berlin": (date(2026, 3, 29), date(2026, 10, 25)),
}

PROFILE = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Hours = tuple[tuple[int, int], ...]  # (start, end) minutes from midnight; end > 1440 crosses


# ------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class Case:
    """A calendar definition in plain data, and a window of instants to test in."""

    zone: str
    week: tuple[Hours, ...]
    holidays: frozenset[date]
    overrides: dict[date, Hours] = field(hash=False)
    override_style: str  # how the overrides are written: "text" or "list"
    lazy_holidays: bool  # pass holidays as a bare container (no iteration)
    anchor: datetime  # UTC, whole minute

    def spec(self) -> str:
        groups = [
            f"{DAY_NAMES[day]} {format_hours(hours)}"
            for day, hours in enumerate(self.week)
            if hours
        ]
        return "; ".join(groups)

    def calendar(self) -> BusinessCalendar:
        overrides: dict[date, str | list[str]] = {}
        for day, hours in self.overrides.items():
            if self.override_style == "text":
                overrides[day] = format_hours(hours)
            else:
                overrides[day] = [format_hours((interval,)) for interval in hours]
        holidays = DateContainer(self.holidays) if self.lazy_holidays else sorted(self.holidays)
        return BusinessCalendar.weekly(
            self.spec(), tz=self.zone, holidays=holidays, overrides=overrides
        )

    def hours_on(self, day: date) -> Hours:
        """The wall-clock rule for one local date: override, else holiday, else weekly."""
        if day in self.overrides:
            return self.overrides[day]
        if day in self.holidays:
            return ()
        return self.week[day.weekday()]


class DateContainer:
    """Supports only ``day in holidays``, like a lazy holiday calendar."""

    def __init__(self, days: frozenset[date]) -> None:
        self._days = days

    def __contains__(self, day: object) -> bool:
        return day in self._days


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_hours(hours: Hours) -> str:
    parts = []
    for start, end in hours:
        # An end past midnight is written as a time on the next day (22:00-06:00).
        parts.append(f"{format_clock(start)}-{format_clock(end - 1440 if end > 1440 else end)}")
    return ",".join(parts)


# ----------------------------------------------------------------------------- oracle


def wall_to_instant(zone: tzinfo, wall: datetime) -> datetime:
    """The UTC instant a naive wall-clock time stands for, found by search.

    Every offset the zone uses within a day and a half either side is tried;
    ``wall - offset`` is a candidate instant, and it is a real reading of the
    wall clock if converting it back to the zone shows ``wall``. Several real
    readings (autumn overlap): the first one. None (spring gap): the wall time
    moves forward by the gap length ``after - before``, and reading
    ``wall + (after - before)`` with offset ``after`` is the instant
    ``wall - before``: the largest candidate, as ``before < after`` in a gap.
    """
    probe = wall.replace(tzinfo=UTC)
    offsets = {
        offset
        for hours in range(-36, 37, 2)
        if (offset := (probe + timedelta(hours=hours)).astimezone(zone).utcoffset()) is not None
    }
    candidates = [(wall - offset).replace(tzinfo=UTC) for offset in offsets]
    readings = [u for u in candidates if u.astimezone(zone).replace(tzinfo=None) == wall]
    return min(readings) if readings else max(candidates)


def minute_index(instant: datetime) -> int:
    return (instant - EPOCH) // MINUTE


class Oracle:
    """The set of business minutes (UTC minute numbers) between ``lo`` and ``hi``."""

    def __init__(self, case: Case, lo: datetime, hi: datetime) -> None:
        zone = ZoneInfo(case.zone)
        self.lo, self.hi = minute_index(lo), minute_index(hi)
        self.minutes: set[int] = set()
        day = lo.astimezone(zone).date() - timedelta(days=3)
        last = hi.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            midnight = datetime.combine(day, time())
            for start, end in case.hours_on(day):
                s = minute_index(wall_to_instant(zone, midnight + start * MINUTE))
                e = minute_index(wall_to_instant(zone, midnight + end * MINUTE))
                self.minutes.update(range(s, e))  # empty if a DST gap swallowed it
            day += timedelta(days=1)
        # Openings and closings: where off-by-one mistakes live.
        self.edges = [
            m
            for m in range(self.lo, self.hi + 1)
            if ((m - 1) in self.minutes) != (m in self.minutes)
        ]

    def is_open(self, m: int) -> bool:
        assert self.lo <= m < self.hi
        return m in self.minutes

    def elapsed(self, a: int, b: int) -> int:
        assert self.lo <= a <= b <= self.hi
        return sum(1 for m in range(a, b) if m in self.minutes)

    def add(self, t: int, duration: int) -> int:
        """The end of the ``duration``-th business minute at or after ``t``."""
        if duration == 0:
            return t
        counted = 0
        for m in range(t, self.hi):
            if m in self.minutes:
                counted += 1
                if counted == duration:
                    return m + 1
        raise AssertionError("the window holds too little business time")

    def next_open(self, t: int) -> int | None:
        return next((m for m in range(t, self.hi) if m in self.minutes), None)


def at_minute(m: int) -> datetime:
    return EPOCH + m * MINUTE


def pick_minute(data: st.DataObject, oracle: Oracle, lo: int, hi: int, label: str) -> int:
    """A minute in [lo, hi]: half the time an opening or closing instant."""
    edges = [m for m in oracle.edges if lo <= m <= hi]
    if edges and data.draw(st.booleans(), label=f"{label} on an edge"):
        return data.draw(st.sampled_from(edges), label=label)
    return data.draw(st.integers(lo, hi), label=label)


# ------------------------------------------------------------------------- strategies

# Minutes of the day, biased toward where DST changes happen.
minute_of_day = st.one_of(
    st.sampled_from([0, 30, 60, 90, 120, 150, 180, 210, 540, 720, 1020, 1380, 1410, 1440]),
    st.integers(0, 1440),
)


@st.composite
def day_hours(draw: st.DrawFn, overnight: bool = True) -> Hours:
    points = sorted(set(draw(st.lists(minute_of_day, max_size=6))))
    hours = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    if overnight and draw(st.booleans()):
        last_end = hours[-1][1] if hours else 0
        if last_end < 1439:
            start = draw(st.integers(last_end, 1439))
            # Up to almost 24 h long: such shifts reach two UTC days on.
            longest = max(1, start - 1)
            back = draw(st.one_of(st.integers(1, longest), st.just(longest)))
            if back < start:
                hours.append((start, 1440 + back))
    return tuple(hours)


def fit_overnight(week: list[Hours]) -> list[Hours]:
    """Shorten overnight intervals so they end before the next day's first start."""
    fitted = []
    for day, hours in enumerate(week):
        following = week[(day + 1) % 7]
        first_next = min((start for start, _ in following), default=1440)
        kept = []
        for start, end in hours:
            if end > 1440:
                end = min(end, 1440 + first_next)
            kept.append((start, end))
        fitted.append(tuple(kept))
    return fitted


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone = draw(st.sampled_from(sorted(ANCHORS)))
    anchor_day = draw(st.sampled_from(ANCHORS[zone]))
    week = fit_overnight([draw(day_hours()) for _ in range(7)])
    if not any(week):
        week[draw(st.integers(0, 6))] = ((540, 1020),)
    holidays = draw(st.sets(st.integers(-8, 8), max_size=4))
    overrides = draw(st.dictionaries(st.integers(-8, 8), day_hours(), max_size=3))
    # Around the anchor, with the anchor's UTC midnight shifted by up to 3 days.
    anchor = (
        datetime.combine(anchor_day, time(), tzinfo=UTC)
        + draw(st.integers(-3 * 1440, 3 * 1440)) * MINUTE
    )
    return Case(
        zone=zone,
        week=tuple(week),
        holidays=frozenset(anchor_day + timedelta(days=d) for d in holidays),
        overrides={anchor_day + timedelta(days=d): hours for d, hours in overrides.items()},
        override_style=draw(st.sampled_from(["text", "list"])),
        lazy_holidays=draw(st.booleans()),
        anchor=anchor,
    )


def presented(instant: datetime, how: str, case: Case) -> datetime:
    """The same instant written in another zone: results must not depend on it."""
    zones: dict[str, tzinfo] = {
        "utc": UTC,
        "calendar": ZoneInfo(case.zone),
        "fixed": timezone(timedelta(hours=-7, minutes=-30)),
    }
    return instant.astimezone(zones[how])


presentation = st.sampled_from(["utc", "calendar", "fixed"])
WINDOW = 10 * 1440  # minutes of oracle window after the anchor


def window(case: Case) -> Oracle:
    return Oracle(case, case.anchor, case.anchor + WINDOW * MINUTE)


# ------------------------------------------------------------------------- properties


@PROFILE
@given(case=cases(), data=st.data())
def test_elapsed_matches_the_oracle(case: Case, data: st.DataObject) -> None:
    cal, oracle = case.calendar(), window(case)
    a = pick_minute(data, oracle, oracle.lo, oracle.hi, "a")
    b = pick_minute(data, oracle, a, oracle.hi, "b")
    how = data.draw(presentation, label="zone")
    start, end = presented(at_minute(a), how, case), presented(at_minute(b), how, case)
    expected = oracle.elapsed(a, b) * MINUTE
    assert cal.elapsed(start, end) == expected
    assert cal.elapsed(end, start) == -expected  # signed, like end - start
    report = cal.explain(start, end)
    assert report.total == expected
    assert sum((piece.duration for piece in report.intervals), timedelta()) == expected
    bounds = [(p.start_utc, p.end_utc) for p in report.intervals]
    assert all(start <= s < e <= end for s, e in bounds)
    assert all(e1 <= s2 for (_, e1), (s2, _) in pairwise(bounds))


@PROFILE
@given(case=cases(), data=st.data())
def test_add_matches_the_oracle(case: Case, data: st.DataObject) -> None:
    cal, oracle = case.calendar(), window(case)
    t = pick_minute(data, oracle, oracle.lo, oracle.lo + WINDOW // 2, "t")
    # Half the time the deadline is exactly an opening or closing instant.
    d = oracle.elapsed(t, pick_minute(data, oracle, t, oracle.hi, "deadline"))
    start = presented(at_minute(t), data.draw(presentation, label="zone"), case)
    deadline = cal.add(start, d * MINUTE)
    assert deadline == at_minute(oracle.add(t, d))
    assert deadline.tzinfo is UTC
    assert cal.elapsed(start, deadline) == d * MINUTE
    if d > 0:
        # Never strictly inside a closed period: the instant just before the
        # deadline is business time (the deadline is open or a closing instant).
        assert cal.is_open(deadline - timedelta(microseconds=1))


@PROFILE
@given(case=cases(), data=st.data())
def test_is_open_and_next_open_match_the_oracle(case: Case, data: st.DataObject) -> None:
    cal, oracle = case.calendar(), window(case)
    for _ in range(25):
        m = pick_minute(data, oracle, oracle.lo, oracle.hi - 1, "at")
        at = presented(at_minute(m), data.draw(presentation), case)
        assert cal.is_open(at) == oracle.is_open(m), at
        expected = oracle.next_open(m)
        if expected is not None:
            assert cal.next_open(at) == at_minute(expected)


def business_durations() -> st.SearchStrategy[timedelta]:
    return st.integers(0, 4 * 86_400_000_000).map(lambda us: timedelta(microseconds=us))


@PROFILE
@given(
    case=cases(),
    offset=st.integers(0, 5 * 86_400_000_000),
    a=business_durations(),
    b=business_durations(),
)
def test_add_composes_is_monotone_and_inverts_elapsed(
    case: Case, offset: int, a: timedelta, b: timedelta
) -> None:
    # Microsecond starts and durations: no oracle needed for these laws.
    cal = case.calendar()
    t = case.anchor + timedelta(microseconds=offset)
    after_a = cal.add(t, a)
    assert cal.add(after_a, b) == cal.add(t, a + b)
    low, high = min(a, b), max(a, b)
    assert cal.add(t, low) <= cal.add(t, high)
    assert cal.elapsed(t, after_a) == a
    assert cal.add(t, timedelta(0)) == t


@PROFILE
@given(case=cases(), data=st.data())
def test_long_windows_agree_with_their_days(case: Case, data: st.DataObject) -> None:
    # Windows up to 9 weeks: long ones skip whole weeks inside the calendar, so
    # they are compared with the sum of their UTC days (short windows, checked
    # against the oracle above), and add() must land on the last closing instant
    # when a window ends on a week boundary.
    cal = case.calendar()
    day = timedelta(days=1)
    t = case.anchor + data.draw(st.integers(0, 86_400_000_000)) * timedelta(microseconds=1)
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    days = data.draw(st.integers(1, 63))
    tail = data.draw(st.sampled_from([timedelta(0), 13 * MINUTE, 17 * timedelta(hours=1)]))
    end = midnight + days * day + tail
    cuts = [t] + [midnight + i * day for i in range(1, days + 1)] + [end]
    pieces = sum((cal.elapsed(x, y) for x, y in pairwise(cuts)), timedelta())
    total = cal.elapsed(t, end)
    assert total == pieces
    reached = cal.add(t, total)
    assert reached <= end
    assert cal.elapsed(t, reached) == total
    assert cal.elapsed(reached, end) == timedelta(0)
    if total:
        assert cal.is_open(reached - timedelta(microseconds=1))


def walk(cal: BusinessCalendar, start: datetime, steps: int) -> Iterator[datetime]:
    for _ in range(steps):
        start = cal.add(start, timedelta(minutes=97))
        yield start


@PROFILE
@given(case=cases())
def test_many_small_steps_equal_one_big_step(case: Case) -> None:
    cal = case.calendar()
    *_, last = walk(cal, case.anchor, 30)
    assert last == cal.add(case.anchor, 30 * timedelta(minutes=97))


@settings(max_examples=60, deadline=None)
@given(case=cases(), data=st.data())
def test_the_oracle_resolves_boundaries_as_python_fold_zero(
    case: Case, data: st.DataObject
) -> None:
    # A check of the oracle itself: its search agrees with fold=0, which is the
    # rule the docs state (gap: forward by the gap; overlap: first occurrence).
    zone = ZoneInfo(case.zone)
    wall = datetime.combine(case.anchor.date(), time()) + data.draw(st.integers(0, 2880)) * MINUTE
    assert wall_to_instant(zone, wall) == wall.replace(tzinfo=zone).astimezone(UTC)
