"""Scenario tests for BusinessCalendar, as tables with expected instants worked out by hand.

Dates used: 2026-03-02 is a Monday. Europe/Berlin moves to CEST on Sunday
2026-03-29 (02:00 -> 03:00) and back to CET on Sunday 2026-10-25 (03:00 ->
02:00). America/New_York moves to EDT on Sunday 2026-03-08 (02:00 -> 03:00) and
back to EST on Sunday 2026-11-01 (02:00 -> 01:00). Expected values are in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import holidays  # the `holidays` extra is part of the dev install: never skip on it
import pytest

from supportflow._calendar import (
    DEFAULT_HORIZON,
    BusinessCalendar,
    CalendarExplanation,
    SkippedDay,
)
from supportflow.errors import ConfigError, NaiveDatetimeError, ValidationError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)

OFFICE = "mon-fri 09:00-12:00,13:00-17:00"  # lunch 12:00-13:00, 35 h a week
NIGHTS = "mon-fri 22:00-06:00"


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)  # type: ignore[misc]


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def cal(spec: str, tz: str = "Europe/Berlin", **kwargs: Any) -> BusinessCalendar:
    return BusinessCalendar.weekly(spec, tz=tz, **kwargs)


def bavaria() -> Any:
    return holidays.country_holidays("DE", subdiv="BY", language="en_US")


# ------------------------------------------------------------------------------- add

ADD_CASES = [
    # (id, calendar factory, start, duration, expected UTC deadline)
    ("inside-hours", lambda: cal(OFFICE), berlin(2026, 3, 2, 10), 1 * H, utc(2026, 3, 2, 10)),
    ("before-hours", lambda: cal(OFFICE), berlin(2026, 3, 2, 7), 1 * H, utc(2026, 3, 2, 9)),
    ("after-hours", lambda: cal(OFFICE), berlin(2026, 3, 2, 18), 1 * H, utc(2026, 3, 3, 9)),
    ("over-lunch", lambda: cal(OFFICE), berlin(2026, 3, 2, 11), 2 * H, utc(2026, 3, 2, 13)),
    (
        "during-lunch",
        lambda: cal(OFFICE),
        berlin(2026, 3, 2, 12, 30),
        30 * M,
        utc(2026, 3, 2, 12, 30),
    ),
    # The closing-instant rule: using up the last business second ends there.
    ("ends-at-lunch", lambda: cal(OFFICE), berlin(2026, 3, 2, 11), 1 * H, utc(2026, 3, 2, 11)),
    ("ends-at-close", lambda: cal(OFFICE), berlin(2026, 3, 2, 16), 1 * H, utc(2026, 3, 2, 16)),
    ("whole-week", lambda: cal(OFFICE), berlin(2026, 3, 2, 9), 35 * H, utc(2026, 3, 6, 16)),
    ("week-and-an-hour", lambda: cal(OFFICE), berlin(2026, 3, 2, 9), 36 * H, utc(2026, 3, 9, 9)),
    # Wednesday 7 h + one whole week ends on the next Wednesday's closing instant,
    # even when the calendar skips the week in one step.
    (
        "week-skip-ends-at-close",
        lambda: cal(OFFICE, "UTC"),
        utc(2026, 3, 4, 9),
        42 * H,
        utc(2026, 3, 11, 17),
    ),
    ("weekend", lambda: cal(OFFICE), berlin(2026, 3, 7, 10), 1 * H, utc(2026, 3, 9, 9)),
    ("fri-to-mon", lambda: cal(OFFICE), berlin(2026, 3, 6, 16), 2 * H, utc(2026, 3, 9, 9)),
    ("zero-while-closed", lambda: cal(OFFICE), berlin(2026, 3, 7, 10), 0 * H, utc(2026, 3, 7, 9)),
    ("zero-at-close", lambda: cal(OFFICE), berlin(2026, 3, 2, 17), 0 * H, utc(2026, 3, 2, 16)),
    (
        "microseconds",
        lambda: cal(OFFICE),
        berlin(2026, 3, 2, 16, 59, 59, 999_999),
        timedelta(microseconds=2),
        utc(2026, 3, 3, 8, 0, 0, 1),
    ),
    # 200 h = 5 weeks of 35 h + 3 days of 7 h + 4 h on Thursday (3 h, lunch, 1 h).
    ("200h", lambda: cal(OFFICE), berlin(2026, 3, 2, 9), 200 * H, utc(2026, 4, 9, 12)),
    # DST between two working days: the next morning is in the new offset.
    (
        "berlin-spring-weekend",
        lambda: cal(OFFICE),
        berlin(2026, 3, 27, 16),
        2 * H,
        utc(2026, 3, 30, 8),
    ),
    (
        "berlin-autumn-weekend",
        lambda: cal(OFFICE),
        berlin(2026, 10, 23, 16),
        2 * H,
        utc(2026, 10, 26, 9),
    ),
    (
        "ny-spring-weekend",
        lambda: cal("mon-fri 09:00-17:00", "America/New_York"),
        new_york(2026, 3, 6, 16),
        2 * H,
        utc(2026, 3, 9, 14),
    ),
    (
        "ny-autumn-weekend",
        lambda: cal("mon-fri 09:00-17:00", "America/New_York"),
        new_york(2026, 10, 30, 16),
        2 * H,
        utc(2026, 11, 2, 15),
    ),
    # DST inside the window: 00:00-12:00 holds 11 h in spring and 13 h in autumn.
    (
        "berlin-spring-day",
        lambda: cal("daily 00:00-12:00"),
        berlin(2026, 3, 29, 0),
        11 * H,
        utc(2026, 3, 29, 10),
    ),
    (
        "berlin-spring-day+1h",
        lambda: cal("daily 00:00-12:00"),
        berlin(2026, 3, 29, 0),
        12 * H,
        utc(2026, 3, 29, 23),
    ),
    (
        "berlin-autumn-day",
        lambda: cal("daily 00:00-12:00"),
        berlin(2026, 10, 25, 0),
        13 * H,
        utc(2026, 10, 25, 11),
    ),
    (
        "ny-spring-day",
        lambda: cal("daily 00:00-12:00", "America/New_York"),
        new_york(2026, 3, 8, 0),
        11 * H,
        utc(2026, 3, 8, 16),
    ),
    (
        "ny-autumn-day",
        lambda: cal("daily 00:00-12:00", "America/New_York"),
        new_york(2026, 11, 1, 0),
        13 * H,
        utc(2026, 11, 1, 17),
    ),
    (
        "berlin-spring-1h-into-gap",
        lambda: cal("daily 00:00-12:00"),
        berlin(2026, 3, 29, 1),
        1 * H,
        utc(2026, 3, 29, 1),
    ),  # 01:00 CET + 1 h real = 03:00 CEST
    # Overnight shifts belong to the day they start on.
    ("night-inside", lambda: cal(NIGHTS, "UTC"), utc(2026, 3, 2, 23), 2 * H, utc(2026, 3, 3, 1)),
    (
        "night-ends-at-0600",
        lambda: cal(NIGHTS, "UTC"),
        utc(2026, 3, 2, 23),
        7 * H,
        utc(2026, 3, 3, 6),
    ),
    (
        "night-next-shift",
        lambda: cal(NIGHTS, "UTC"),
        utc(2026, 3, 2, 23),
        8 * H,
        utc(2026, 3, 3, 23),
    ),
    (
        "night-friday-runs-into-saturday",
        lambda: cal(NIGHTS, "UTC"),
        utc(2026, 3, 7, 5),
        2 * H,
        utc(2026, 3, 9, 23),
    ),
    (
        "night-sunday-has-none",
        lambda: cal(NIGHTS, "UTC"),
        utc(2026, 3, 1, 23),
        1 * H,
        utc(2026, 3, 2, 23),
    ),
    (
        "night-holiday-closes-whole-shift",
        lambda: cal(NIGHTS, "UTC", holidays=[date(2026, 3, 2)]),
        utc(2026, 3, 3, 1),
        1 * H,
        utc(2026, 3, 3, 23),
    ),
    (
        "night-holiday-next-day-keeps-shift",
        lambda: cal(NIGHTS, "UTC", holidays=[date(2026, 3, 3)]),
        utc(2026, 3, 2, 23),
        2 * H,
        utc(2026, 3, 3, 1),
    ),
    (
        "night-berlin-spring",
        lambda: cal("sat 22:00-06:00"),
        berlin(2026, 3, 28, 22),
        7 * H,
        utc(2026, 3, 29, 4),
    ),  # only 7 h that night
    (
        "night-berlin-autumn",
        lambda: cal("sat 22:00-06:00"),
        berlin(2026, 10, 24, 22),
        9 * H,
        utc(2026, 10, 25, 5),
    ),  # 9 h that night
    (
        "night-ny-spring",
        lambda: cal("sat 22:00-06:00", "America/New_York"),
        new_york(2026, 3, 7, 22),
        7 * H,
        utc(2026, 3, 8, 10),
    ),
    # A 23-hour shift in a zone behind UTC still reaches two UTC days later.
    (
        "ny-23h-shift",
        lambda: cal("mon 23:00-22:00", "America/New_York"),
        new_york(2026, 3, 2, 23),
        23 * H,
        utc(2026, 3, 4, 3),
    ),
    # 24:00 is midnight, and touching intervals are contiguous.
    (
        "end-24:00",
        lambda: cal("mon-fri 20:00-24:00", "UTC"),
        utc(2026, 3, 2, 23),
        1 * H,
        utc(2026, 3, 3, 0),
    ),
    (
        "end-24:00-next-day",
        lambda: cal("mon-fri 20:00-24:00", "UTC"),
        utc(2026, 3, 2, 23),
        2 * H,
        utc(2026, 3, 3, 21),
    ),
    (
        "24:00-touching-00:00",
        lambda: cal("mon-fri 20:00-24:00; tue-sat 00:00-02:00", "UTC"),
        utc(2026, 3, 2, 23),
        2 * H,
        utc(2026, 3, 3, 1),
    ),
    # Holidays: a list and the holidays package (Good Friday, Easter Monday 2026).
    (
        "holiday-list",
        lambda: cal(OFFICE, holidays=[date(2026, 4, 3), date(2026, 4, 6)]),
        berlin(2026, 4, 2, 16),
        2 * H,
        utc(2026, 4, 7, 8),
    ),
    (
        "holiday-package",
        lambda: cal(OFFICE, holidays=bavaria()),
        berlin(2026, 4, 2, 16),
        2 * H,
        utc(2026, 4, 7, 8),
    ),
    (
        "holiday-on-weekend-changes-nothing",
        lambda: cal(OFFICE, holidays=[date(2026, 3, 7)]),
        berlin(2026, 3, 6, 16),
        2 * H,
        utc(2026, 3, 9, 9),
    ),
    # Overrides: half day, closed day (two spellings), an opened weekend, override > holiday.
    (
        "override-half-day",
        lambda: cal(OFFICE, holidays=bavaria(), overrides={date(2026, 12, 24): "09:00-12:00"}),
        berlin(2026, 12, 24, 11),
        2 * H,
        utc(2026, 12, 28, 9),
    ),
    (
        "override-closed-empty-string",
        lambda: cal(OFFICE, overrides={date(2026, 12, 31): ""}),
        berlin(2026, 12, 30, 16),
        2 * H,
        utc(2027, 1, 1, 9),
    ),
    (
        "override-closed-tuple",
        lambda: cal(OFFICE, overrides={date(2026, 12, 31): ()}),
        berlin(2026, 12, 30, 16),
        2 * H,
        utc(2027, 1, 1, 9),
    ),
    (
        "override-opens-saturday",
        lambda: cal(OFFICE, overrides={date(2026, 3, 7): "10:00-14:00"}),
        berlin(2026, 3, 6, 16),
        2 * H,
        utc(2026, 3, 7, 10),
    ),
    (
        "override-beats-holiday",
        lambda: cal(
            OFFICE, holidays=[date(2026, 12, 24)], overrides={date(2026, 12, 24): ["10:00-11:00"]}
        ),
        berlin(2026, 12, 24, 9),
        1 * H,
        utc(2026, 12, 24, 10),
    ),
    (
        "override-overlapping-last-night-counts-once",
        lambda: cal(NIGHTS, "UTC", overrides={date(2026, 3, 3): "00:00-08:00"}),
        utc(2026, 3, 2, 22),
        10 * H,
        utc(2026, 3, 3, 8),
    ),
    # A boundary in the DST gap moves forward by the gap; an ambiguous one is the first.
    (
        "gap-start-moves-forward",
        lambda: cal("sun 02:30-04:00"),
        utc(2026, 3, 29, 0),
        30 * M,
        utc(2026, 3, 29, 2),
    ),
    (
        "gap-end-moves-forward",
        lambda: cal("sun 01:00-02:30"),
        utc(2026, 3, 29, 0),
        90 * M,
        utc(2026, 3, 29, 1, 30),
    ),
    (
        "fold-start-is-first",
        lambda: cal("sun 02:30-04:00"),
        utc(2026, 10, 25, 0),
        150 * M,
        utc(2026, 10, 25, 3),
    ),
    (
        "ny-fold-start-is-first",
        lambda: cal("sun 01:30-02:00", "America/New_York"),
        utc(2026, 11, 1, 0),
        90 * M,
        utc(2026, 11, 1, 7),
    ),
    (
        "ny-gap-swallows-interval",
        lambda: cal("sun 02:30-03:30", "America/New_York"),
        utc(2026, 3, 7, 12),
        30 * M,
        utc(2026, 3, 15, 7),
    ),
    # 24x7.
    (
        "always-utc",
        lambda: BusinessCalendar.always(),
        utc(2026, 3, 28, 23),
        50 * H,
        utc(2026, 3, 31, 1),
    ),
    (
        "always-berlin-ignores-dst",
        lambda: BusinessCalendar.always("Europe/Berlin"),
        berlin(2026, 3, 29, 0),
        3 * H,
        utc(2026, 3, 29, 2),
    ),
    (
        "always-with-holiday",
        lambda: BusinessCalendar.always(holidays=[date(2026, 12, 25)]),
        utc(2026, 12, 24, 23),
        2 * H,
        utc(2026, 12, 26, 1),
    ),
]


@pytest.mark.parametrize(
    ("make", "start", "duration", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ADD_CASES],
)
def test_add(
    make: Callable[[], BusinessCalendar], start: datetime, duration: timedelta, expected: datetime
) -> None:
    calendar = make()
    deadline = calendar.add(start, duration)
    assert deadline == expected
    assert deadline.tzinfo is UTC
    assert calendar.elapsed(start, deadline) == duration


# --------------------------------------------------------------------------- elapsed

ELAPSED_CASES = [
    ("same-interval", OFFICE, berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11), 1 * H),
    ("over-lunch", OFFICE, berlin(2026, 3, 2, 11), berlin(2026, 3, 2, 14), 2 * H),
    ("whole-week", OFFICE, berlin(2026, 3, 2), berlin(2026, 3, 9), 35 * H),
    ("four-weeks", OFFICE, berlin(2026, 3, 2), berlin(2026, 3, 30), 140 * H),
    ("weekend-only", OFFICE, berlin(2026, 3, 7), berlin(2026, 3, 9), timedelta(0)),
    ("empty-window", OFFICE, berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 10), timedelta(0)),
    (
        "end-before-start-is-negative",
        OFFICE,
        berlin(2026, 3, 2, 14),
        berlin(2026, 3, 2, 11),
        -2 * H,
    ),
    ("spring-day-11h", "daily 00:00-12:00", berlin(2026, 3, 29), berlin(2026, 3, 30), 11 * H),
    ("autumn-day-13h", "daily 00:00-12:00", berlin(2026, 10, 25), berlin(2026, 10, 26), 13 * H),
    ("spring-night-7h", "sat 22:00-06:00", berlin(2026, 3, 28), berlin(2026, 3, 30), 7 * H),
    ("gap-start", "sun 02:30-04:00", berlin(2026, 3, 29), berlin(2026, 3, 30), 30 * M),
    ("fold-start", "sun 02:30-04:00", berlin(2026, 10, 25), berlin(2026, 10, 26), 150 * M),
    (
        "second-02:30-is-inside",
        "sun 02:30-04:00",
        berlin(2026, 10, 25, 2, 30, fold=1),
        berlin(2026, 10, 25, 4),
        90 * M,
    ),
    ("mixed-zones", OFFICE, utc(2026, 3, 2, 8), datetime(2026, 3, 2, 5, tzinfo=NEW_YORK), 2 * H),
]


@pytest.mark.parametrize(
    ("spec", "start", "end", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ELAPSED_CASES],
)
def test_elapsed(spec: str, start: datetime, end: datetime, expected: timedelta) -> None:
    calendar = cal(spec)
    assert calendar.elapsed(start, end) == expected
    assert calendar.elapsed(end, start) == -expected


def test_elapsed_in_new_york_across_both_changes() -> None:
    calendar = cal("daily 00:00-12:00", "America/New_York")
    assert calendar.elapsed(new_york(2026, 3, 8), new_york(2026, 3, 9)) == 11 * H
    assert calendar.elapsed(new_york(2026, 11, 1), new_york(2026, 11, 2)) == 13 * H
    # Over a year the two changes cancel out: 365 days of 12 h.
    assert calendar.elapsed(new_york(2026, 1, 1), new_york(2027, 1, 1)) == 365 * 12 * H


# ------------------------------------------------------------------ is_open, next_open

OPEN_CASES = [
    ("opening-is-open", OFFICE, berlin(2026, 3, 2, 9), True),
    ("closing-is-closed", OFFICE, berlin(2026, 3, 2, 17), False),
    ("last-microsecond", OFFICE, berlin(2026, 3, 2, 11, 59, 59, 999_999), True),
    ("lunch", OFFICE, berlin(2026, 3, 2, 12), False),
    ("saturday", OFFICE, berlin(2026, 3, 7, 10), False),
    ("night-shift-next-morning", NIGHTS, berlin(2026, 3, 3, 5, 59), True),
    ("night-shift-ends", NIGHTS, berlin(2026, 3, 3, 6), False),
    ("saturday-morning-after-friday-night", NIGHTS, berlin(2026, 3, 7, 5), True),
    ("monday-morning-no-sunday-night", NIGHTS, berlin(2026, 3, 2, 5), False),
    ("gap-boundary-not-yet", "sun 02:30-04:00", utc(2026, 3, 29, 1, 29), False),
    ("gap-boundary-moved", "sun 02:30-04:00", utc(2026, 3, 29, 1, 30), True),
    ("fold-first-02:30", "sun 02:30-04:00", berlin(2026, 10, 25, 2, 30), True),
    ("fold-before-first-02:30", "sun 02:30-04:00", berlin(2026, 10, 25, 2, 29), False),
    ("fold-second-02:00", "sun 02:30-04:00", berlin(2026, 10, 25, 2, 0, fold=1), True),
]


@pytest.mark.parametrize(
    ("spec", "at", "expected"), [pytest.param(*case[1:], id=case[0]) for case in OPEN_CASES]
)
def test_is_open(spec: str, at: datetime, expected: bool) -> None:
    assert cal(spec).is_open(at) is expected


NEXT_OPEN_CASES = [
    ("open-returns-itself-in-utc", OFFICE, berlin(2026, 3, 2, 10), utc(2026, 3, 2, 9)),
    ("before-opening", OFFICE, berlin(2026, 3, 2, 7), utc(2026, 3, 2, 8)),
    ("lunch", OFFICE, berlin(2026, 3, 2, 12, 15), utc(2026, 3, 2, 12)),
    ("at-closing", OFFICE, berlin(2026, 3, 2, 17), utc(2026, 3, 3, 8)),
    ("weekend-across-spring-change", OFFICE, berlin(2026, 3, 28, 12), utc(2026, 3, 30, 7)),
    ("gap-start-is-03:30-cest", "sun 02:30-04:00", utc(2026, 3, 28, 12), utc(2026, 3, 29, 1, 30)),
    ("fold-start-is-first", "sun 02:30-04:00", utc(2026, 10, 24, 12), utc(2026, 10, 25, 0, 30)),
]


@pytest.mark.parametrize(
    ("spec", "at", "expected"), [pytest.param(*case[1:], id=case[0]) for case in NEXT_OPEN_CASES]
)
def test_next_open(spec: str, at: datetime, expected: datetime) -> None:
    result = cal(spec).next_open(at)
    assert result == expected
    assert result.tzinfo is UTC


def test_sao_paulo_midnight_gap() -> None:
    # 2015-10-18 00:00 did not exist in Sao Paulo (00:00 -03 became 01:00 -02), so a
    # day opening at 00:00 opens at 01:00 -02 = 03:00Z and holds 11 h until 12:00.
    days = cal("daily 00:00-12:00", "America/Sao_Paulo")
    assert days.next_open(utc(2015, 10, 18, 2, 30)) == utc(2015, 10, 18, 3)
    assert days.elapsed(utc(2015, 10, 17, 3), utc(2015, 10, 19, 2)) == 12 * H + 11 * H
    assert days.add(utc(2015, 10, 18, 2), 1 * H) == utc(2015, 10, 18, 4)
    # 24:00 on Saturday is that same instant, 03:00Z: Saturday 20:00-24:00 holds
    # 4 h, and Sunday 00:00-02:00 only 1 h.
    nights = cal("sat 20:00-24:00; sun 00:00-02:00", "America/Sao_Paulo")
    assert nights.add(utc(2015, 10, 17, 23), 4 * H) == utc(2015, 10, 18, 3)
    assert nights.add(utc(2015, 10, 17, 23), 5 * H) == utc(2015, 10, 18, 4)


def test_sao_paulo_repeated_hour_before_midnight() -> None:
    # On 2015-02-21 at 24:00 -02 the clocks went back to 23:00 -03: 23:30 first
    # happened at 01:30Z, and 24:00 (Feb 22 00:00 -03) is 03:00Z.
    calendar = cal("sat 23:30-24:00", "America/Sao_Paulo")
    assert calendar.next_open(utc(2015, 2, 21, 12)) == utc(2015, 2, 22, 1, 30)
    assert calendar.elapsed(utc(2015, 2, 21), utc(2015, 2, 23)) == 90 * M


# --------------------------------------------------------------------------- explain


def test_explain_lists_intervals_and_skipped_days() -> None:
    calendar = cal(OFFICE, holidays=bavaria(), overrides={date(2026, 4, 7): "10:00-12:00"})
    report = calendar.explain(berlin(2026, 4, 2, 16), berlin(2026, 4, 7, 11))
    assert isinstance(report, CalendarExplanation)
    assert report.total == 2 * H == calendar.elapsed(berlin(2026, 4, 2, 16), berlin(2026, 4, 7, 11))
    assert [(p.start_utc, p.end_utc, p.source) for p in report.intervals] == [
        (utc(2026, 4, 2, 14), utc(2026, 4, 2, 15), "hours"),
        (utc(2026, 4, 7, 8), utc(2026, 4, 7, 9), "override"),
    ]
    assert report.intervals[0].start_local == berlin(2026, 4, 2, 16)
    assert report.intervals[0].start_local.tzinfo == BERLIN
    assert report.skipped == (
        SkippedDay(date(2026, 4, 3), "holiday", "holiday: Good Friday"),
        SkippedDay(date(2026, 4, 4), "closed", "closed (no business hours on Saturdays)"),
        SkippedDay(date(2026, 4, 5), "closed", "closed (no business hours on Sundays)"),
        SkippedDay(date(2026, 4, 6), "holiday", "holiday: Easter Monday"),
    )
    text = str(report)
    assert text.splitlines() == [
        "Business time in Europe/Berlin",
        "  from Thu 2026-04-02 16:00 CEST (2026-04-02 14:00Z)",
        "  to   Tue 2026-04-07 11:00 CEST (2026-04-07 09:00Z)",
        "  Thu 2026-04-02  16:00-17:00 CEST         = 14:00-15:00 UTC        1:00:00",
        "  Fri 2026-04-03  skipped: holiday: Good Friday",
        "  Sat 2026-04-04  skipped: closed (no business hours on Saturdays)",
        "  Sun 2026-04-05  skipped: closed (no business hours on Sundays)",
        "  Mon 2026-04-06  skipped: holiday: Easter Monday",
        "  Tue 2026-04-07  10:00-11:00 CEST         = 08:00-09:00 UTC        1:00:00  override",
        "Total: 2:00:00",
    ]


def test_explain_shows_overnight_and_dst() -> None:
    calendar = cal(
        "sat 22:00-06:00; sun 10:00-11:00",
        # Sunday's override lies inside Saturday's night shift: counted once.
        overrides={date(2026, 3, 29): "02:30-04:00", date(2026, 4, 4): ""},
        holidays=[date(2026, 4, 5)],
    )
    report = calendar.explain(utc(2026, 3, 28), utc(2026, 4, 6))
    assert report.total == 7 * H  # the night of the spring change has 7 h
    lines = str(report).splitlines()
    assert "  Sat 2026-03-28  22:00 CET-06:00(+1) CEST = 21:00-04:00(+1) UTC    7:00:00" in lines
    assert "  Sat 2026-04-04  skipped: override: closed" in lines
    assert "  Sun 2026-04-05  skipped: holiday" in lines
    assert lines[-1] == "Total: 7:00:00"


def test_explain_reports_a_day_swallowed_by_the_gap() -> None:
    report = cal("sun 02:30-03:30", "America/New_York").explain(
        utc(2026, 3, 8, 5), utc(2026, 3, 8, 12)
    )
    assert report.total == timedelta(0)
    assert report.skipped == (
        SkippedDay(date(2026, 3, 8), "dst", "its hours 02:30-03:30 fall into a DST gap"),
    )


def test_explain_counts_overlap_once() -> None:
    calendar = cal(NIGHTS, "UTC", overrides={date(2026, 3, 3): "00:00-08:00"})
    report = calendar.explain(utc(2026, 3, 2, 22), utc(2026, 3, 3, 9))
    assert [(p.start_utc, p.end_utc) for p in report.intervals] == [
        (utc(2026, 3, 2, 22), utc(2026, 3, 3, 6)),
        (utc(2026, 3, 3, 6), utc(2026, 3, 3, 8)),
    ]
    assert report.total == 10 * H


def test_explain_refuses_reversed_window() -> None:
    with pytest.raises(ValidationError, match=r"explain\(\) needs start <= end"):
        cal(OFFICE).explain(utc(2026, 3, 3), utc(2026, 3, 2))


# --------------------------------------------------------------------------- horizon


class EveryDayFrom:
    """Every date from ``first`` on is a holiday: a calendar that never opens again."""

    def __init__(self, first: date) -> None:
        self.first = first

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day >= self.first


HORIZON_CASES = [
    ("add-1000-years", lambda c: c.add(utc(2026, 1, 1), timedelta(days=365_000))),
    ("add-all-holidays", lambda c: c.add(utc(2026, 1, 1), 1 * H)),
    ("next-open-all-holidays", lambda c: c.next_open(utc(2026, 1, 1))),
    ("elapsed-too-long", lambda c: c.elapsed(utc(2026, 1, 1), utc(2040, 1, 1))),
    ("explain-too-long", lambda c: c.explain(utc(2026, 1, 1), utc(2040, 1, 1))),
]


@pytest.mark.parametrize("call", [pytest.param(case[1], id=case[0]) for case in HORIZON_CASES])
def test_horizon_error_names_the_horizon(call: Callable[[BusinessCalendar], object]) -> None:
    calendar = cal(OFFICE, holidays=EveryDayFrom(date(2025, 12, 1)))
    with pytest.raises(ValidationError, match=r"horizon of 3653 days.*horizon="):
        call(calendar)


def test_horizon_is_a_constructor_parameter() -> None:
    short = cal(OFFICE, horizon=timedelta(days=30))
    assert short.horizon == timedelta(days=30)
    assert cal(OFFICE).horizon == DEFAULT_HORIZON == timedelta(days=3653)
    # 30 days hold about 4 weeks of 35 h: 140 h fits, 200 h does not.
    assert short.add(berlin(2026, 3, 2, 9), 140 * H) == utc(2026, 3, 27, 16)
    with pytest.raises(ValidationError, match="horizon of 30 days"):
        short.add(berlin(2026, 3, 2, 9), 200 * H)
    always = BusinessCalendar.always(horizon=timedelta(days=2))
    assert always.add(utc(2026, 1, 1), 48 * H) == utc(2026, 1, 3)
    with pytest.raises(ValidationError, match="horizon of 2 days"):
        always.add(utc(2026, 1, 1), 48 * H + timedelta(microseconds=1))


def test_always_handles_long_durations_quickly() -> None:
    calendar = BusinessCalendar.always()
    assert calendar.add(utc(2026, 1, 1), timedelta(days=3000)) == utc(2026, 1, 1) + timedelta(
        days=3000
    )


# -------------------------------------------------------------------- config errors

CONFIG_ERRORS: list[tuple[str, Callable[[], object], str]] = [
    ("empty-spec", lambda: cal(""), r"has no open time"),
    ("all-closed", lambda: cal("daily closed"), r"has no open time"),
    ("days-without-hours", lambda: cal("mon-fri"), r"spec group 'mon-fri' has no hours"),
    ("hours-without-days", lambda: cal("09:00-17:00"), r"spec group '09:00-17:00' names no days"),
    ("unknown-day", lambda: cal("mnd 09:00-17:00"), r"unknown day 'mnd'"),
    ("unknown-day-in-range", lambda: cal("mon-fry 09:00-17:00"), r"unknown day 'mon-fry'"),
    (
        "bad-interval",
        lambda: cal("mon-fri 9-17"),
        r"bad time '9' in interval '9-17' of spec group 'mon-fri 9-17'; write HH:MM",
    ),
    (
        "missing-semicolon",
        lambda: cal("mon-fri 09:00-17:00 sat 10:00-14:00"),
        r"bad interval '09:00-17:00 sat 10:00-14:00'.*separate day groups with ';'",
    ),
    (
        "hour-25",
        lambda: cal("mon 25:00-26:00"),
        r"bad time '25:00' in interval '25:00-26:00' of spec group",
    ),
    ("minute-60", lambda: cal("mon 09:60-10:00"), r"bad time '09:60'"),
    ("not-a-time", lambda: cal("mon 9h-10:00"), r"bad time '9h'"),
    ("start-24:00", lambda: cal("mon 24:00-02:00"), r"24:00 cannot start an interval"),
    ("empty-interval", lambda: cal("mon 09:00-09:00"), r"empty interval '09:00-09:00'"),
    (
        "overlap-same-group",
        lambda: cal("mon 09:00-12:00,11:00-13:00"),
        r"overlapping intervals on mon: 09:00-12:00 and 11:00-13:00",
    ),
    (
        "overlap-two-groups",
        lambda: cal("mon-fri 09:00-17:00; wed 16:00-18:00"),
        r"overlapping intervals on wed: 09:00-17:00 and 16:00-18:00",
    ),
    (
        "overlap-overnight",
        lambda: cal("mon 22:00-06:00; tue 05:00-09:00"),
        r"mon 22:00-06:00 runs into tue and overlaps its 05:00-09:00",
    ),
    (
        "overlap-overnight-sunday",
        lambda: cal("sun 22:00-06:00; mon 05:00-09:00"),
        r"sun 22:00-06:00 runs into mon",
    ),
    (
        "closed-and-open",
        lambda: cal("fri closed; mon-fri 09:00-17:00"),
        r"fri is both closed and given hours",
    ),
    ("spec-not-str", lambda: cal(None), r"weekly hours must be a string"),  # type: ignore[arg-type]
    (
        "unknown-zone",
        lambda: cal(OFFICE, "Mars/Olympus_Mons"),
        r"unknown time zone 'Mars/Olympus_Mons'.*IANA",
    ),
    ("empty-zone", lambda: cal(OFFICE, ""), r"unknown time zone ''"),
    ("zone-none", lambda: cal(OFFICE, None), r"tz must be an IANA time zone name"),  # type: ignore[arg-type]
    ("zone-fixed-offset", lambda: cal(OFFICE, UTC), r"tz must be an IANA.*got timezone"),  # type: ignore[arg-type]
    (
        "holiday-datetime",
        lambda: cal(OFFICE, holidays=[datetime(2026, 12, 25)]),
        r"holiday datetime.datetime\(2026, 12, 25, 0, 0\) is not a date",
    ),
    (
        "holidays-string",
        lambda: cal(OFFICE, holidays="2026-12-25"),
        r"holidays must be dates .* got the string '2026-12-25'",
    ),
    ("holidays-number", lambda: cal(OFFICE, holidays=42), r"holidays must be an iterable of dates"),
    (
        "override-key-datetime",
        lambda: cal(OFFICE, overrides={datetime(2026, 12, 24, tzinfo=UTC): "09:00-12:00"}),
        r"override key datetime.datetime\(2026, 12, 24.* is not a date",
    ),
    (
        "override-bad-interval",
        lambda: cal(OFFICE, overrides={date(2026, 12, 24): "9-12"}),
        r"bad time '9' in interval '9-12' of override for 2026-12-24",
    ),
    (
        "override-overlap",
        lambda: cal(OFFICE, overrides={date(2026, 12, 24): "09:00-12:00,11:00-13:00"}),
        r"overlapping intervals on 2026-12-24",
    ),
    (
        "override-not-text",
        lambda: cal(OFFICE, overrides={date(2026, 12, 24): 5}),
        r"override for 2026-12-24 is 5",
    ),
    (
        "override-list-not-text",
        lambda: cal(OFFICE, overrides={date(2026, 12, 24): [9]}),
        r"override for 2026-12-24 has 9",
    ),
    (
        "overrides-not-mapping",
        lambda: cal(OFFICE, overrides=[date(2026, 12, 24)]),
        r"overrides must be a mapping",
    ),
    (
        "horizon-zero",
        lambda: cal(OFFICE, horizon=timedelta(0)),
        r"horizon must be a positive timedelta, got datetime.timedelta\(0\)",
    ),
    (
        "horizon-int",
        lambda: cal(OFFICE, horizon=30),
        r"horizon must be a positive timedelta, got 30",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"), [pytest.param(*case[1:], id=case[0]) for case in CONFIG_ERRORS]
)
def test_config_errors(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


# ----------------------------------------------------------------- argument errors

NAIVE = datetime(2026, 3, 2, 10)
AWARE = utc(2026, 3, 2, 10)

ARGUMENT_ERRORS: list[tuple[str, Callable[[BusinessCalendar], object], type[Exception], str]] = [
    (
        "add-naive",
        lambda c: c.add(NAIVE, H),
        NaiveDatetimeError,
        r"start 2026-03-02T10:00:00 is naive",
    ),
    (
        "elapsed-naive-start",
        lambda c: c.elapsed(NAIVE, AWARE),
        NaiveDatetimeError,
        r"start .* naive",
    ),
    ("elapsed-naive-end", lambda c: c.elapsed(AWARE, NAIVE), NaiveDatetimeError, r"end .* naive"),
    ("is-open-naive", lambda c: c.is_open(NAIVE), NaiveDatetimeError, r"at .* naive"),
    ("next-open-naive", lambda c: c.next_open(NAIVE), NaiveDatetimeError, r"at .* naive"),
    ("explain-naive", lambda c: c.explain(AWARE, NAIVE), NaiveDatetimeError, r"end .* naive"),
    (
        "not-a-datetime",
        lambda c: c.add("2026-03-02", H),
        ValidationError,
        r"start must be .* got str",
    ),
    (
        "negative-duration",
        lambda c: c.add(AWARE, -M),
        ValidationError,
        r"duration must not be negative, got datetime.timedelta\(days=-1, seconds=86340\)",
    ),
    (
        "duration-not-timedelta",
        lambda c: c.add(AWARE, 3600),
        ValidationError,
        r"duration must be a timedelta, got int 3600",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in ARGUMENT_ERRORS],
)
def test_argument_errors(
    call: Callable[[BusinessCalendar], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(cal(OFFICE))


# ------------------------------------------------------------------------- the value


def test_calendar_is_a_value() -> None:
    assert cal(OFFICE) == cal(OFFICE)
    assert hash(cal(OFFICE)) == hash(cal(OFFICE))
    assert cal(OFFICE) != cal(OFFICE, "Europe/London")
    assert cal("mon-fri 09:00-17:00") == cal("mon,tue,wed,thu,fri 09:00-17:00")
    assert repr(cal(OFFICE)) == (
        "BusinessCalendar.weekly('mon-fri 09:00-12:00,13:00-17:00', tz='Europe/Berlin')"
    )
    assert cal(OFFICE).tz == "Europe/Berlin"


SPELLINGS = [
    ("range", "mon-fri 09:00-17:00", "mon,tue,wed,thu,fri 09:00-17:00"),
    ("wrapping-range", "fri-mon 09:00-17:00", "fri,sat,sun,mon 09:00-17:00"),
    ("full-names", "Monday-Friday 09:00-17:00", "mon-fri 09:00-17:00"),
    ("daily", "daily 09:00-17:00", "mon-sun 09:00-17:00"),
    ("spaces", " mon , wed  9:00 - 12:00 , 13:00-17:00 ;", "mon,wed 09:00-12:00,13:00-17:00"),
    ("groups-add-up", "mon 09:00-12:00; mon 13:00-17:00", "mon 09:00-12:00,13:00-17:00"),
    ("closed-keyword", "mon-fri 09:00-17:00; sat-sun closed", "mon-fri 09:00-17:00"),
    ("seconds", "mon 09:00:00-17:00:00", "mon 09:00-17:00"),
]


@pytest.mark.parametrize(("spec", "same_as"), [pytest.param(*c[1:], id=c[0]) for c in SPELLINGS])
def test_spec_spellings(spec: str, same_as: str) -> None:
    assert cal(spec).week == cal(same_as).week


def test_holiday_package_is_queried_lazily() -> None:
    bank = holidays.country_holidays("GB", subdiv="ENG", language="en_US", years=[])
    calendar = cal("mon-fri 09:00-17:00", "Europe/London", holidays=bank)
    # 2030-12-25 (Wednesday) and 26 are bank holidays, in a year not expanded yet.
    assert not calendar.is_open(utc(2030, 12, 25, 10))
    assert calendar.next_open(utc(2030, 12, 24, 17)) == utc(2030, 12, 27, 9)


def test_results_do_not_depend_on_the_input_zone() -> None:
    calendar = cal(OFFICE)
    instant = utc(2026, 3, 6, 15, 30)
    for zone in (UTC, BERLIN, NEW_YORK, timezone(timedelta(hours=5, minutes=45))):
        assert calendar.add(instant.astimezone(zone), 3 * H) == utc(2026, 3, 9, 10, 30)
