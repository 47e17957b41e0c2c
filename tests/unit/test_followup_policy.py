"""差评回访 rules: deadlines in working days, which ratings open an item, what is overdue."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hall import followup_policy as fp

TZ = ZoneInfo("Asia/Shanghai")
MON_FRI = (1, 2, 3, 4, 5)
FRIDAY_1600 = datetime(2026, 11, 27, 16, 0, tzinfo=TZ)


def end_of(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 23, 59, 59, 999_000, tzinfo=TZ)


def test_one_working_day_from_friday_afternoon_is_the_end_of_monday():
    assert fp.add_working_days(FRIDAY_1600, 1, MON_FRI) == end_of(date(2026, 11, 30))


def test_zero_days_is_the_end_of_the_same_working_day_or_of_the_next_one():
    assert fp.add_working_days(FRIDAY_1600, 0, MON_FRI) == end_of(date(2026, 11, 27))
    saturday = FRIDAY_1600 + timedelta(days=1)
    assert fp.add_working_days(saturday, 0, MON_FRI) == end_of(date(2026, 11, 30))
    assert fp.add_working_days(saturday, 1, MON_FRI) == end_of(date(2026, 11, 30))  # the start day is not counted
    assert fp.add_working_days(saturday, 2, MON_FRI) == end_of(date(2026, 12, 1))


def test_holidays_are_skipped_and_saturdays_count_when_a_service_opens_then():
    national_day = [date(2026, 10, d) for d in range(1, 8)]
    sept_30 = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)
    assert fp.add_working_days(sept_30, 1, MON_FRI, national_day) == end_of(date(2026, 10, 8))
    assert fp.add_working_days(FRIDAY_1600, 1, (1, 2, 3, 4, 5, 6)) == end_of(date(2026, 11, 28))


def test_extra_working_days_count():
    sunday = date(2026, 11, 29)
    assert fp.add_working_days(FRIDAY_1600, 1, MON_FRI, extra_days=[sunday]) == end_of(sunday)


def test_fifteen_working_days_from_a_monday():
    monday = datetime(2026, 11, 23, 9, 30, tzinfo=TZ)
    assert fp.add_working_days(monday, 15, MON_FRI) == end_of(date(2026, 12, 14))
    assert fp.add_working_days(monday, 15, (1, 2, 3, 4, 5, 6)) == end_of(date(2026, 12, 10))


def test_a_calendar_without_working_days_is_an_error_not_a_hang():
    with pytest.raises(ValueError):
        fp.add_working_days(FRIDAY_1600, 1, ())
    with pytest.raises(ValueError):
        fp.add_working_days(FRIDAY_1600, -1, MON_FRI)


def test_parse_days_names_the_bad_one():
    assert fp.parse_days(["2027-01-01"]) == {date(2027, 1, 1)}
    with pytest.raises(ValueError, match="2027-13-01"):
        fp.parse_days(["2027-01-01", "2027-13-01"])


def test_which_ratings_open_an_item():
    assert fp.opens_followup(1, [1, 2]) and fp.opens_followup(2, [1, 2])
    assert not any(fp.opens_followup(r, [1, 2]) for r in (3, 4, 5, None))


def test_overdue_steps_and_transitions():
    cb, fix = 1_000, 5_000
    assert fp.overdue_steps("open", 1_000, cb, fix) == ()  # due means by then, inclusive
    assert fp.overdue_steps("open", 1_001, cb, fix) == ("callback",)
    assert fp.overdue_steps("open", 5_001, cb, fix) == ("callback", "fix")
    assert fp.overdue_steps("called_back", 5_001, cb, fix) == ("fix",)
    assert fp.overdue_steps("fixed", 9_999, cb, fix) == ()
    assert fp.next_state("open", "callback") == "called_back"
    assert fp.next_state("called_back", "fix") == "fixed"
    assert fp.next_state("open", "fix") is None and fp.next_state("fixed", "fix") is None
    assert fp.next_state("called_back", "callback") is None
    assert fp.late_steps(1_001, 4_000, cb, fix) == ("callback",)
    assert fp.late_steps(None, None, cb, fix) == ()


# --------------------------------------------------------------------------- properties

weekday_sets = st.frozensets(st.integers(1, 7), min_size=1)
starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda d: d.replace(tzinfo=TZ, microsecond=0))
holiday_sets = st.frozensets(st.dates(min_value=date(2025, 1, 1), max_value=date(2029, 6, 30)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(start=starts, n=st.integers(0, 60), weekdays=weekday_sets, holidays=holiday_sets)
def test_a_deadline_is_the_end_of_a_working_day_after_the_start(start, n, weekdays, holidays):
    due = fp.add_working_days(start, n, weekdays, holidays)
    cal = fp.Calendar(weekdays, holidays)
    assert cal.is_working(due.date())
    assert due.isoweekday() in weekdays and due.date() not in holidays
    assert due.time() == fp.END_OF_DAY and due.tzinfo == start.tzinfo
    assert due >= start
    # exactly n working days after the start day (n = 0: the start day or the next working day)
    between = sum(cal.is_working(start.date() + timedelta(days=i))
                  for i in range(1, (due.date() - start.date()).days + 1))
    if n == 0:
        assert between <= 1 and (between == 0) == cal.is_working(start.date())
    else:
        assert between == n


@settings(max_examples=200, deadline=None)
@given(start=starts, n=st.integers(0, 60), weekdays=weekday_sets, holidays=holiday_sets)
def test_deadlines_are_monotone_in_n(start, n, weekdays, holidays):
    a = fp.add_working_days(start, n, weekdays, holidays)
    b = fp.add_working_days(start, n + 1, weekdays, holidays)
    if n > 0 or fp.Calendar(weekdays, holidays).is_working(start.date()):
        assert b > a
    else:  # rated on a day off: 0 and 1 working days both end with the next working day
        assert b == a


@settings(max_examples=200, deadline=None)
@given(start=starts, n=st.integers(1, 30), weekdays=weekday_sets, holiday=st.integers(1, 30))
def test_a_holiday_before_the_deadline_moves_it_to_the_next_working_day(start, n, weekdays, holiday):
    base = fp.add_working_days(start, n, weekdays)
    day = start.date() + timedelta(days=holiday)
    moved = fp.add_working_days(start, n, weekdays, [day])
    if day <= base.date() and day.isoweekday() in weekdays:
        assert moved == fp.add_working_days(base, 1, weekdays, [day])  # one working day later
    else:
        assert moved == base


@settings(max_examples=200, deadline=None)
@given(state=st.sampled_from(fp.STATES), now=st.integers(0, 10_000), cb=st.integers(0, 10_000),
       fix=st.integers(0, 10_000))
def test_a_fixed_item_is_never_overdue_and_steps_only_grow_with_time(state, now, cb, fix):
    steps = fp.overdue_steps(state, now, cb, fix)
    assert state != "fixed" or steps == ()
    assert set(steps) <= set(fp.overdue_steps(state, now + 1, cb, fix))


def test_the_hall_file_refuses_a_bad_holiday():
    from pydantic import ValidationError

    from hall.hallconfig import FollowupCfg

    assert FollowupCfg(holidays=["2027-01-01"]).holidays == ["2027-01-01"]
    for bad in ("2027-02-30", "2027-1-1", "元旦"):
        with pytest.raises(ValidationError):
            FollowupCfg(holidays=[bad])
