"""The daily operations report (运营日报) and the monthly summary (运营月报) as A4 PDF.

Pure: the figures of ``hall.reports.figures`` in, PDF bytes out. Chinese is set in the embedded
TrueType CJK font of the ticket slip (``hall.slip.cjk_font``); the charts are reportlab graphics
(tickets by hour, tickets by service, the 好差评 distribution; tickets by day in the month).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer

from hall.labels import ALARM_ZH
from hall.reports.figures import LEVELS, MONTH_COLUMNS, MONTH_FAMILY_ZH, pick
from hall.shift_pdf import MARGIN, WIDTH, _figures, _p, _styles, _table
from hall.slip import cjk_font

DAILY_TITLE = "运营日报"
MONTHLY_TITLE = "运营月报"
BAR = colors.HexColor("#2f6fb0")
LATE_ZH = {"callback": "回访逾期", "fix": "整改逾期"}


def num(v: Any, nd: int = 1) -> str:
    """A figure as printed: — for none, integers as they are, others rounded."""
    if v is None:
        return "—"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{nd}f}"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def nice_step(top: float) -> int:
    """An axis step of 1, 2 or 5 times a power of ten giving about five ticks up to ``top``."""
    step = 1
    while top / step > 6:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return step


def _bar(values: Sequence[float], names: Sequence[str], font: str, title: str, *, width: float = WIDTH,
         height: float = 52 * mm, horizontal: bool = False) -> Drawing:
    d = Drawing(width, height)
    c = HorizontalBarChart() if horizontal else VerticalBarChart()
    c.x, c.y = (22 * mm, 6 * mm) if horizontal else (12 * mm, 10 * mm)
    c.width, c.height = width - c.x - 6 * mm, height - c.y - 9 * mm
    c.data = [list(values) or [0]]
    c.categoryAxis.categoryNames = list(names) or [""]
    for axis in (c.categoryAxis, c.valueAxis):
        axis.labels.fontName = font
        axis.labels.fontSize = 7
    c.valueAxis.valueMin = 0
    step = nice_step(max(values, default=0))
    c.valueAxis.valueStep = step
    c.valueAxis.valueMax = step * (int(max(values, default=0) * 1.1 // step) + 1)
    c.bars[0].fillColor = BAR
    c.bars[0].strokeColor = None
    c.barLabelFormat = "%d"
    c.barLabels.fontName = font
    c.barLabels.fontSize = 6.5
    c.barLabels.nudge = 5
    d.add(c)
    d.add(String(0, height - 6 * mm, title, fontName=font, fontSize=9))
    return d


def _footer(font: str, label: str) -> Any:
    def draw(c: Canvas, d: Any) -> None:
        c.saveState()
        c.setFont(font, 8)
        c.setFillColor(colors.HexColor("#555555"))
        c.drawString(MARGIN, MARGIN / 2, label)
        c.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"第 {d.page} 页")
        c.restoreState()

    return draw


def _build(story: list[Flowable], title: str, subject: str, font: str, label: str) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN, title=title, subject=subject, author="hall", creator="hall",
                            invariant=1, pageCompression=1, lang="zh-CN")
    footer = _footer(font, label)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def _service_rows(f: Mapping[str, Any]) -> list[list[Any]]:
    t, w, s = f["tickets"]["by_service"], f["waits"]["by_service"], f["service_times"]["by_service"]
    rows: list[list[Any]] = [["业务", "取号", "办结", "过号", "转出", "平均等候(分)", "P90等候(分)", "最长等候(分)",
                              "平均办理(分)", "P90办理(分)"]]
    for code, v in t.items():
        rows.append([f"{v['name']}({code})", v["issued"], v["finished"], v["no_show"], v["transferred"],
                     minutes(w[code]["mean_s"]), minutes(w[code]["p90_s"]), minutes(w[code]["max_s"]),
                     minutes(s[code]["mean_s"]), minutes(s[code]["p90_s"])])
    wa, sa = f["waits"]["all"], f["service_times"]["all"]
    tk = f["tickets"]
    rows.append(["合计", tk["issued"], tk["finished"], tk["no_show"], tk["transferred"], minutes(wa["mean_s"]),
                 minutes(wa["p90_s"]), minutes(wa["max_s"]), minutes(sa["mean_s"]), minutes(sa["p90_s"])])
    return rows


def daily_pdf(f: Mapping[str, Any]) -> bytes:
    """The daily operations report of one day's figures (``hall.reports.figures.daily_figures``)."""
    font = cjk_font()
    st = _styles(font)
    tk, wa, wn, po, td, al, rt, dv = (f["tickets"], f["waits"]["all"], f["windows"], f["posts"], f["tidal"],
                                      f["wait_alerts"], f["ratings"], f["devices"])
    story: list[Flowable] = [
        _p(f"{f['hall_name']} {DAILY_TITLE}", st["title"]),
        _p(f"{f['date']}　（依据事件日志 {f['events']} 条，序号 {f['first_seq'] or '—'}–{f['last_seq'] or '—'}）",
           st["hall"]),
        _p("一、取号与办理", st["h"]),
        _figures([("取号", tk["issued"]), ("叫号", tk["called"]), ("办结", tk["finished"]),
                  ("过号率", f"{pct(tk['no_show_rate'])}（{tk['no_show']}）"),
                  ("转办率", f"{pct(tk['transfer_rate'])}（{tk['transferred']}）"),
                  ("平均等候(分)", minutes(wa["mean_s"])), ("P90等候(分)", minutes(wa["p90_s"])),
                  ("最长等候(分)", minutes(wa["max_s"]))], st),
        Spacer(1, 2 * mm),
    ]
    hours = [h for h in range(24) if tk["by_hour"][h]] or [8]
    lo, hi = min(hours), max(hours)
    story.append(_bar([tk["by_hour"][h] for h in range(lo, hi + 1)], [f"{h:02d}" for h in range(lo, hi + 1)], font,
                      "分时段取号（张）"))
    svc = tk["by_service"]
    story.append(_bar([v["issued"] for v in svc.values()][::-1], [v["name"] for v in svc.values()][::-1], font,
                      "分业务取号（张）", height=max(40 * mm, 8 * mm * len(svc) + 14 * mm), horizontal=True))
    widths = [30 * mm, 12 * mm, 12 * mm, 12 * mm, 12 * mm]
    story.append(_table(_service_rows(f), [*widths, *[(WIDTH - sum(widths)) / 5] * 5], st))

    story.append(_p("二、窗口、AB岗与潮汐窗口", st["h"]))
    story.append(_figures([("窗口开放(时)", num(wn["open_h"], 2)), ("服务中(时)", num(wn["busy_h"], 2)),
                           ("窗口利用率", pct(wn["utilisation"])), ("离岗", po["away"]), ("B岗代岗", po["covers"]),
                           ("空岗", po["vacancies"]), ("最长空岗(分)", num(po["longest_vacancy_min"])),
                           ("潮汐开窗", td["openings"])], st))
    rows: list[list[Any]] = [["窗口", "开放(时)", "服务中(时)", "利用率", "窗口", "开放(时)", "服务中(时)", "利用率"]]
    items = [(v["name"], num(v["open_h"], 2), num(v["busy_h"], 2), pct(v["utilisation"]))
             for v in wn["by_window"].values()]
    half = (len(items) + 1) // 2
    for i in range(half):
        right = items[half + i] if half + i < len(items) else ("", "", "", "")
        rows.append([*items[i], *right])
    story += [Spacer(1, 2 * mm), _table(rows, [WIDTH / 8] * 8, st)]
    if po["vacancy_list"]:
        story += [Spacer(1, 2 * mm), _p("空岗：" + "；".join(
            f"{v['at'][11:16]} {v['window']}号窗口 {num(v['minutes'])}分钟" for v in po["vacancy_list"]), st["muted"])]
    if td["list"]:
        story += [Spacer(1, 2 * mm), _p(f"潮汐窗口开放 {td['openings']} 次、共 {num(td['open_min'])} 分钟：" + "；".join(
            f"{o['at'][11:16]} {o['window']}号窗口（{'、'.join(o['services'])}）" for o in td["list"]), st["muted"])]
    story += [Spacer(1, 2 * mm), _p(f"等待预警 {al['alerts']} 次，共 {num(al['alert_min'])} 分钟" + (
        "：" + "；".join(f"{k} {v['alerts']}次/{num(v['alert_min'])}分" for k, v in al["by_service"].items())
        if al["by_service"] else "。"), st["muted"])]

    story.append(_p("三、好差评", st["h"]))
    levels = [(LEVELS[int(k)], n) for k, n in rt["levels"].items()]
    story.append(_figures([*levels, ("评价数", rt["rated"]), ("满意率", pct(rt["good_rate"])),
                           ("参评率", pct(rt["rated_share"]))], st))
    story.append(_bar([n for _, n in levels], [name for name, _ in levels], font, "好差评分布（条）",
                      height=46 * mm))

    story.append(_p("四、设备与报警", st["h"]))
    story.append(_figures([("报警", dv["alarms"]), ("已确认", dv["acked"]), ("平均确认(分)", minutes(dv["mean_ack_s"])),
                           ("已恢复/关闭", dv["resolved"]), ("平均恢复(分)", minutes(dv["mean_resolve_s"])),
                           ("报警泛滥(分)", num(dv["flood_min"])), ("智能柜存件", dv["locker_deposits"]),
                           ("智能柜取件", dv["locker_pickups"])], st))
    if dv["by_type"]:
        story += [Spacer(1, 2 * mm), _p("报警按类型：" + "；".join(
            f"{ALARM_ZH.get(k, k)} {n}" for k, n in dv["by_type"].items()), st["muted"])]
    if dv["top_devices"]:
        story += [_p("报警最多的设备：" + "；".join(f"{d['device']} {d['alarms']}" for d in dv["top_devices"]),
                     st["muted"])]

    fu = f.get("followups")
    if fu is not None:
        story.append(_p(f"五、逾期的差评回访（{fu['overdue']} 条）", st["h"]))
        if fu["list"]:
            rows = [["票号", "业务", "窗口", "评价", "产生时间", "逾期", "应完成"]]
            rows += [[x["ticket"], x["service"], x["window"] or "—", LEVELS.get(x["rating"], x["rating"]),
                      (x["created_at"] or "")[5:16].replace("T", " "), LATE_ZH.get(x["late"], x["late"]),
                      (x["due_at"] or "")[5:16].replace("T", " ")] for x in fu["list"]]
            story.append(_table(rows, [WIDTH / 7] * 7, st))
        else:
            story.append(_p("无。", st["p"]))
    return _build(story, f"{f['hall_name']} {DAILY_TITLE} {f['date']}", f["date"], font,
                  f"{f['hall_name']} · {DAILY_TITLE} {f['date']}")


