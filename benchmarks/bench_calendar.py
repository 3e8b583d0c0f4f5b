"""Business-calendar benchmarks: BusinessCalendar against a simple reference and pandas.

Run::

    python benchmarks/bench_calendar.py            # full run (about a minute)
    python benchmarks/bench_calendar.py --quick    # smoke run, a few seconds
    python benchmarks/bench_calendar.py --json out.json

Everything runs side by side in one process on the same calendar, Europe/Berlin
``mon-fri 09:00-12:00,13:00-17:00`` with the 2026-2027 Bavarian public holidays,
and the same start instants (spread over 2026, local times on the quarter
hour, some outside business hours):

1. ``add`` for durations of 1 h, 8 h, 40 h and 200 h, and ``elapsed`` over the
   window each of those deadlines spans, for

   * **ours**: :class:`supportflow.BusinessCalendar` with its cache warm (the
     steady state of a process computing deadlines) and cold (a new calendar
     for every repeat, so every date it touches is resolved afresh);
   * **reference**: the straightforward algorithm written below: walk local
     dates, build each date's intervals from wall-clock times with zoneinfo,
     jump from interval to interval;
   * **pandas**: ``Timestamp + CustomBusinessHour(n)`` with the same hours
     (``start=[...]``/``end=[...]``), weekmask and holidays. pandas has no
     business-time difference; its ``elapsed`` column counts
     ``date_range(start, end, freq=CustomBusinessHour())`` steps (whole hours
     only), a common workaround.

   Timings are the best of N repeats of a loop over all starts (``timeit``,
   garbage collector off), divided by the number of calls.

2. A DST correctness table: starts near the 2026 clock changes in Berlin and
   New York, on calendars whose open hours contain the change, with the UTC
   deadline from ours, the reference and pandas, each checked against a
   brute-force oracle that steps minute by minute.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import timeit
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from pandas.tseries.offsets import CustomBusinessHour

from supportflow import _calendar
from supportflow._calendar import BusinessCalendar

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
ONE_DAY = timedelta(days=1)
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Bavarian public holidays, 2026 and 2027, written out so that every
# implementation gets exactly the same list.
HOLIDAYS = [
    date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 3), date(2026, 4, 6),
    date(2026, 5, 1), date(2026, 5, 14), date(2026, 5, 25), date(2026, 6, 4),
    date(2026, 8, 15), date(2026, 10, 3), date(2026, 11, 1), date(2026, 12, 25),
    date(2026, 12, 26), date(2027, 1, 1), date(2027, 1, 6), date(2027, 3, 26),
    date(2027, 3, 29), date(2027, 5, 1), date(2027, 5, 6), date(2027, 5, 17),
    date(2027, 5, 27), date(2027, 8, 15), date(2027, 10, 3), date(2027, 11, 1),
    date(2027, 12, 25), date(2027, 12, 26),
]  # fmt: skip


# --------------------------------------------------------------------------- the three


class Hours:
    """One calendar definition, handed to all three implementations."""

    def __init__(
        self,
        zone: str,
        days: Iterable[int],
        intervals: Sequence[tuple[str, str]],
        holidays: Sequence[date] = (),
    ) -> None:
        self.zone = zone
        self.days = tuple(days)
        self.intervals = tuple(intervals)
        self.holidays = tuple(holidays)

    def spec(self) -> str:
        days = ",".join(DAY_NAMES[d].lower() for d in self.days)
        return f"{days} " + ",".join(f"{s}-{e}" for s, e in self.intervals)

    def ours(self) -> BusinessCalendar:
        return BusinessCalendar.weekly(self.spec(), tz=self.zone, holidays=self.holidays)

    def reference(self) -> Reference:
        return Reference(self)

    def pandas(self, n: int = 1) -> CustomBusinessHour:
        return CustomBusinessHour(
            n=n,
            start=[s for s, _ in self.intervals],
            end=[e for _, e in self.intervals],
            weekmask=" ".join(DAY_NAMES[d] for d in self.days),
            holidays=list(self.holidays),
        )


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


class Reference:
    """The simple interval-jumping algorithm, with the same semantics as ours.

    Walks local dates from the day before the start (whose overnight interval
    may still run); for each date builds its intervals' UTC instants from the
    wall-clock rules (aware datetime + timedelta is wall-clock arithmetic,
    resolved with fold=0) and jumps from interval to interval.
    """

    def __init__(self, hours: Hours) -> None:
        self.zone = ZoneInfo(hours.zone)
        self.days = set(hours.days)
        self.holidays = set(hours.holidays)
        self.spans = []
        for s, e in hours.intervals:
            start, end = minutes(s), minutes(e)
            if end <= start:
                end += 24 * 60
            self.spans.append((timedelta(minutes=start), timedelta(minutes=end)))

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day.weekday() not in self.days or day in self.holidays:
            return []
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        result = []
        for s, e in self.spans:
            a, b = (midnight + s).astimezone(UTC), (midnight + e).astimezone(UTC)
            if a < b:
                result.append((a, b))
        return result

    def add(self, start: datetime, duration: timedelta) -> datetime:
        t = start.astimezone(UTC)
        remaining = duration
        day = t.astimezone(self.zone).date() - ONE_DAY
        while True:
            for a, b in self.intervals(day):
                if b <= t:
                    continue
                a = max(a, t)
                if remaining <= b - a:
                    return a + remaining
                remaining -= b - a
                t = b
            day += ONE_DAY

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        a0, b0 = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta(0)
        day = a0.astimezone(self.zone).date() - ONE_DAY
        last = b0.astimezone(self.zone).date()
        while day <= last:
            for a, b in self.intervals(day):
                a, b = max(a, a0), min(b, b0)
                if a < b:
                    total += b - a
            day += ONE_DAY
        return total


def pandas_add(offset: CustomBusinessHour, start: pd.Timestamp) -> pd.Timestamp:
    return start + offset


def pandas_elapsed_hours(offset: CustomBusinessHour, start: pd.Timestamp, end: pd.Timestamp) -> int:
    return len(pd.date_range(start, end, freq=offset)) - 1


def oracle_add(hours: Hours, start: datetime, duration: timedelta) -> datetime:
    """Brute force: step minute by minute, counting minutes whose start is open."""
    reference = Reference(hours)  # only for each date's boundary instants
    opened: set[datetime] = set()
    t = start.astimezone(UTC)
    first = t.astimezone(reference.zone).date() - ONE_DAY
    for offset in range(40):
        for a, b in reference.intervals(first + offset * ONE_DAY):
            m = a
            while m < b:
                opened.add(m)
                m += MINUTE
    needed = duration // MINUTE
    counted = 0
    while counted < needed:
        if t in opened:
            counted += 1
        t += MINUTE
    return t


# ---------------------------------------------------------------------------- timing


def best_per_call(run: Callable[[], object], calls: int, repeat: int) -> float:
    """Best-of-``repeat`` seconds per call for ``run``, which makes ``calls`` calls."""
    run()  # warm-up
    return min(timeit.repeat(run, number=1, repeat=repeat)) / calls


def cold_per_call(
    hours: Hours, starts: Sequence[datetime], action: str, arg: Sequence[Any], repeat: int
) -> float:
    """Seconds per call when every call is the first on a new calendar (built untimed)."""
    best = float("inf")
    for _ in range(repeat):
        methods = [getattr(hours.ours(), action) for _ in starts]
        timer = timeit.default_timer
        began = timer()
        for method, s, x in zip(methods, starts, arg, strict=True):
            method(s, x)
        best = min(best, timer() - began)
    return best / len(starts)


def make_starts(count: int, zone: ZoneInfo, seed: int = 2026) -> list[datetime]:
    rng = random.Random(seed)
    starts = []
    for _ in range(count):
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        quarter = rng.randrange(7 * 4, 19 * 4)  # 07:00 to 18:45, some outside hours
        local = datetime(day.year, day.month, day.day, tzinfo=zone) + quarter * 15 * MINUTE
        starts.append(local)
    return starts


def bench_speed(quick: bool) -> list[dict[str, Any]]:
    hours = Hours("Europe/Berlin", range(5), [("09:00", "12:00"), ("13:00", "17:00")], HOLIDAYS)
    sizes = (60, 3, 10, 2) if quick else (400, 7, 60, 3)
    starts = make_starts(sizes[0], ZoneInfo(hours.zone))
    rows = []
    for h in (1, 8, 40, 200):
        row = speed_row(hours, starts, h, sizes)
        rows.append(row)
        print_speed_row(row)
    return rows


def speed_row(
    hours: Hours, starts: Sequence[datetime], h: int, sizes: tuple[int, int, int, int]
) -> dict[str, Any]:
    count, repeat, pandas_count, pandas_repeat = sizes
    ours, reference = hours.ours(), hours.reference()
    duration = h * HOUR
    ends = [ours.add(s, duration) for s in starts]
    # Sanity: ours and the reference agree on every call that is timed.
    for s, e in zip(starts, ends, strict=True):
        assert reference.add(s, duration) == e, (s, h)
        assert reference.elapsed(s, e) == duration == ours.elapsed(s, e), (s, h)

    def ours_add() -> None:
        for s in starts:
            ours.add(s, duration)

    def ref_add() -> None:
        for s in starts:
            reference.add(s, duration)

    def ours_elapsed() -> None:
        for s, e in zip(starts, ends, strict=True):
            ours.elapsed(s, e)

    def ref_elapsed() -> None:
        for s, e in zip(starts, ends, strict=True):
            reference.elapsed(s, e)

    offset, unit = hours.pandas(h), hours.pandas(1)
    pd_starts = [pd.Timestamp(s) for s in starts[:pandas_count]]
    pd_ends = [pd.Timestamp(e).tz_convert(hours.zone) for e in ends[:pandas_count]]

    def pandas_add_all() -> None:
        for s in pd_starts:
            pandas_add(offset, s)

    def pandas_elapsed_all() -> None:
        for s, e in zip(pd_starts, pd_ends, strict=True):
            pandas_elapsed_hours(unit, s, e)

    durations = [duration] * count
    return {
        "duration_h": h,
        "add_us": {
            "ours": best_per_call(ours_add, count, repeat) * 1e6,
            "ours_cold": cold_per_call(hours, starts, "add", durations, repeat) * 1e6,
            "reference": best_per_call(ref_add, count, repeat) * 1e6,
            "pandas": best_per_call(pandas_add_all, pandas_count, pandas_repeat) * 1e6,
        },
        "elapsed_us": {
            "ours": best_per_call(ours_elapsed, count, repeat) * 1e6,
            "ours_cold": cold_per_call(hours, starts, "elapsed", ends, repeat) * 1e6,
            "reference": best_per_call(ref_elapsed, count, repeat) * 1e6,
            "pandas": best_per_call(pandas_elapsed_all, pandas_count, pandas_repeat) * 1e6,
        },
    }


def print_speed_header() -> None:
    print(
        f"{'op':<8} {'dur':>5} | {'ours':>7} {'ours cold':>9} {'reference':>9} {'pandas':>9} |"
        f" {'ours/ref':>8} {'pandas/ours':>11}"
    )
    print("-" * 84)


def print_speed_row(row: dict[str, Any]) -> None:
    for op in ("add", "elapsed"):
        t = row[f"{op}_us"]
        print(
            f"{op:<8} {row['duration_h']:>4}h | {t['ours']:>7.2f} {t['ours_cold']:>9.2f}"
            f" {t['reference']:>9.2f} {t['pandas']:>9.1f} |"
            f" {t['ours'] / t['reference']:>8.2f} {t['pandas'] / t['ours']:>11.0f}"
        )


# ------------------------------------------------------------------------------- DST


def dst_cases() -> list[tuple[str, Hours, datetime, timedelta]]:
    everyday = range(7)
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    b_morning = Hours("Europe/Berlin", everyday, [("00:00", "12:00")])
    b_night = Hours("Europe/Berlin", everyday, [("22:00", "06:00")])
    b_office = Hours("Europe/Berlin", range(5), [("09:00", "12:00"), ("13:00", "17:00")])
    n_morning = Hours("America/New_York", everyday, [("00:00", "12:00")])
    n_night = Hours("America/New_York", everyday, [("22:00", "06:00")])
    n_office = Hours("America/New_York", range(5), [("09:00", "17:00")])
    return [
        ("BER 00-12 spring", b_morning, datetime(2026, 3, 28, 10, tzinfo=berlin), 4 * HOUR),
        ("BER 00-12 spring", b_morning, datetime(2026, 3, 29, 0, tzinfo=berlin), 12 * HOUR),
        ("BER 00-12 autumn", b_morning, datetime(2026, 10, 24, 10, tzinfo=berlin), 4 * HOUR),
        ("BER 00-12 autumn", b_morning, datetime(2026, 10, 25, 0, tzinfo=berlin), 12 * HOUR),
        ("BER 22-06 spring", b_night, datetime(2026, 3, 28, 22, tzinfo=berlin), 8 * HOUR),
        ("BER 22-06 autumn", b_night, datetime(2026, 10, 24, 22, tzinfo=berlin), 8 * HOUR),
        ("BER office spring", b_office, datetime(2026, 3, 27, 16, tzinfo=berlin), 2 * HOUR),
        ("BER office close", b_office, datetime(2026, 3, 30, 16, tzinfo=berlin), 1 * HOUR),
        ("NYC 00-12 spring", n_morning, datetime(2026, 3, 8, 0, tzinfo=new_york), 12 * HOUR),
        ("NYC 00-12 autumn", n_morning, datetime(2026, 11, 1, 0, tzinfo=new_york), 12 * HOUR),
        ("NYC 22-06 spring", n_night, datetime(2026, 3, 7, 22, tzinfo=new_york), 8 * HOUR),
        ("NYC 22-06 autumn", n_night, datetime(2026, 10, 31, 22, tzinfo=new_york), 8 * HOUR),
        ("NYC office autumn", n_office, datetime(2026, 10, 30, 16, tzinfo=new_york), 2 * HOUR),
    ]


def bench_dst() -> list[dict[str, Any]]:
    rows = []
    print(
        f"{'case':<18} {'start (local)':<17} {'dur':>4} | {'oracle (UTC)':<16} |"
        f" {'ours':<16} {'ok':<3}| {'reference':<16} {'ok':<3}| {'pandas':<16} ok"
    )
    print("-" * 128)
    for label, hours, start, duration in dst_cases():
        expected = oracle_add(hours, start, duration)
        results: dict[str, str] = {}
        matches: dict[str, bool] = {}
        candidates: dict[str, Callable[[], datetime]] = {
            "ours": lambda h=hours, s=start, d=duration: h.ours().add(s, d),
            "reference": lambda h=hours, s=start, d=duration: h.reference().add(s, d),
            "pandas": lambda h=hours, s=start, d=duration: (
                pandas_add(h.pandas(d // HOUR), pd.Timestamp(s)).tz_convert("UTC").to_pydatetime()
            ),
        }
        for name, compute in candidates.items():
            try:
                value = compute()
            except Exception as exc:  # pandas refuses nonexistent/ambiguous wall times
                results[name] = f"{type(exc).__name__}"
                matches[name] = False
            else:
                results[name] = value.astimezone(UTC).strftime("%m-%d %H:%M")
                matches[name] = value == expected
        row = {
            "case": label,
            "start": start.isoformat(),
            "duration_h": duration // HOUR,
            "oracle": expected.isoformat(),
            "results": results,
            "matches": matches,
        }
        rows.append(row)
        mark = {True: "yes", False: "NO"}
        print(
            f"{label:<18} {start.strftime('%a %m-%d %H:%M'):<17} {duration // HOUR:>3}h |"
            f" {expected.strftime('%m-%d %H:%M'):<16} |"
            + "|".join(
                f" {results[name]:<16} {mark[matches[name]]:<3}"
                for name in ("ours", "reference", "pandas")
            )
        )
    return rows


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"pandas {version('pandas')}, supportflow {version('supportflow')}"
        + (" (quick run)" if args.quick else "")
    )
    print("\nSpeed: microseconds per call (best of N), Europe/Berlin, lunch break, holidays\n")
    print_speed_header()
    speed = bench_speed(args.quick)
    print(
        "\n'ours cold': each call is the first on a new calendar (empty cache);"
        " pandas 'elapsed' counts date_range steps (whole hours)."
    )
    print("\nDST correctness: UTC deadline (MM-DD HH:MM) against a minute-by-minute oracle\n")
    dst = bench_dst()
    worst_ratio = max(
        row[f"{op}_us"]["ours"] / row[f"{op}_us"]["reference"]
        for row in speed
        for op in ("add", "elapsed")
    )
    least_pandas = min(row["add_us"]["pandas"] / row["add_us"]["ours"] for row in speed)
    print(
        f"\nours/reference at worst: {worst_ratio:.2f}x (target <= 1.5); "
        f"pandas add / ours add at least: {least_pandas:.0f}x (target >= 30)"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {"speed": speed, "dst": dst, "cache_limit": _calendar._CACHE_LIMIT},
                out,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
