"""The daily and monthly reports (#7) on recorded simulated days.

Two days are recorded into one database with ``hall.sim.runner.record_day`` (what ``hall simulate
--record`` does): the reference day (seed 1) and a busier Tuesday (seed 4, more visitors: wait
alerts and 空岗). On the first evening the duty officer's devices have a night of it through the
real use cases (alarms raised, acknowledged, cleared and resolved, a flood, a locker deposit and
pickup), and the follow-up table gets rows of its own. Every figure of the daily report is then
checked against a computation written here, from the stored events, in its own way; the PDFs are
read back (pypdf) and rendered (pdftoppm) to the README's images; CSV, JSON and the API agree.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pypdf
import pytest
from litestar.testing import TestClient
from sqlalchemy import insert, select

from hall import alarms
from hall.bootstrap import Hall
from hall.clock import ManualClock
from hall.db.models import event_t, followup_t, ticket_t
from hall.hallconfig import default_config_path, load_hall_config
from hall.iot import lockers
from hall.reports import export, figures, pdf, source
from hall.runtime import Actor, ms
from hall.sim.params import SimParams
from hall.sim.runner import record_day
from tests.conftest import TZ, add_staff, login, make_hall

DAY1, DAY2 = date(2026, 11, 23), date(2026, 11, 24)
DOCS = Path(__file__).resolve().parents[2] / "docs"
DUTY = Actor("duty01", "duty_officer", "hn-tja")


def at(hh: int, mm: int, day: date = DAY1) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


def device_night(hall: Hall, clock: ManualClock) -> dict[str, Any]:
    """Device alarms and a locker on the first evening, through the real use cases."""
    srv = hall.server
    h = srv.hall("hn-tja")

    def w(fn: Any, *args: Any) -> Any:
        return srv.db.write_sync(lambda tx: fn(tx, h, h.now(), *args))

    clock.set(at(18, 0))
    a1 = w(alarms.raise_alarm, "device", "kiosk-01", "paper_low", "minor", {"text": "纸少"})
    clock.set(at(18, 4))
    w(alarms.ack, DUTY, a1)
    clock.set(at(18, 9))
    w(alarms.resolve, DUTY, a1)
    clock.set(at(18, 10))
    a2 = w(alarms.raise_alarm, "device", "printer-01", "jam", "major", {"text": "卡纸"})
    clock.set(at(18, 17))
    w(alarms.clear_alarm, "device", "printer-01", "jam")  # cleared by itself, never acknowledged
    # a flood: a dozen new alarms within two minutes (the 11th starts it), then the sweep ends it
    pairs = [("kiosk-02", t) for t in ("fault", "offline", "jam", "paper_out", "paper_low")]
    pairs += [("printer-02", t) for t in ("fault", "offline", "jam", "paper_out")]
    pairs += [("screen-01", t) for t in ("fault", "offline", "screen_dark")]
    for i, (device, type_) in enumerate(pairs):
        clock.set(at(18, 30) + timedelta(seconds=10 * i))
        w(alarms.raise_alarm, "device", device, type_, "major", {"text": f"{device} {type_}"})
    clock.set(at(18, 50))
    srv.alarm_sweep("hn-tja")
    clock.set(at(19, 5))
    srv.alarm_sweep("hn-tja")
    # 亮码取件: deposit, the door closes on the item, the visitor's code opens it
    srv.db.write_sync(lambda tx: lockers.ensure_slots(tx, h, ms(h.now())))
    clock.set(at(19, 10))
    dep = w(lockers.start_deposit, "locker-01", "营业执照", "clerk01", None)
    w(lockers.on_door, "locker-01", "door_opened", dep["slot"], False)
    w(lockers.on_door, "locker-01", "door_closed", dep["slot"], True)
    clock.set(at(19, 20))
    w(lockers.start_pickup, dep["pickup_code"], "device:kiosk-24h-01")
    w(lockers.on_door, "locker-01", "door_opened", dep["slot"], True)
    return {"alarm": a2}


def add_followups(hall: Hall) -> None:
    """Rows of the follow-up table (its own logic is another module's): one call-back overdue at the
    end of DAY1, one due later, one done, one of another hall."""
    def rows(tx: Any) -> None:
        base = {"number": "A001", "service": "SB", "window": "1", "clerk": "clerk01", "rating": 1}
        for fid, hall_id, state, created, cb_due, fix_due, cb_done, fixed in (
                ("fu-late", "hn-tja", "open", at(9, 0), at(17, 0), at(17, 0, DAY2 + timedelta(days=20)), None, None),
                ("fu-later", "hn-tja", "open", at(10, 0), at(9, 0, DAY2), at(9, 0, DAY2 + timedelta(days=20)),
                 None, None),
                ("fu-done", "hn-tja", "fixed", at(8, 0), at(9, 0), at(10, 0), at(8, 30), at(9, 30)),
                ("fu-other", "hn-other", "open", at(8, 0), at(9, 0), at(10, 0), None, None)):
            tx.conn.execute(insert(followup_t).values(
                id=fid, hall_id=hall_id, ticket_id=fid, state=state, created_ms=ms(created),
                callback_due_ms=ms(cb_due), fix_due_ms=ms(fix_due), called_back_ms=ms(cb_done) if cb_done else None,
                fixed_ms=ms(fixed) if fixed else None, **base))

    hall.server.db.write_sync(rows)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{tmp / 'hall.db'}"
    cfg = load_hall_config(default_config_path())
    sim1 = record_day(cfg, url, seed=1, day=DAY1)
    clock = ManualClock(at(18, 0))
    hall = make_hall(tmp, clock, database_url=url)
    add_staff(hall)
    night = device_night(hall, clock)
    add_followups(hall)
    sim2 = record_day(cfg, url, seed=4, day=DAY2, params=SimParams(volume=340))
    clock.set(at(10, 0, DAY2 + timedelta(days=2)))
    yield {"hall": hall, "clock": clock, "url": url, "cfg": cfg, "sim": {DAY1: sim1, DAY2: sim2}, "night": night,
           "tmp": tmp}
    hall.close()


def stored(hall: Hall, day: date) -> list[dict[str, Any]]:
    """The day's envelopes, read here with plain SQL (not through hall.reports.source)."""
    lo = ms(datetime(day.year, day.month, day.day, tzinfo=TZ))
    with hall.server.db.read_engine.connect() as c:
        rows = c.execute(select(event_t.c.envelope).where(event_t.c.hall_id == "hn-tja", event_t.c.at_ms >= lo,
                                                          event_t.c.at_ms < lo + 86_400_000).order_by(event_t.c.seq))
        return [msgspec.json.decode(r.envelope) for r in rows]


def report(rec: Any, day: date) -> dict[str, Any]:
    """The daily figures through the report's own code (source + figures)."""
    cfg = rec["cfg"]
    events, followups = rec["hall"].server.db.read_sync(source.daily_input, cfg, day)
    return figures.daily_figures(events, cfg, day, followups=followups)


# --------------------------------------------------------------------------- the direct computation

def t_(s: str) -> datetime:
    return datetime.fromisoformat(s)


def nearest_rank(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[math.ceil(q * len(s)) - 1]


def st(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0, "mean_s": None, "p90_s": None, "max_s": None}
    return {"n": len(xs), "mean_s": round(statistics.fmean(xs), 1), "p90_s": round(nearest_rank(xs, 0.9), 1),
            "max_s": round(max(xs), 1)}


def ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def spans(evs: list[dict[str, Any]], open_type: str, close_type: str, key: str, day_end: datetime,
          day_start: datetime) -> dict[str, list[float]]:
    """Minutes of each open→close stretch per key, walking the events once in seq order."""
    since: dict[str, datetime] = {}
    out: dict[str, list[float]] = defaultdict(list)
    for e in evs:
        k = e["data"].get(key)
        if e["type"] == open_type and k not in since:
            since[k] = t_(e["at"])
        elif e["type"] == close_type:
            out[k].append((t_(e["at"]) - since.pop(k, day_start)).total_seconds() / 60)
    for k, s in since.items():
        out[k].append((day_end - s).total_seconds() / 60)
    return out


def direct(evs: list[dict[str, Any]], cfg: Any, day: date, overdue: list[dict[str, Any]]) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=TZ)
    end = start + timedelta(days=1)
    of = defaultdict(list)
    for e in evs:
        of[e["type"]].append(e)
    codes = [s.code for s in cfg.services]

    # tickets
    issued_at = {e["data"]["ticket_id"]: (t_(e["at"]), e["data"]["service"]) for e in of["ticket.issued"]}
    first_called: dict[str, dict] = {}
    for e in of["ticket.called"]:
        if e["data"]["recall"] == 0 and e["data"]["ticket_id"] not in first_called:
            first_called[e["data"]["ticket_id"]] = e
    by_service = {}
    for c in codes:
        by_service[c] = {
            "name": cfg.service(c).name,
            "issued": sum(e["data"]["service"] == c for e in of["ticket.issued"]),
            "called": sum(e["data"]["service"] == c for e in first_called.values()),
            "finished": sum(e["data"]["service"] == c for e in of["ticket.finished"]),
            "no_show": sum(e["data"]["service"] == c for e in of["ticket.no_show"]),
            "transferred": sum(e["data"]["from_service"] == c for e in of["ticket.transferred"]),
            "expired": sum(e["data"]["service"] == c for e in of["ticket.expired"]),
        }
    hours = Counter(t_(e["at"]).hour for e in of["ticket.issued"])
    n_called = len(first_called)
    tickets = {"issued": len(of["ticket.issued"]), "called": n_called, "finished": len(of["ticket.finished"]),
               "no_show": len(of["ticket.no_show"]), "transferred": len(of["ticket.transferred"]),
               "expired": len(of["ticket.expired"]), "no_show_rate": ratio(len(of["ticket.no_show"]), n_called),
               "transfer_rate": ratio(len(of["ticket.transferred"]), n_called), "by_service": by_service,
               "by_hour": [hours.get(h, 0) for h in range(24)]}

    # waits and service times
    wait_of = {tid: ((t_(e["at"]) - issued_at[tid][0]).total_seconds(), issued_at[tid][1])
               for tid, e in first_called.items() if tid in issued_at}
    waits = {"all": st([w for w, _ in wait_of.values()]),
             "by_service": {c: st([w for w, s in wait_of.values() if s == c]) for c in codes}}
    fin = [(float(e["data"]["service_s"]), e["data"]["service"]) for e in of["ticket.finished"]]
    service_times = {"all": st([x for x, _ in fin]), "by_service": {c: st([x for x, s in fin if s == c])
                                                                    for c in codes}}

    # windows: each window's states as a timeline from midnight (closed) to midnight
    by_window = {}
    tot_open = tot_busy = 0.0
    for w in cfg.windows:
        line = [(start, "closed")] + [(t_(e["at"]), e["data"]["state"]) for e in of["window.state"]
                                      if e["data"]["window"] == w.number] + [(end, "end")]
        pairs = list(zip(line, line[1:], strict=False))
        o = sum((b[0] - a[0]).total_seconds() for a, b in pairs if a[1] != "closed")
        bz = sum((b[0] - a[0]).total_seconds() for a, b in pairs if a[1] in ("calling", "serving"))
        tot_open += o
        tot_busy += bz
        by_window[w.number] = {"name": w.name, "open_h": round(o / 3600, 2), "busy_h": round(bz / 3600, 2),
                               "utilisation": round(bz / o, 4) if o else None}
    windows = {"by_window": by_window, "open_h": round(tot_open / 3600, 2), "busy_h": round(tot_busy / 3600, 2),
               "utilisation": round(tot_busy / tot_open, 4) if tot_open else None}

    # AB posts
    vac_list = []
    for e in of["post.vacant"]:
        cleared = next((c for c in of["post.vacancy_cleared"]
                        if c["seq"] > e["seq"] and c["data"]["window"] == e["data"]["window"]), None)
        until = t_(cleared["at"]) if cleared else end
        vac_list.append({"window": e["data"]["window"], "at": e["at"],
                         "minutes": round(e["data"]["minutes"] + (until - t_(e["at"])).total_seconds() / 60, 1)})
    posts = {"away": len(of["post.away"]), "cover_needed": len(of["post.cover_needed"]),
             "covers": sum(e["data"]["role"] == "b" for e in of["post.covered"]),
             "returns": sum(e["data"]["role"] == "a" for e in of["post.covered"]),
             "vacancies": len(of["post.vacant"]),
             "longest_vacancy_min": max((v["minutes"] for v in vac_list), default=0),
             "vacancy_list": sorted(vac_list, key=lambda v: v["at"])}

    # tidal windows and wait alerts
    tidal_min = spans(evs, "tidal.opened", "tidal.closed", "window", end, start)
    tidal_windows = sorted({e["data"]["window"] for e in of["tidal.opened"]} | set(tidal_min))
    tidal = {"openings": len(of["tidal.opened"]), "closings": len(of["tidal.closed"]),
             "open_min": round(sum(sum(v) for v in tidal_min.values()), 1),
             "by_window": {w: {"openings": sum(e["data"]["window"] == w for e in of["tidal.opened"]),
                               "open_min": round(sum(tidal_min.get(w, [])), 1)} for w in tidal_windows},
             "list": [{"at": e["at"], "window": e["data"]["window"], "services": e["data"]["services"],
                       "reason": e["data"]["reason"]} for e in of["tidal.opened"]]}
    alert_min = spans(evs, "wait.alert", "wait.cleared", "service", end, start)
    alerted = [c for c in codes if any(e["data"]["service"] == c for e in of["wait.alert"])]
    wait_alerts = {"alerts": len(of["wait.alert"]), "alert_min": round(sum(sum(v) for v in alert_min.values()), 1),
                   "by_service": {c: {"alerts": sum(e["data"]["service"] == c for e in of["wait.alert"]),
                                      "alert_min": round(sum(alert_min.get(c, [])), 1)} for c in alerted},
                   "list": [{"at": e["at"], "service": e["data"]["service"], "wait_s": e["data"]["wait_s"],
                             "target_s": e["data"]["target_s"]} for e in of["wait.alert"]]}

    # 好差评
    marks = [e["data"]["rating"] for e in of["ticket.rated"]]
    marks += [e["data"]["rating"] for e in of["ticket.finished"] if e["data"]["rating"]]
    ratings = {"rated": len(marks), "levels": {str(k): marks.count(k) for k in (5, 4, 3, 2, 1)},
               "good_rate": ratio(sum(m >= 3 for m in marks), len(marks)), "bad": sum(m <= 2 for m in marks),
               "rated_share": ratio(len(marks), len(of["ticket.finished"]))}

    # devices and alarms
    alarms_seen: dict[str, dict] = {}
    for e in evs:
        if e["type"] == "alarm.raised":
            alarms_seen.setdefault(e["data"]["id"], e["data"])
        if e["type"] == "alarm.flood":
            for a in e["data"]["new"]:
                alarms_seen.setdefault(a["id"], a)
    acks: dict[str, float] = {}
    for e in of["alarm.acked"]:
        acks.setdefault(e["data"]["id"], (t_(e["data"]["acked_at"]) - t_(e["data"]["raised_at"])).total_seconds())
    ends: dict[str, float] = {}
    for e in evs:
        if e["type"] in ("alarm.cleared", "alarm.resolved"):
            ends.setdefault(e["data"]["id"], (t_(e["at"]) - t_(e["data"]["raised_at"])).total_seconds())
    flood_min = spans([e for e in evs if (e["type"] == "alarm.raised" and e["data"]["type"] == "alarm_flood")
                       or (e["type"] == "alarm.flood" and e["data"]["flooding"] is False)],
                      "alarm.raised", "alarm.flood", "id", end, start)
    per_device = Counter(a["subject"] for a in alarms_seen.values() if a["source"] == "device")
    type_n = Counter(a["type"] for a in alarms_seen.values())
    devices = {"alarms": len(alarms_seen), "by_type": dict(sorted(type_n.items(), key=lambda kv: (-kv[1], kv[0]))),
               "acked": len(acks), "mean_ack_s": round(statistics.fmean(acks.values()), 1) if acks else None,
               "resolved": len(ends), "mean_resolve_s": round(statistics.fmean(ends.values()), 1) if ends else None,
               "top_devices": [{"device": d, "alarms": n} for d, n in sorted(per_device.items(),
                                                                           key=lambda kv: (-kv[1], kv[0]))[:5]],
               "floods": len(flood_min), "flood_min": round(sum(sum(v) for v in flood_min.values()), 1),
               "locker_deposits": len(of["locker.deposited"]), "locker_pickups": len(of["locker.picked_up"])}

    return {"hall": "hn-tja", "hall_name": cfg.name, "start": start.isoformat(), "end": end.isoformat(),
            "events": len(evs), "first_seq": evs[0]["seq"], "last_seq": evs[-1]["seq"], "tickets": tickets,
            "waits": waits, "service_times": service_times, "windows": windows, "posts": posts, "tidal": tidal,
            "wait_alerts": wait_alerts, "ratings": ratings, "devices": devices,
            "followups": {"source": "followup table", "overdue": len(overdue), "list": overdue},
            "date": day.isoformat()}


def overdue_direct(hall: Hall, as_of: datetime) -> list[dict[str, Any]]:
    with hall.server.db.read_engine.connect() as c:
        rows = list(c.execute(select(followup_t).where(followup_t.c.hall_id == "hn-tja")
                              .order_by(followup_t.c.created_ms, followup_t.c.id)))
    out = []
    for r in rows:
        if r.state == "fixed":
            continue
        call_late = r.called_back_ms is None and r.callback_due_ms < ms(as_of)
        fix_late = r.fixed_ms is None and r.fix_due_ms < ms(as_of)
        if call_late or fix_late:
            def iso(v: int) -> str:
                return datetime.fromtimestamp(v / 1000, TZ).isoformat(timespec="seconds")
            out.append({"id": r.id, "ticket": r.number, "service": r.service, "window": r.window, "clerk": r.clerk,
                        "rating": r.rating, "state": r.state, "created_at": iso(r.created_ms),
                        "late": "callback" if call_late else "fix",
                        "due_at": iso(r.callback_due_ms if call_late else r.fix_due_ms)})
    return out


# --------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("day", [DAY1, DAY2])
def test_every_daily_figure_matches_a_direct_computation_from_the_stored_events(recorded, day) -> None:
    evs = stored(recorded["hall"], day)
    end = datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(days=1)
    want = direct(evs, recorded["cfg"], day, overdue_direct(recorded["hall"], end))
    got = report(recorded, day)
    assert set(got) == set(want)
    for family in want:
        assert got[family] == want[family], family


def test_the_recorded_days_have_something_to_count(recorded) -> None:
    """Each family has non-trivial figures on one of the days, so the comparison above means something."""
    d1, d2 = report(recorded, DAY1), report(recorded, DAY2)
    sim1 = recorded["sim"][DAY1]
    assert d1["tickets"]["issued"] == sim1["tickets"] == 296
    assert d1["tidal"]["openings"] > 0 and d1["posts"]["covers"] > 0 and d1["ratings"]["rated"] > 100
    assert d2["wait_alerts"]["alerts"] > 0 and d2["posts"]["vacancies"] > 0
    dv = d1["devices"]
    assert dv["alarms"] == 2 + 12 + 1 and dv["acked"] == 1 and dv["resolved"] >= 2 and dv["floods"] == 1
    assert dv["flood_min"] > 0 and dv["locker_deposits"] == 1 and dv["locker_pickups"] == 1
    assert dv["top_devices"][:3] == [{"device": "kiosk-02", "alarms": 5}, {"device": "printer-02", "alarms": 4},
                                     {"device": "screen-01", "alarms": 3}]
    assert d1["followups"]["overdue"] >= 1 and "fu-late" in [x["id"] for x in d1["followups"]["list"]]
    assert "fu-done" not in [x["id"] for x in d1["followups"]["list"]]


def test_the_events_agree_with_the_simulation_and_the_ticket_table(recorded) -> None:
    """The log and the tables tell the same day: window-hours as the simulator sampled them, waits
    as the ticket rows have them (to the second the envelopes keep)."""
    d1 = report(recorded, DAY1)
    sim1 = recorded["sim"][DAY1]
    assert abs(d1["windows"]["open_h"] - sim1["window_hours"]) <= 0.1
    lo = ms(datetime(2026, 11, 23, tzinfo=TZ))
    with recorded["hall"].server.db.read_engine.connect() as c:
        rows = list(c.execute(select(ticket_t.c.issued_ms, ticket_t.c.called_ms).where(
            ticket_t.c.hall_id == "hn-tja", ticket_t.c.issued_ms >= lo, ticket_t.c.issued_ms < lo + 86_400_000)))
    table_mean = statistics.fmean((r.called_ms - r.issued_ms) / 1000 for r in rows if r.called_ms)
    assert abs(d1["waits"]["all"]["mean_s"] - table_mean) < 1.0
    assert abs(d1["waits"]["all"]["mean_s"] - sim1["mean_wait_s"]) < 1.0


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def render(data: bytes, out: Path, tmp: Path) -> None:
    """Page 1 as PNG with pdftoppm (poppler-utils)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    src = tmp / (out.stem + ".pdf")
    src.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(src),
                    str(tmp / out.stem)], check=True, timeout=60)
    shutil.copyfile(tmp / (out.stem + ".png"), out)


def test_daily_pdf_reads_back_with_the_headline_numbers_and_renders(recorded) -> None:
    f = report(recorded, DAY1)
    data = pdf.daily_pdf(f)
    text = pdf_text(data)
    assert "天长市政务服务中心 运营日报" in text and "2026-11-23" in text
    for label in ("分时段取号", "分业务取号", "好差评分布", "窗口利用率", "B岗代岗", "潮汐", "等待预警", "设备与报警",
                  "逾期的差评回访", "社保", "非常满意"):
        assert label in text, label
    tk, rt = f["tickets"], f["ratings"]
    assert str(tk["issued"]) in text and str(tk["finished"]) in text
    assert pdf.pct(tk["no_show_rate"]) in text and pdf.pct(rt["good_rate"]) in text
    assert pdf.minutes(f["waits"]["all"]["mean_s"]) in text and pdf.minutes(f["waits"]["all"]["p90_s"]) in text
    assert pdf.pct(f["windows"]["utilisation"]) in text
    assert str(rt["levels"]["5"]) in text
    assert "fu-late" not in text and "回访逾期" in text  # the ticket number and what is late, not ids
    render(data, DOCS / "report-daily.png", recorded["tmp"])


def test_monthly_summary_by_day_reads_back_and_renders(recorded) -> None:
    cfg = recorded["cfg"]
    events, followups = recorded["hall"].server.db.read_sync(source.monthly_input, cfg, 2026, 11)
    m = figures.monthly_figures(events, cfg, 2026, 11, followups=followups)
    assert len(m["days"]) == 30 and all(len(t["rows"]) == 30 for t in m["tables"].values())
    by_date = {d["date"]: d for d in m["days"]}
    assert by_date["2026-11-23"] == {k: v for k, v in report(recorded, DAY1).items() if k != "followups"}
    for fam, table in m["tables"].items():
        for row in table["rows"]:
            day = by_date[row[0]]
            assert row[1:] == [figures.pick(day, k) for k in table["columns"]], fam
    assert m["total"]["tickets"]["issued"] == sum(d["tickets"]["issued"] for d in m["days"])
    assert m["total"]["devices"]["alarms"] == sum(d["devices"]["alarms"] for d in m["days"])
    data = pdf.monthly_pdf(m)
    text = pdf_text(data)
    assert "运营月报" in text and "2026-11" in text and "每日取号" in text
    for heading in figures.MONTH_FAMILY_ZH.values():
        assert heading in text
    assert str(m["total"]["tickets"]["issued"]) in text
    render(data, DOCS / "report-monthly.png", recorded["tmp"])


def test_csv_and_json_agree_with_the_figures(recorded) -> None:
    f = report(recorded, DAY1)
    assert json.loads(export.to_json(f)) == f
    rows = list(csv.reader(io.StringIO(export.daily_csv(f))))
    assert rows[0] == ["date", "figure", "value"]
    flat = {k: export.cell(v) for k, v in export.flatten(f) if k not in ("hall", "hall_name", "date")}
    assert {r[1]: r[2] for r in rows[1:]} == flat and len(rows) - 1 == len(flat)
    assert all(r[0] == "2026-11-23" for r in rows[1:])
    got = {r[1]: r[2] for r in rows[1:]}
    assert got["tickets.issued"] == str(f["tickets"]["issued"])
    assert got["waits.by_service.SB.p90_s"] == str(f["waits"]["by_service"]["SB"]["p90_s"])
    assert got["tickets.by_hour.09"] == str(f["tickets"]["by_hour"][9])
    assert got["ratings.levels.1"] == str(f["ratings"]["levels"]["1"])


def test_api_downloads_by_role(recorded) -> None:
    hall = recorded["hall"]
    base = "/api/v1/halls/hn-tja/reports"
    with TestClient(hall.app) as client:
        assert client.get(f"{base}/daily", params={"date": "2026-11-23"}).status_code == 401
        for user in ("clerk01", "duty01"):
            r = client.get(f"{base}/daily", params={"date": "2026-11-23"}, headers=login(client, user))
            assert r.status_code == 403 and r.json()["error"] == "role"
        mgr = login(client, "manager01")
        r = client.get(f"{base}/daily", params={"date": "2026-11-23", "format": "json"}, headers=mgr)
        assert r.status_code == 200, r.text
        assert r.json() == report(recorded, DAY1)
        r = client.get(f"{base}/daily", params={"date": "2026-11-23", "format": "csv"}, headers=mgr)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.text == export.daily_csv(report(recorded, DAY1))
        r = client.get(f"{base}/daily", params={"date": "2026-11-23"}, headers=login(client, "admin01"))
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert "运营日报" in pdf_text(r.content)
        r = client.get(f"{base}/monthly", params={"month": "2026-11", "format": "json"}, headers=mgr)
        assert r.status_code == 200 and r.json()["total"]["tickets"]["issued"] > 296
        assert client.get(f"{base}/monthly", params={"month": "2026-11"}, headers=mgr).content[:5] == b"%PDF-"
        for params in ({"date": "2026-13-01"}, {"date": "2026-11-23", "format": "xls"}):
            r = client.get(f"{base}/daily", params=params, headers=mgr)
            assert r.status_code == 400, params
        assert client.get(f"{base}/monthly", params={"month": "2026-1x"}, headers=mgr).status_code == 400


def test_cli_writes_pdf_csv_and_json(recorded, tmp_path: Path) -> None:
    env = {"HALL_DATABASE_URL": recorded["url"], "HALL_DATA_DIR": str(recorded["tmp"]), "HALL_SECRET": "test-secret",
           "PATH": "/usr/bin:/bin"}
    out = tmp_path / "d.pdf"
    r = subprocess.run([sys.executable, "-m", "hall.cli", "report", "daily", "--hall", "hn-tja", "--date",
                        "2026-11-23", "--out", str(out), "--csv", str(tmp_path / "d.csv"), "--json",
                        str(tmp_path / "d.json")], capture_output=True, text=True, env=env, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8")) == report(recorded, DAY1)
    assert (tmp_path / "d.csv").read_text(encoding="utf-8") == export.daily_csv(report(recorded, DAY1))
    assert "运营日报" in pdf_text(out.read_bytes())
    r = subprocess.run([sys.executable, "-m", "hall.cli", "report", "monthly", "--hall", "hn-tja", "--month",
                        "2026-11", "--csv", str(tmp_path / "m.csv")], capture_output=True, text=True, env=env,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader((tmp_path / "m.csv").open(encoding="utf-8")))
    assert {r[0] for r in rows[1:]} == {f"2026-11-{d:02d}" for d in range(1, 31)} | {"2026-11"}
    r = subprocess.run([sys.executable, "-m", "hall.cli", "report", "daily", "--hall", "nope", "--date", "2026-11-23"],
                       capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "unknown hall" in r.stderr
