"""The counting convention (ADR 0007) at its edges: weekends, bank holidays, Christmas and
Easter, the 2026 to 2027 year end, council closure days and clock changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ledger.calendar import LONDON, Due, WorkingCalendar, add_months, bank_holidays, london_date

CAL = WorkingCalendar()


def at(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=LONDON)


def test_england_and_wales_bank_holidays_come_from_the_holidays_package_offline():
    assert {date(2026, 4, 3), date(2026, 4, 6), date(2026, 12, 25), date(2026, 12, 28)} <= bank_holidays(2026)
    # Boxing Day 2026 is a Saturday: the substitute day is Monday 28 December.
    assert date(2026, 12, 26) in bank_holidays(2026) and CAL.is_working_day(date(2026, 12, 28)) is False
    assert date(2027, 3, 29) in bank_holidays(2027)  # Easter Monday 2027


def test_the_day_of_the_event_is_day_zero():
    # Allocated on Monday 5 January 2026: 10 working days is Monday 19 January.
    assert CAL.due(at(2026, 1, 5), 10, "working_days") == Due.on(date(2026, 1, 19), "working_days")
    # Zero working days: by the end of the same day.
    assert CAL.due(at(2026, 1, 5), 0, "working_days").day == date(2026, 1, 5)


def test_a_clock_started_on_a_saturday_counts_monday_as_day_one():
    assert CAL.due(at(2026, 1, 3), 1, "working_days").day == date(2026, 1, 5)
    assert CAL.due(at(2026, 1, 3), 10, "working_days").day == date(2026, 1, 16)


def test_a_clock_started_on_a_bank_holiday_counts_the_next_working_day_as_day_one():
    # Easter Monday 6 April 2026: day 1 is Tuesday 7 April.
    assert CAL.due(at(2026, 4, 6), 1, "working_days").day == date(2026, 4, 7)


def test_christmas_and_new_year_are_skipped():
    """A Family Hub family allocated on Monday 22 December 2025 is due to give consent by
    Thursday 8 January 2026 (seed 000 L617: 10 working days)."""
    assert CAL.due(at(2025, 12, 22), 10, "working_days").day == date(2026, 1, 8)


def test_easter_is_skipped():
    # Thursday 2 April 2026 + 2 working days: Good Friday and Easter Monday skipped.
    assert CAL.due(at(2026, 4, 2), 2, "working_days").day == date(2026, 4, 8)


def test_the_2026_to_2027_year_end():
    # Thursday 24 December 2026 + 3 working days: 25 (Fri, Christmas), 26-27 weekend,
    # 28 (Boxing Day substitute) skipped: 29, 30, 31 December.
    assert CAL.due(at(2026, 12, 24), 3, "working_days").day == date(2026, 12, 31)
    # + 4 working days crosses New Year's Day 2027 (Friday): Monday 4 January 2027.
    assert CAL.due(at(2026, 12, 24), 4, "working_days").day == date(2027, 1, 4)


def test_a_council_closure_day_is_not_a_working_day():
    closed = WorkingCalendar.with_closures([date(2026, 12, 24)])
    assert closed.due(at(2026, 12, 23), 1, "working_days").day == date(2026, 12, 29)
    assert CAL.due(at(2026, 12, 23), 1, "working_days").day == date(2026, 12, 24)


def test_calendar_days_weeks_and_months_add_to_the_date():
    assert CAL.due(at(2026, 1, 30), 10, "calendar_days").day == date(2026, 2, 9)
    assert CAL.due(at(2025, 12, 22), 2, "weeks").day == date(2026, 1, 5)
    assert CAL.due(at(2026, 1, 31), 1, "months").day == date(2026, 2, 28)
    assert CAL.due(at(2026, 8, 31), 6, "months").day == date(2027, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_an_event_late_in_the_evening_counts_from_its_london_day():
    # 23:30 UTC on Sunday 28 June 2026 is 00:30 BST on Monday 29 June in London.
    late = datetime(2026, 6, 28, 23, 30, tzinfo=timezone.utc)
    assert london_date(late) == date(2026, 6, 29)
    assert CAL.due(late, 1, "working_days").day == date(2026, 6, 30)


def test_hours_add_absolute_time_across_the_spring_clock_change():
    # Clocks go forward at 01:00 UTC on Sunday 29 March 2026.
    start = at(2026, 3, 28, 10)  # 10:00 GMT
    due = CAL.due(start, 24, "hours")
    assert due.shown == at(2026, 3, 29, 11)  # 11:00 BST: 24 real hours, not "same time"
    assert due.shown.utcoffset() == timedelta(hours=1)
    assert due.instant - start.astimezone(timezone.utc) == timedelta(hours=24)


def test_hours_add_absolute_time_across_the_autumn_clock_change():
    # Clocks go back at 01:00 UTC on Sunday 25 October 2026.
    start = at(2026, 10, 24, 10)  # 10:00 BST
    assert CAL.due(start, 48, "hours").shown == at(2026, 10, 26, 9)  # 09:00 GMT
    assert CAL.due(start, 48, "hours").shown.utcoffset() == timedelta(0)


def test_met_on_the_due_day_and_late_the_day_after():
    due = CAL.due(at(2026, 1, 5), 10, "working_days")  # Monday 19 January
    assert due.met_by(at(2026, 1, 19, 23, 59))
    assert not due.met_by(at(2026, 1, 20, 0, 1))


def test_an_hours_clock_is_met_up_to_its_instant():
    due = CAL.due(at(2026, 5, 1, 9), 4, "hours")
    assert due.met_by(at(2026, 5, 1, 13)) and not due.met_by(at(2026, 5, 1, 13, 1))


@pytest.mark.parametrize(("paused", "resumed", "lost"), [
    (date(2026, 3, 2), date(2026, 3, 9), 5),     # Monday to Monday: 5 working days
    (date(2026, 4, 2), date(2026, 4, 8), 2),     # over Easter: 7 and 8 April only
    (date(2026, 3, 2), date(2026, 3, 2), 0),     # paused and resumed the same day
])
def test_a_pause_costs_the_working_days_it_spans(paused, resumed, lost):
    assert CAL.pause_length(at(*paused.timetuple()[:3]), at(*resumed.timetuple()[:3]), "working_days") == lost


def test_a_pause_postpones_a_working_day_due_date_by_working_days():
    due = CAL.due(at(2026, 3, 2), 10, "working_days")  # Monday 16 March
    assert due.day == date(2026, 3, 16)
    assert CAL.postpone(due, 5).day == date(2026, 3, 23)
