"""What the reports read from the database: the period's events, and the overdue 差评 follow-ups.

The events are the hall's envelopes exactly as the stream carries them. The follow-ups are the one
thing the event log does not say (whether a call-back or a fix is late is a matter of the clock and
the ``followup`` table), so they are a plain table read, passed to the figures as such.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, or_, select

from hall.db.models import event_t, followup_t
from hall.hallconfig import HallCfg
from hall.reports.figures import day_bounds, month_days
from hall.runtime import ms

_decode = msgspec.json.Decoder().decode


def events_between(conn: Connection, hall: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The hall's event envelopes with ``start <= at < end``, in ``seq`` order."""
    e = event_t.c
    q = (select(e.envelope).where(e.hall_id == hall, e.at_ms >= ms(start), e.at_ms < ms(end)).order_by(e.seq))
    return [_decode(r.envelope) for r in conn.execute(q)]


def _iso(cfg: HallCfg, value: int | None) -> str | None:
    return datetime.fromtimestamp(value / 1000, cfg.tz).isoformat(timespec="seconds") if value is not None else None


def overdue_followups(conn: Connection, cfg: HallCfg, as_of: datetime) -> list[dict[str, Any]]:
    """Follow-ups of the hall not done whose call-back or fix was due before ``as_of``, oldest first."""
    f = followup_t.c
    at = ms(as_of)
    late_call = and_(f.called_back_ms.is_(None), f.callback_due_ms < at)
    late_fix = and_(f.fixed_ms.is_(None), f.fix_due_ms < at)
    q = (select(followup_t).where(f.hall_id == cfg.id, f.state != "fixed", or_(late_call, late_fix))
         .order_by(f.created_ms, f.id))
    out = []
    for r in conn.execute(q):
        call_late = r.called_back_ms is None and r.callback_due_ms < at
        out.append({
            "id": r.id, "ticket": r.number, "service": r.service, "window": r.window, "clerk": r.clerk,
            "rating": r.rating, "state": r.state, "created_at": _iso(cfg, r.created_ms),
            "late": "callback" if call_late else "fix",
            "due_at": _iso(cfg, r.callback_due_ms if call_late else r.fix_due_ms),
        })
    return out


def _as_of(start: datetime, end: datetime, now: datetime | None) -> datetime:
    """Overdue at the end of the period, or now while the period is running (as the figures count)."""
    return now if now is not None and start <= now < end else end


def daily_input(conn: Connection, cfg: HallCfg, day: date, now: datetime | None = None
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day's events and the follow-ups overdue at its end (or at ``now``, during the day)."""
    start, end = day_bounds(cfg, day)
    return events_between(conn, cfg.id, start, end), overdue_followups(conn, cfg, _as_of(start, end, now))


def monthly_input(conn: Connection, cfg: HallCfg, year: int, month: int, now: datetime | None = None
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    days = month_days(year, month)
    start, end = day_bounds(cfg, days[0])[0], day_bounds(cfg, days[-1])[1]
    return events_between(conn, cfg.id, start, end), overdue_followups(conn, cfg, _as_of(start, end, now))
