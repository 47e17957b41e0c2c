"""差评回访 rules, pure: which ratings open a follow-up, its deadlines in working days, what is overdue.

Deadlines are counted as Chinese law counts periods (民法典 第二百零一条: the day the period starts
is not counted) and in working days (行政许可法 第八十二条: 期限以工作日计算，不含法定节假日):

- a deadline of ``n`` working days from a rating ends at the **end** (23:59:59.999, the hall's
  time) of the ``n``-th working day after the rating's day. A rating on Friday at 16:00 with one
  working day to call back is due by the end of Monday, not Monday 16:00: a manager plans call-backs
  by the day, and the end of the day never falls before the time of day the visitor rated;
- ``n = 0`` means the end of the rating's own day, or of the next working day when it was rated on
  a day that is not a working day (the 7x24 area rates on Sundays too);
- a working day is one of the hall's ``weekdays`` (ISO, 1 = Monday) that is not in ``holidays``,
  or a day in ``extra_days`` (调休上班, a weekend made a working day).

An item is overdue for a step once the step's deadline has passed and the step is not done: the
call-back while the item is ``open``, the fix while it is not ``fixed``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

STATES = ("open", "called_back", "fixed")
STEPS = ("callback", "fix")
END_OF_DAY = time(23, 59, 59, 999_000)  # ms precision, as the rows store times
MAX_SCAN_DAYS = 3660  # a calendar with no working day at all cannot loop forever


def parse_days(days: Iterable[str]) -> frozenset[date]:
    """``YYYY-MM-DD`` strings as dates; ValueError names the first bad one."""
    out = set()
    for d in days:
        try:
            out.add(date.fromisoformat(str(d).strip()))
        except ValueError:
            raise ValueError(f"bad date {d!r}; use YYYY-MM-DD") from None
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Calendar:
    """The hall's working days: weekdays (ISO, 1 = Monday), less holidays, plus extra working days."""

    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_days: frozenset[date] = field(default_factory=frozenset)

    def is_working(self, d: date) -> bool:
        if d in self.extra_days:
            return True
        return d.isoweekday() in self.weekdays and d not in self.holidays


def is_working_day(d: date, weekdays: Collection[int], holidays: Collection[date] = (),
                   extra_days: Collection[date] = ()) -> bool:
    return Calendar(frozenset(weekdays), frozenset(holidays), frozenset(extra_days)).is_working(d)


def _working_day(start: date, n: int, cal: Calendar) -> date:
    """The ``n``-th working day after ``start`` (``n = 0``: ``start`` itself if it is one, else the next)."""
    if n < 0:
        raise ValueError("n must be 0 or more")
    d, left = start, n
    if n == 0:
        for _ in range(MAX_SCAN_DAYS):
            if cal.is_working(d):
                return d
            d += timedelta(days=1)
        raise ValueError("the calendar has no working day")
    for _ in range(MAX_SCAN_DAYS + 7 * n):
        d += timedelta(days=1)
        if cal.is_working(d):
            left -= 1
            if left == 0:
                return d
    raise ValueError("the calendar has no working day")


def add_working_days(start: datetime, n: int, weekdays: Collection[int], holidays: Collection[date] = (),
                     extra_days: Collection[date] = ()) -> datetime:
    """The deadline ``n`` working days after ``start`` (a local, usually aware, datetime): the end of
    the ``n``-th working day after ``start``'s day, in ``start``'s timezone (see the module's rules)."""
    cal = Calendar(frozenset(weekdays), frozenset(holidays), frozenset(extra_days))
    return deadline(start, n, cal)


def deadline(start: datetime, n: int, cal: Calendar) -> datetime:
    return datetime.combine(_working_day(start.date(), n, cal), END_OF_DAY, tzinfo=start.tzinfo)


def opens_followup(rating: int | None, ratings: Collection[int]) -> bool:
    """Whether a rating opens a follow-up (by default 1 非常不满意 and 2 不满意)."""
    return rating is not None and rating in ratings


def due_dates(rated_at: datetime, callback_days: int, fix_days: int, cal: Calendar) -> tuple[datetime, datetime]:
    """The call-back and fix deadlines of a follow-up opened at ``rated_at`` (local time)."""
    return deadline(rated_at, callback_days, cal), deadline(rated_at, fix_days, cal)


def overdue_steps(state: str, now_ms: int, callback_due_ms: int, fix_due_ms: int) -> tuple[str, ...]:
    """The steps past their deadline and not done: ``callback`` while ``open``, ``fix`` until ``fixed``."""
    steps: list[str] = []
    if state == "open" and now_ms > callback_due_ms:
        steps.append("callback")
    if state != "fixed" and now_ms > fix_due_ms:
        steps.append("fix")
    return tuple(steps)


def next_state(state: str, step: str) -> str | None:
    """The state after recording ``step``, or None when it cannot be recorded in ``state``: the
    call-back comes first (``open`` → ``called_back``), then the fix (``called_back`` → ``fixed``)."""
    if step == "callback" and state == "open":
        return "called_back"
    if step == "fix" and state == "called_back":
        return "fixed"
    return None


def late_steps(called_back_ms: int | None, fixed_ms: int | None, callback_due_ms: int,
               fix_due_ms: int) -> tuple[str, ...]:
    """The steps done after their deadline (for the reports: an item closed late is still late)."""
    steps: list[str] = []
    if called_back_ms is not None and called_back_ms > callback_due_ms:
        steps.append("callback")
    if fixed_ms is not None and fixed_ms > fix_due_ms:
        steps.append("fix")
    return tuple(steps)
