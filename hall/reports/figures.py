"""The figures of the daily and monthly reports: a pure function of the stored event envelopes.

Every figure is computed from the events of the period (``{seq, type, at, hall, data}`` as the
stream carries them, in ``seq`` order); nothing here reads a table or the clock. The one figure the
log does not hold, the 差评 follow-ups that are overdue, comes from the ``followup`` table
(``hall.reports.source``) and is passed in as plain dicts, marked ``"source": "followup table"``.

What each figure means (the README's *Reports* section says the same):

- tickets: ``ticket.issued`` by service and by local hour; ``called`` counts tickets called at
  least once (recalls are not new calls); no-show rate and transfer rate are ``ticket.no_show`` and
  ``ticket.transferred`` over the tickets called.
- waits: per ticket, from its ``ticket.issued`` to its first ``ticket.called`` (``recall`` 0), in
  the service it was issued for; tickets issued before the period are left out. Mean, p90
  (nearest rank) and max, in seconds.
- service times: ``service_s`` of ``ticket.finished``, by service.
- windows: from ``window.state``; a window is taken to be ``closed`` at the start of the period
  (the day starts with the windows closed). Open = any state but ``closed``; busy = ``calling`` or
  ``serving``; utilisation = busy / open.
- posts (AB岗): ``post.away`` (steps away), ``post.cover_needed`` (B asked), ``post.covered``
  (``role`` b: a cover, a: A back), ``post.vacant`` (空岗, each with its length: the ``minutes``
  when raised plus the time to ``post.vacancy_cleared``).
- tidal windows: ``tidal.opened`` / ``tidal.closed``, with the minutes each window was open.
- wait alerts: ``wait.alert`` by service, with the minutes to ``wait.cleared``.
- 好差评: ``ticket.rated`` and the ``rating`` of ``ticket.finished`` (a ticket is rated once), by
  level; ``good_rate`` is 非常满意 + 满意 + 基本满意 over all ratings, ``bad`` the 差评 (1 and 2).
- devices and alarms: each alarm raised in the period once (``alarm.raised``, and the alarms
  grouped under a flood, named in ``alarm.flood``'s ``new``), by type; devices with the most;
  time to acknowledge: ``acked_at - raised_at`` of each alarm acknowledged in the period; time to
  resolve: from ``raised_at`` to the first ``alarm.cleared`` (its condition ended) or
  ``alarm.resolved`` (closed by hand) in the period; flood minutes from the flood alarm's raise to
  the ``alarm.flood`` with ``flooding: false``; lockers: ``locker.deposited``, ``locker.picked_up``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from hall.hallconfig import HallCfg

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}  # GB/T 39734
BUSY = ("calling", "serving")
TOP_DEVICES = 5
FLOOD_TYPE = "alarm_flood"


def percentile(xs: Iterable[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least ``q`` of them at or below it."""
    s = sorted(xs)
    if not s:
        return None
    return s[max(0, math.ceil(q * len(s)) - 1)]


