"""The report figures (hall.reports.figures) on tiny hand-made event lists."""

from __future__ import annotations

from datetime import date
from typing import Any

from hall.hallconfig import default_config_path, load_hall_config
from hall.reports import export
from hall.reports.figures import daily_figures, monthly_figures, percentile, stats

CFG = load_hall_config(default_config_path())
DAY = date(2026, 11, 23)


class Log:
    """Envelopes as the stream carries them, seq counting up."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, hhmm: str, type_: str, day: str = "2026-11-23", **data: Any) -> None:
        self.events.append({"seq": len(self.events) + 1, "type": type_, "at": f"{day}T{hhmm}+08:00",
                            "hall": "hn-tja", "data": data})


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5], 0.9) == 5
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile(list(range(1, 12)), 0.9) == 10
    assert stats([]) == {"n": 0, "mean_s": None, "p90_s": None, "max_s": None}
    assert stats([60, 120, 300]) == {"n": 3, "mean_s": 160.0, "p90_s": 300.0, "max_s": 300.0}


def test_tickets_waits_service_times_and_ratings() -> None:
    log = Log()
    log.add("08:59:50", "ticket.issued", day="2026-11-22", ticket_id="old", service="SB")  # another day
    log.add("09:00:00", "ticket.issued", ticket_id="t1", service="SB")
    log.add("09:10:00", "ticket.issued", ticket_id="t2", service="SB")
    log.add("10:05:00", "ticket.issued", ticket_id="t3", service="YB")
    log.add("09:02:00", "ticket.called", ticket_id="t1", service="SB", recall=0)
    log.add("09:03:00", "ticket.called", ticket_id="t1", service="SB", recall=1)  # a recall is no new call
    log.add("09:03:30", "ticket.no_show", ticket_id="t1", service="SB")
    log.add("09:15:00", "ticket.called", ticket_id="t2", service="SB", recall=0)
    log.add("09:25:00", "ticket.finished", ticket_id="t2", service="SB", service_s=540, rating=None)
    log.add("09:26:00", "ticket.rated", ticket_id="t2", service="SB", rating=2, level="不满意")
    log.add("10:06:00", "ticket.called", ticket_id="t3", service="YB", recall=0)
    log.add("10:07:00", "ticket.transferred", ticket_id="t3", service="SB", from_service="YB")
    log.add("10:20:00", "ticket.called", ticket_id="t3", service="SB", recall=0)  # called again after transfer
    log.add("10:30:00", "ticket.finished", ticket_id="t3", service="SB", service_s=600, rating=5)
    f = daily_figures(log.events, CFG, DAY)
    t = f["tickets"]
    assert (t["issued"], t["called"], t["finished"], t["no_show"], t["transferred"]) == (3, 3, 2, 1, 1)
    assert t["no_show_rate"] == round(1 / 3, 4) and t["transfer_rate"] == round(1 / 3, 4)
    assert t["by_hour"][9] == 2 and t["by_hour"][10] == 1 and sum(t["by_hour"]) == 3
    assert t["by_service"]["SB"]["issued"] == 2 and t["by_service"]["YB"]["transferred"] == 1
    assert t["by_service"]["SB"]["finished"] == 2  # finished in the service it ended in
    # waits: issue to the first call, in the service issued for
    assert f["waits"]["by_service"]["SB"] == {"n": 2, "mean_s": 210.0, "p90_s": 300.0, "max_s": 300.0}
    assert f["waits"]["by_service"]["YB"]["mean_s"] == 60.0 and f["waits"]["all"]["n"] == 3
    assert f["service_times"]["by_service"]["SB"] == {"n": 2, "mean_s": 570.0, "p90_s": 600.0, "max_s": 600.0}
    r = f["ratings"]
    assert r["levels"] == {"5": 1, "4": 0, "3": 0, "2": 1, "1": 0}
    assert (r["rated"], r["bad"], r["good_rate"], r["rated_share"]) == (2, 1, 0.5, 1.0)
    assert f["events"] == len(log.events) - 1 and f["first_seq"] == 2


def test_window_utilisation_from_window_states() -> None:
    log = Log()
    log.add("09:00:00", "window.state", window="1", state="idle")
    log.add("09:30:00", "window.state", window="1", state="calling")
    log.add("09:31:00", "window.state", window="1", state="serving")
    log.add("10:00:00", "window.state", window="1", state="idle")
    log.add("11:00:00", "window.state", window="1", state="closed")
    log.add("23:00:00", "window.state", window="2", state="serving")  # still serving at midnight
    f = daily_figures(log.events, CFG, DAY)
    w1, w2 = f["windows"]["by_window"]["1"], f["windows"]["by_window"]["2"]
    assert (w1["open_h"], w1["busy_h"], w1["utilisation"]) == (2.0, 0.5, 0.25)
    assert (w2["open_h"], w2["busy_h"], w2["utilisation"]) == (1.0, 1.0, 1.0)
    assert f["windows"]["by_window"]["3"]["utilisation"] is None
    assert f["windows"]["open_h"] == 3.0 and f["windows"]["utilisation"] == 0.5
    # today's report counts up to now
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime(2026, 11, 23, 9, 45, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert daily_figures(log.events, CFG, DAY, now=now)["windows"]["by_window"]["1"]["open_h"] == 0.75


def test_posts_tidal_and_wait_alerts() -> None:
    log = Log()
    log.add("09:00:00", "post.away", window="1", clerk="clerk01")
    log.add("09:00:00", "post.cover_needed", window="1", a="clerk01", b="clerk07")
    log.add("09:04:00", "post.covered", window="1", by="clerk07", role="b")
    log.add("09:40:00", "post.covered", window="1", by="clerk01", role="a")
    log.add("10:00:00", "post.vacant", window="2", minutes=30)
    log.add("10:12:00", "post.vacancy_cleared", window="2")
    log.add("11:00:00", "tidal.opened", window="7", services=["BDC"], reason="r")
    log.add("11:45:00", "tidal.closed", window="7", reason="calm")
    log.add("16:30:00", "tidal.opened", window="8", services=["SB", "YB"], reason="r2")  # open to midnight
    log.add("11:00:00", "wait.alert", service="SB", wait_s=1300, target_s=1200)
    log.add("11:20:00", "wait.cleared", service="SB")
    f = daily_figures(log.events, CFG, DAY)
    p = f["posts"]
    assert (p["away"], p["cover_needed"], p["covers"], p["returns"], p["vacancies"]) == (1, 1, 1, 1, 1)
    assert p["longest_vacancy_min"] == 42.0
    assert p["vacancy_list"] == [{"window": "2", "at": "2026-11-23T10:00:00+08:00", "minutes": 42.0}]
    td = f["tidal"]
    assert (td["openings"], td["closings"], td["open_min"]) == (2, 1, 45.0 + 450.0)
    assert td["by_window"] == {"7": {"openings": 1, "open_min": 45.0}, "8": {"openings": 1, "open_min": 450.0}}
    assert td["list"][1]["services"] == ["SB", "YB"]
    wa = f["wait_alerts"]
    assert (wa["alerts"], wa["alert_min"]) == (1, 20.0)
    assert wa["by_service"] == {"SB": {"alerts": 1, "alert_min": 20.0}}


def alarm(aid: str, type_: str, raised: str, *, subject: str = "kiosk-01", source: str = "device",
          acked: str | None = None) -> dict[str, Any]:
    return {"id": aid, "source": source, "subject": subject, "type": type_, "raised_at": f"2026-11-23T{raised}+08:00",
            "acked_at": f"2026-11-23T{acked}+08:00" if acked else None}


def test_alarms_floods_and_lockers() -> None:
    log = Log()
    log.add("01:00:00", "alarm.raised", **alarm("a1", "paper_low", "01:00:00"))
    log.add("01:02:00", "alarm.acked", **alarm("a1", "paper_low", "01:00:00", acked="01:02:00"))
    log.add("01:10:00", "alarm.resolved", **alarm("a1", "paper_low", "01:00:00", acked="01:02:00"))
    log.add("02:00:00", "alarm.raised", **alarm("a2", "offline", "02:00:00", subject="kiosk-02"))
    log.add("02:04:00", "alarm.cleared", **alarm("a2", "offline", "02:00:00", subject="kiosk-02"))
    log.add("02:05:00", "alarm.raised", **alarm("a2", "offline", "02:00:00", subject="kiosk-02"))  # again
    log.add("03:00:00", "alarm.raised", **alarm("f1", "alarm_flood", "03:00:00", subject="hn-tja", source="hall"))
    log.add("03:00:05", "alarm.flood", **alarm("f1", "alarm_flood", "03:00:00", subject="hn-tja", source="hall"),
            flooding=True, new=[alarm("a3", "fault", "03:00:00"), alarm("a4", "jam", "03:00:01")])
    log.add("03:30:00", "alarm.flood", **alarm("f1", "alarm_flood", "03:00:00", subject="hn-tja", source="hall"),
            flooding=False, new=[])
    log.add("04:00:00", "locker.deposited", device="locker-01", slot=1, deposit="d1")
    log.add("05:00:00", "locker.picked_up", device="locker-01", slot=1, deposit="d1")
    d = daily_figures(log.events, CFG, DAY)["devices"]
    assert d["alarms"] == 5  # a1, a2 (once), f1, a3, a4
    assert d["by_type"] == {"alarm_flood": 1, "fault": 1, "jam": 1, "offline": 1, "paper_low": 1}
    assert (d["acked"], d["mean_ack_s"]) == (1, 120.0)
    assert (d["resolved"], d["mean_resolve_s"]) == (2, (600 + 240) / 2)
    assert d["top_devices"] == [{"device": "kiosk-01", "alarms": 3}, {"device": "kiosk-02", "alarms": 1}]
    assert (d["floods"], d["flood_min"]) == (1, 30.0)
    assert (d["locker_deposits"], d["locker_pickups"]) == (1, 1)


def test_followups_are_passed_through_and_marked_as_a_table_read() -> None:
    f = daily_figures([], CFG, DAY, followups=[{"id": "x", "late": "callback"}])
    assert f["followups"] == {"source": "followup table", "overdue": 1, "list": [{"id": "x", "late": "callback"}]}
    assert "followups" not in daily_figures([], CFG, DAY)
    assert f["tickets"]["issued"] == 0 and f["waits"]["all"]["mean_s"] is None and f["first_seq"] is None


def test_month_by_day_and_the_csv() -> None:
    log = Log()
    log.add("09:00:00", "ticket.issued", ticket_id="t1", service="SB")
    log.add("09:00:00", "ticket.issued", day="2026-11-24", ticket_id="t2", service="SB")
    log.add("09:00:00", "ticket.issued", day="2026-11-24", ticket_id="t3", service="HJ")
    m = monthly_figures(log.events, CFG, 2026, 11)
    assert m["month"] == "2026-11" and len(m["days"]) == 30
    rows = {r[0]: r for r in m["tables"]["tickets"]["rows"]}
    assert m["tables"]["tickets"]["columns"][0] == "tickets.issued"
    assert rows["2026-11-23"][1] == 1 and rows["2026-11-24"][1] == 2 and rows["2026-11-01"][1] == 0
    assert m["total"]["tickets"]["issued"] == 3
    assert len(monthly_figures([], CFG, 2024, 2)["days"]) == 29 and monthly_figures([], CFG, 2026, 12)["days"]
    lines = export.monthly_csv(m).splitlines()
    assert lines[0] == "date,figure,value"
    assert "2026-11-24,tickets.issued,2" in lines and "2026-11,tickets.issued,3" in lines
    assert "2026-11-23,tickets.by_hour.09,1" in lines and "2026-11-23,waits.all.mean_s," in lines