def _month_cell(key: str, v: Any) -> str:
    if key.endswith("_rate") or key.endswith("utilisation"):
        return pct(v)
    return num(v)


def monthly_pdf(m: Mapping[str, Any]) -> bytes:
    """The monthly summary: the month's totals, tickets by day, and a table per figure family with
    one row per day (``hall.reports.figures.monthly_figures``)."""
    font = cjk_font()
    st = _styles(font)
    st["cell"].fontSize, st["cell"].leading = 7.5, 9.5
    t = m["total"]
    tk, rt, dv = t["tickets"], t["ratings"], t["devices"]
    story: list[Flowable] = [
        _p(f"{m['hall_name']} {MONTHLY_TITLE}", st["title"]),
        _p(f"{m['month']}　（依据事件日志 {t['events']} 条）", st["hall"]),
        _figures([("取号", tk["issued"]), ("办结", tk["finished"]), ("过号率", pct(tk["no_show_rate"])),
                  ("平均等候(分)", minutes(t["waits"]["all"]["mean_s"])), ("P90等候(分)", minutes(t["waits"]["all"]["p90_s"])),
                  ("满意率", pct(rt["good_rate"])), ("空岗", t["posts"]["vacancies"]), ("报警", dv["alarms"])], st),
        Spacer(1, 2 * mm),
        _bar([d["tickets"]["issued"] for d in m["days"]], [d["date"][8:] for d in m["days"]], font, "每日取号（张）"),
    ]
    labels = {fam: dict(cols) for fam, cols in MONTH_COLUMNS.items()}
    for i, (fam, table) in enumerate(m["tables"].items(), start=1):
        heads = ["日期", *(labels[fam][k] for k in table["columns"])]
        rows: list[list[Any]] = [heads]
        rows += [[r[0][5:], *(_month_cell(k, v) for k, v in zip(table["columns"], r[1:], strict=True))]
                 for r in table["rows"]]
        rows.append(["合计", *(_month_cell(k, pick(t, k)) for k in table["columns"])])
        story += [_p(f"{'一二三四五六七'[i - 1]}、{MONTH_FAMILY_ZH[fam]}（按日）", st["h"]),
                  _table(rows, [16 * mm, *[(WIDTH - 16 * mm) / (len(heads) - 1)] * (len(heads) - 1)], st)]
    fu = t.get("followups")
    if fu is not None:
        story.append(_p(f"逾期的差评回访：{fu['overdue']} 条（截至月末）", st["muted"]))
    return _build(story, f"{m['hall_name']} {MONTHLY_TITLE} {m['month']}", m["month"], font,
                  f"{m['hall_name']} · {MONTHLY_TITLE} {m['month']}")