def stats(xs: Sequence[float]) -> dict[str, Any]:
    """``{n, mean_s, p90_s, max_s}`` (None when there is nothing to measure)."""
    if not xs:
        return {"n": 0, "mean_s": None, "p90_s": None, "max_s": None}
    return {"n": len(xs), "mean_s": round(sum(xs) / len(xs), 1), "p90_s": round(float(percentile(xs, 0.9)), 1),
            "max_s": round(float(max(xs)), 1)}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(xs: Sequence[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def day_bounds(cfg: HallCfg, day: date) -> tuple[datetime, datetime]:
    """The hall's local day, ``[00:00, next 00:00)``."""
    start = datetime.combine(day, time(0), tzinfo=cfg.tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=cfg.tz)


def _intervals(opens: list[tuple[str, datetime]], closes: list[tuple[str, datetime]], start: datetime,
               end: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """Pair open/close instants per key (in time order): an open still open at ``end`` ends
    there; a close with no open before it in the period began at ``start``."""
    marks = sorted([(t, 1, k) for k, t in opens] + [(t, 0, k) for k, t in closes], key=lambda m: (m[0], -m[1]))
    since: dict[str, datetime] = {}
    out: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for t, is_open, k in marks:
        if is_open:
            since.setdefault(k, t)
        else:
            out[k].append((since.pop(k, start), t))
    for k, t in since.items():
        out[k].append((t, end))
    return out


def _minutes(spans: Iterable[tuple[datetime, datetime]]) -> float:
    return sum((b - a).total_seconds() for a, b in spans) / 60


def figures(events: Sequence[Mapping[str, Any]], cfg: HallCfg, start: datetime, end: datetime, *,
            followups: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The report's figures for the events of ``[start, end)`` (others are ignored)."""
    evs = sorted((e for e in events if start <= datetime.fromisoformat(e["at"]) < end), key=lambda e: e["seq"])
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for e in evs:
        by_type[e["type"]].append(e)
    codes = [s.code for s in cfg.services]
    names = {s.code: s.name for s in cfg.services}

    def at(e: Mapping[str, Any]) -> datetime:
        return datetime.fromisoformat(e["at"])

    # -- tickets
    issued = {e["data"]["ticket_id"]: e for e in by_type["ticket.issued"]}
    first_call: dict[str, Mapping[str, Any]] = {}
    for e in by_type["ticket.called"]:
        if not e["data"].get("recall"):
            first_call.setdefault(e["data"]["ticket_id"], e)
    per_service: dict[str, Counter[str]] = {c: Counter() for c in codes}
    for kind, key in (("ticket.issued", "issued"), ("ticket.finished", "finished"), ("ticket.no_show", "no_show"),
                      ("ticket.transferred", "transferred"), ("ticket.expired", "expired")):
        for e in by_type[kind]:
            svc = e["data"]["from_service"] if kind == "ticket.transferred" else e["data"]["service"]
            per_service.setdefault(svc, Counter())[key] += 1
    for e in first_call.values():
        per_service.setdefault(e["data"]["service"], Counter())["called"] += 1
    by_hour = [0] * 24
    for e in by_type["ticket.issued"]:
        by_hour[at(e).astimezone(cfg.tz).hour] += 1
    called = len(first_call)
    tickets = {
        "issued": len(by_type["ticket.issued"]), "called": called, "finished": len(by_type["ticket.finished"]),
        "no_show": len(by_type["ticket.no_show"]), "transferred": len(by_type["ticket.transferred"]),
        "expired": len(by_type["ticket.expired"]),
        "no_show_rate": _rate(len(by_type["ticket.no_show"]), called),
        "transfer_rate": _rate(len(by_type["ticket.transferred"]), called),
        "by_service": {c: {"name": names.get(c, c), **{k: per_service[c][k] for k in
                                                         ("issued", "called", "finished", "no_show", "transferred",
                                                          "expired")}}
                       for c in per_service},
        "by_hour": by_hour,
    }

    # -- waits and service times
    waits: dict[str, list[float]] = defaultdict(list)
    for tid, c in first_call.items():
        i = issued.get(tid)
        if i is not None:
            waits[i["data"]["service"]].append((at(c) - at(i)).total_seconds())
    service_s: dict[str, list[float]] = defaultdict(list)
    for e in by_type["ticket.finished"]:
        service_s[e["data"]["service"]].append(float(e["data"]["service_s"]))
    svc_keys = list(per_service)
    wait_fig = {"all": stats([w for c in svc_keys for w in waits[c]]),
                "by_service": {c: stats(waits[c]) for c in svc_keys}}
    service_fig = {"all": stats([w for c in svc_keys for w in service_s[c]]),
                   "by_service": {c: stats(service_s[c]) for c in svc_keys}}

    # -- windows
    state: dict[str, tuple[str, datetime]] = {w.number: ("closed", start) for w in cfg.windows}
    open_s: Counter[str] = Counter()
    busy_s: Counter[str] = Counter()

    def close_out(number: str, until: datetime) -> None:
        st, since = state.get(number, ("closed", start))
        secs = (until - since).total_seconds()
        if st != "closed":
            open_s[number] += secs
        if st in BUSY:
            busy_s[number] += secs

    for e in by_type["window.state"]:
        n = e["data"]["window"]
        close_out(n, at(e))
        state[n] = (e["data"]["state"], at(e))
    for n in list(state):
        close_out(n, end)
    wnames = {w.number: w.name for w in cfg.windows}
    windows = {
        "by_window": {n: {"name": wnames.get(n, n), "open_h": round(open_s[n] / 3600, 2),
                          "busy_h": round(busy_s[n] / 3600, 2), "utilisation": _rate(busy_s[n], open_s[n])}
                      for n in state},
        "open_h": round(sum(open_s.values()) / 3600, 2), "busy_h": round(sum(busy_s.values()) / 3600, 2),
        "utilisation": _rate(sum(busy_s.values()), sum(open_s.values())),
    }

    # -- AB posts
    covered = Counter(e["data"].get("role") for e in by_type["post.covered"])
    vac_spans = _intervals([(e["data"]["window"], at(e)) for e in by_type["post.vacant"]],
                           [(e["data"]["window"], at(e)) for e in by_type["post.vacancy_cleared"]], start, end)
    vacant_at = {(e["data"]["window"], at(e)): e["data"].get("minutes") or 0 for e in by_type["post.vacant"]}
    vacancies = sorted(({"window": w, "at": a.isoformat(timespec="seconds"),
                         "minutes": round(vacant_at.get((w, a), 0) + (b - a).total_seconds() / 60, 1)}
                        for w, spans in vac_spans.items() for a, b in spans if (w, a) in vacant_at),
                       key=lambda v: v["at"])
    posts = {
        "away": len(by_type["post.away"]), "cover_needed": len(by_type["post.cover_needed"]),
        "covers": covered.get("b", 0), "returns": covered.get("a", 0),
        "vacancies": len(by_type["post.vacant"]),
        "longest_vacancy_min": max((v["minutes"] for v in vacancies), default=0),
        "vacancy_list": vacancies,
    }

    # -- tidal windows
    tidal_spans = _intervals([(e["data"]["window"], at(e)) for e in by_type["tidal.opened"]],
                             [(e["data"]["window"], at(e)) for e in by_type["tidal.closed"]], start, end)
    tidal = {
        "openings": len(by_type["tidal.opened"]), "closings": len(by_type["tidal.closed"]),
        "open_min": round(sum(_minutes(s) for s in tidal_spans.values()), 1),
        "by_window": {w: {"openings": sum(1 for e in by_type["tidal.opened"] if e["data"]["window"] == w),
                          "open_min": round(_minutes(tidal_spans.get(w, [])), 1)}
                      for w in sorted({*tidal_spans, *(e["data"]["window"] for e in by_type["tidal.opened"])})},
        "list": [{"at": e["at"], "window": e["data"]["window"], "services": list(e["data"].get("services") or []),
                  "reason": e["data"].get("reason")} for e in by_type["tidal.opened"]],
    }

    # -- wait alerts
    alert_spans = _intervals([(e["data"]["service"], at(e)) for e in by_type["wait.alert"]],
                             [(e["data"]["service"], at(e)) for e in by_type["wait.cleared"]], start, end)
    alert_count = Counter(e["data"]["service"] for e in by_type["wait.alert"])
    wait_alerts = {
        "alerts": len(by_type["wait.alert"]),
        "alert_min": round(sum(_minutes(s) for s in alert_spans.values()), 1),
        "by_service": {c: {"alerts": alert_count[c], "alert_min": round(_minutes(alert_spans.get(c, [])), 1)}
                       for c in sorted(alert_count, key=lambda c: (codes.index(c) if c in codes else 99, c))},
        "list": [{"at": e["at"], "service": e["data"]["service"], "wait_s": e["data"].get("wait_s"),
                  "target_s": e["data"].get("target_s")} for e in by_type["wait.alert"]],
    }

    # -- 好差评
    rated = [e["data"]["rating"] for e in by_type["ticket.rated"]]
    rated += [e["data"]["rating"] for e in by_type["ticket.finished"] if e["data"].get("rating") is not None]
    level_n = Counter(rated)
    ratings = {
        "rated": len(rated), "levels": {str(k): level_n.get(k, 0) for k in LEVELS},
        "good_rate": _rate(sum(level_n[k] for k in (5, 4, 3)), len(rated)),
        "bad": level_n[2] + level_n[1], "rated_share": _rate(len(rated), tickets["finished"]),
    }

    # -- devices and alarms
    raised: dict[str, Mapping[str, Any]] = {}
    for e in by_type["alarm.raised"]:
        raised.setdefault(e["data"]["id"], e["data"])
    for e in by_type["alarm.flood"]:
        for a in e["data"].get("new") or []:
            raised.setdefault(a["id"], a)
    by_alarm_type = Counter(a["type"] for a in raised.values())
    per_device = Counter(a["subject"] for a in raised.values() if a.get("source") == "device")
    ack_s: dict[str, float] = {}
    for e in by_type["alarm.acked"]:
        d = e["data"]
        if d.get("acked_at") and d.get("raised_at") and d["id"] not in ack_s:
            ack_s[d["id"]] = (_t(d["acked_at"]) - _t(d["raised_at"])).total_seconds()
    resolve_s: dict[str, float] = {}
    for e in evs:
        if e["type"] in ("alarm.cleared", "alarm.resolved") and e["data"]["id"] not in resolve_s:
            resolve_s[e["data"]["id"]] = (at(e) - _t(e["data"]["raised_at"])).total_seconds()
    flood_spans = _intervals(
        [(e["data"]["id"], at(e)) for e in by_type["alarm.raised"] if e["data"]["type"] == FLOOD_TYPE],
        [(e["data"]["id"], at(e)) for e in by_type["alarm.flood"] if e["data"].get("flooding") is False],
        start, end)
    devices = {
        "alarms": len(raised),
        "by_type": dict(sorted(by_alarm_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        "acked": len(ack_s), "mean_ack_s": _mean(list(ack_s.values())),
        "resolved": len(resolve_s), "mean_resolve_s": _mean(list(resolve_s.values())),
        "top_devices": [{"device": d, "alarms": n}
                        for d, n in sorted(per_device.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DEVICES]],
        "floods": len(flood_spans), "flood_min": round(sum(_minutes(s) for s in flood_spans.values()), 1),
        "locker_deposits": len(by_type["locker.deposited"]), "locker_pickups": len(by_type["locker.picked_up"]),
    }

    out: dict[str, Any] = {
        "hall": cfg.id, "hall_name": cfg.name,
        "start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds"),
        "events": len(evs), "first_seq": evs[0]["seq"] if evs else None, "last_seq": evs[-1]["seq"] if evs else None,
        "tickets": tickets, "waits": wait_fig, "service_times": service_fig, "windows": windows, "posts": posts,
        "tidal": tidal, "wait_alerts": wait_alerts, "ratings": ratings, "devices": devices,
    }
    if followups is not None:
        out["followups"] = {"source": "followup table", "overdue": len(followups), "list": list(followups)}
    return out


def daily_figures(events: Sequence[Mapping[str, Any]], cfg: HallCfg, day: date, *,
                  followups: Sequence[Mapping[str, Any]] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The daily report's figures: the hall's local ``day``; with ``now`` inside it (today's report),
    open windows, alerts and the like count up to ``now`` rather than midnight."""
    start, end = day_bounds(cfg, day)
    if now is not None and start <= now < end:
        end = now
    out = figures(events, cfg, start, end, followups=followups)
    out["date"] = day.isoformat()
    return out


# --------------------------------------------------------------------------- the month

MONTH_COLUMNS: dict[str, list[tuple[str, str]]] = {
    # family -> (column key, Chinese heading); the key is a path into one day's figures
    "tickets": [("tickets.issued", "取号"), ("tickets.called", "叫号"), ("tickets.finished", "办结"),
                ("tickets.no_show", "过号"), ("tickets.no_show_rate", "过号率"),
                ("tickets.transferred", "转办"), ("tickets.transfer_rate", "转办率")],
    "waits": [("waits.all.mean_s", "平均等候(秒)"), ("waits.all.p90_s", "P90等候(秒)"), ("waits.all.max_s", "最长等候(秒)"),
              ("service_times.all.mean_s", "平均办理(秒)"), ("service_times.all.p90_s", "P90办理(秒)")],
    "staffing": [("windows.open_h", "窗口开放(时)"), ("windows.utilisation", "窗口利用率"),
                 ("posts.covers", "B岗代岗"), ("posts.vacancies", "空岗"), ("tidal.openings", "潮汐开窗"),
                 ("tidal.open_min", "潮汐开放(分)"), ("wait_alerts.alerts", "等待预警")],
    "ratings": [("ratings.rated", "评价数"), *((f"ratings.levels.{k}", v) for k, v in LEVELS.items()),
                ("ratings.good_rate", "满意率")],
    "devices": [("devices.alarms", "报警"), ("devices.mean_ack_s", "平均确认(秒)"),
                ("devices.mean_resolve_s", "平均恢复(秒)"), ("devices.flood_min", "泛滥(分)"),
                ("devices.locker_deposits", "存件"), ("devices.locker_pickups", "取件")],
}
MONTH_FAMILY_ZH = {"tickets": "取号与叫号", "waits": "等候与办理时长", "staffing": "窗口与人员",
                   "ratings": "好差评", "devices": "设备与报警"}


def pick(figs: Mapping[str, Any], path: str) -> Any:
    v: Any = figs
    for part in path.split("."):
        v = v.get(part) if isinstance(v, Mapping) else None
    return v


def month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


def monthly_figures(events: Sequence[Mapping[str, Any]], cfg: HallCfg, year: int, month: int, *,
                    followups: Sequence[Mapping[str, Any]] | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """The month's figures: ``days`` (each day's full figures, every day of the month), the
    ``tables`` (per family one row per day: ``[date, value, ...]``, columns as ``MONTH_COLUMNS``)
    and ``total`` (the same figures over the whole month)."""
    days = month_days(year, month)
    per_day = [daily_figures(events, cfg, d, now=now) for d in days]
    start = day_bounds(cfg, days[0])[0]
    end = day_bounds(cfg, days[-1])[1]
    if now is not None and start <= now < end:
        end = now
    total = figures(events, cfg, start, end, followups=followups)
    tables = {fam: {"columns": [k for k, _ in cols], "rows": [[f["date"], *(pick(f, k) for k, _ in cols)]
                                                             for f in per_day]}
              for fam, cols in MONTH_COLUMNS.items()}
    return {"hall": cfg.id, "hall_name": cfg.name, "month": f"{year:04d}-{month:02d}", "tables": tables,
            "total": total, "days": per_day}
