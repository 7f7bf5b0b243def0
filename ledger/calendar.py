"""The one place dates are counted (ADR 0007).

- Times are Europe/London.
- "within N working days of X": due by the end of the N-th working day after the London
  calendar day of X. X's own day is day 0, whatever kind of day it is; Saturdays,
  Sundays, England-and-Wales bank holidays (from the ``holidays`` package, offline) and a
  pack's closure days are skipped. N = 0 means by the end of X's own day.
- "within N calendar days / weeks / months": added to X's London date (a month from
  31 January is the last day of February); due by the end of that day.
- "within N hours": added to X's instant in absolute time, so across a clock change
  24 hours is not "the same time tomorrow".
- A clock is met if it stops by the end of its due day (or, for hours, at or before its
  due instant); after that it is overdue, and a later stop is "met late".
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
DAY_UNITS = ("working_days", "calendar_days", "weeks", "months")


@lru_cache(maxsize=128)
def bank_holidays(year: int) -> frozenset[date]:
    """England-and-Wales bank holidays of a year (offline, from ``holidays``; England and
    Wales share one list, including substitute days and one-off holidays)."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


@lru_cache(maxsize=65_536)
def london_date(instant: datetime) -> date:
    """The calendar day in London on which an instant falls (remembered: the deadline
    engine asks again for the same instants, and a time-zone conversion is not cheap)."""
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(LONDON).date()


def start_of_day(day: date) -> datetime:
    """Midnight at the start of a London calendar day."""
    return datetime.combine(day, time(0), tzinfo=LONDON)


def end_of_day(day: date) -> datetime:
    """The end of a London calendar day: the first instant of the next day (exclusive)."""
    return start_of_day(day + timedelta(days=1))


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes 28 February in other years)."""
    return add_months(day, 12 * years)


@dataclass(frozen=True)
class Due:
    """When a clock falls due: a London date for day units, an instant for hours."""

    unit: str
    day: date | None
    instant: datetime

    @classmethod
    def on(cls, day: date, unit: str) -> Due:
        return cls(unit, day, end_of_day(day).astimezone(timezone.utc))

    @classmethod
    def at(cls, instant: datetime) -> Due:
        # Kept in UTC: Python compares two datetimes that share one ZoneInfo by wall
        # clock, which is wrong across a clock change.
        return cls("hours", None, instant.astimezone(timezone.utc))

    def met_by(self, when: datetime) -> bool:
        """Was ``when`` in time? (On the due day counts; for hours, up to the instant.)"""
        if self.day is not None:
            return london_date(when) <= self.day
        return when <= self.instant

    @property
    def shown(self) -> date | datetime:
        """The due date, or for hour clocks the due instant in London time."""
        return self.day if self.day is not None else self.instant.astimezone(LONDON)


MOST_WORKING_DAYS = 200 * 366
"""More working days than any clock counts (commands are bounded far below it): a stored
value past it is refused at once rather than walked day by day to the end of the calendar."""


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days for one pack: weekdays that are not bank holidays or closure days."""

    closure_days: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def with_closures(cls, days: Iterable[date]) -> WorkingCalendar:
        return cls(frozenset(days))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in bank_holidays(day.year) and day not in self.closure_days

    def add_working_days(self, start: date, n: int) -> date:
        """The N-th working day after ``start`` (``start`` itself is day 0)."""
        if n < 0:
            raise ValueError("n must not be negative")
        if n > MOST_WORKING_DAYS:
            raise OverflowError(f"{n:,} working days after {start} is past any date the ledger counts to")
        day = start
        while n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many a clock paused from start to end lost."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def due_date(self, start: date, duration: int, unit: str) -> date:
        if unit == "working_days":
            return self.add_working_days(start, duration)
        if unit == "calendar_days":
            return start + timedelta(days=duration)
        if unit == "weeks":
            return start + timedelta(weeks=duration)
        if unit == "months":
            return add_months(start, duration)
        raise ValueError(f"no date for unit {unit!r}")

    def due(self, start: datetime, duration: int, unit: str) -> Due:
        """When a clock started at ``start`` falls due (see the module docstring)."""
        if unit == "hours":
            return Due.at(start.astimezone(timezone.utc) + timedelta(hours=duration))
        return self._due_on(london_date(start), duration, unit)

    @lru_cache(maxsize=65_536)  # noqa: B019 - a handful of calendars, each kept for the process
    def _due_on(self, day: date, duration: int, unit: str) -> Due:
        """A day-unit clock's due from its London start day: the same few thousand days
        and durations recur across families, and working-day arithmetic walks day by day."""
        return Due.on(self.due_date(day, duration, unit), unit)

    def pause_length(self, paused: datetime, resumed: datetime, unit: str) -> int | timedelta:
        """What a pause from ``paused`` to ``resumed`` adds to a clock, in its unit:
        the working days in (pause day, resume day] for working-day clocks, calendar days
        for the other day units, elapsed time for hour clocks."""
        if unit == "hours":
            return resumed - paused
        if unit == "working_days":
            return self.working_days_between(london_date(paused), london_date(resumed))
        return (london_date(resumed) - london_date(paused)).days

    def postpone(self, due: Due, by: int | timedelta) -> Due:
        """A due moment pushed back by a pause (``by`` as ``pause_length`` gives it)."""
        if isinstance(by, timedelta):
            return Due.at(due.instant + by)
        if not by:
            return due
        assert due.day is not None
        if due.unit == "working_days":
            return Due.on(self.add_working_days(due.day, by), due.unit)
        return Due.on(due.day + timedelta(days=by), due.unit)
