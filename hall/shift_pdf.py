"""The shift handover sheet (值班交接班记录): an A4 PDF the duty officer prints and both officers sign.

Pure: plain data in (the summary of ``hall.shift.summarize``, the hall's name, the officer, the
period), PDF bytes out. Chinese is set in the same embedded TrueType CJK font as the ticket slip
(``hall.slip.cjk_font``: Debian ``fonts-wqy-zenhei`` when installed, else reportlab's
``STSong-Light``, which embeds nothing). Staff names and notes only: no visitor's data is in it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from hall.labels import ALARM_STATE_ZH as STATE_ZH
from hall.labels import ALARM_ZH, COMMAND_STATE_ZH, COMMAND_ZH, SEVERITY_ZH, SOURCE_ZH
from hall.slip import cjk_font

TITLE = "值班交接班记录"
MARGIN = 16 * mm
WIDTH = A4[0] - 2 * MARGIN
GRID = colors.HexColor("#888888")
HEAD_BG = colors.HexColor("#e8e8e8")


@dataclass(frozen=True)
class HandoverData:
    hall_name: str
    officer: str  # the display name of who prints it (交班人)
    summary: Mapping[str, Any]  # hall.shift.summarize's answer (since and until included)
    printed_at: str  # ISO 8601, hall local time


def when(iso: str | None, *, short: bool = False) -> str:
    """An ISO time as the sheet prints it: ``2026-11-23 09:30`` (``short``: ``11-23 09:30``, in tables)."""
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=13, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, alignment=1, spaceAfter=2),
        "hall": ParagraphStyle("hall", parent=base, fontSize=12, leading=16, alignment=1, spaceAfter=6),
        "h": ParagraphStyle("h", parent=base, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4),
        "p": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=12),
        "muted": ParagraphStyle("muted", parent=base, textColor=colors.HexColor("#555555")),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _table(rows: Sequence[Sequence[Any]], widths: Sequence[float], st: dict[str, ParagraphStyle], *,
           head: bool = True, heights: Sequence[float] | None = None) -> Table:
    cells = [[c if isinstance(c, Flowable) else _p(c, st["cell"]) for c in row] for row in rows]
    t = Table(cells, colWidths=list(widths), rowHeights=list(heights) if heights else None,
              repeatRows=1 if head else 0, hAlign="LEFT")
    style = [("GRID", (0, 0), (-1, -1), 0.5, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    if head:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEAD_BG))
    t.setStyle(TableStyle(style))
    return t


def _figures(pairs: Sequence[tuple[str, Any]], st: dict[str, ParagraphStyle]) -> Table:
    """Label / figure pairs in one row of a two-line table."""
    return _table([[k for k, _ in pairs], [v for _, v in pairs]], [WIDTH / len(pairs)] * len(pairs), st)


def _alarm_rows(open_alarms: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = [["级别", "类型", "对象", "状态", "发生时间", "次数", "处理人"]]
    for a in open_alarms:
        subject = f"{SOURCE_ZH.get(a['source'], a['source'])} {a['subject']}"
        handler = a.get("assignee") or a.get("acked_by") or "—"
        rows.append([SEVERITY_ZH.get(a["severity"], a["severity"]), ALARM_ZH.get(a["type"], a["type"]), subject,
                     STATE_ZH.get(a["state"], a["state"]), when(a["raised_at"], short=True), a["count"], handler])
    return rows


def _command_rows(failed: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = [["时间", "设备", "指令", "结果", "操作人"]]
    for c in failed:
        rows.append([when(c["created_at"], short=True), c["device"], COMMAND_ZH.get(c["name"], c["name"]),
                     COMMAND_STATE_ZH.get(c["state"], c["state"]), c.get("by") or "系统"])
    return rows


def _story(data: HandoverData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    s = data.summary
    al, cmd, lk, tk = s["alarms"], s["commands"], s["lockers"], s["tickets"]
    story: list[Flowable] = [
        _p(TITLE, st["title"]),
        _p(data.hall_name, st["hall"]),
        _table([["交接时段", f"{when(s['since'])} 至 {when(s['until'])}"],
                ["值班人员", data.officer],
                ["打印时间", when(data.printed_at)]], [28 * mm, WIDTH - 28 * mm], st, head=False),
    ]

    story += [_p("一、报警", st["h"]),
              _figures([("新发生", al["raised"]), ("已确认", al["acknowledged"]), ("已恢复", al["cleared"]),
                        ("手动关闭", al["resolved"]), ("升级", al.get("escalated", 0)), ("仍未关闭", al["still_open"])],
                       st)]
    severities = [(SEVERITY_ZH.get(k, k), v) for k, v in al["by_severity"].items()]
    if severities:
        story += [Spacer(1, 2 * mm), _p("新发生报警按级别：", st["muted"]), _figures(severities, st)]
    if al["by_type"]:
        types = "；".join(f"{ALARM_ZH.get(k, k)} {v}" for k, v in al["by_type"].items())
        story += [Spacer(1, 2 * mm), _p(f"新发生报警按类型：{types}", st["muted"])]

    story.append(_p(f"二、未关闭的报警（共 {al['still_open']} 条）", st["h"]))
    if al["open"]:
        widths = [14 * mm, 34 * mm, 38 * mm, 24 * mm, 24 * mm, 12 * mm]
        story.append(_table(_alarm_rows(al["open"]), [*widths, WIDTH - sum(widths)], st))
        if al["still_open"] > len(al["open"]):
            story.append(_p(f"另有 {al['still_open'] - len(al['open'])} 条未列出，请在值班台查看。", st["muted"]))
    else:
        story.append(_p("无。", st["p"]))

    story.append(_p(f"三、设备指令（共 {cmd.get('total', sum(cmd['by_state'].values()))} 条）", st["h"]))
    states = [(COMMAND_STATE_ZH.get(k, k), v) for k, v in cmd["by_state"].items() if v]
    story.append(_figures(states, st) if states else _p("本时段无设备指令。", st["p"]))
    if cmd["failed"]:
        story += [Spacer(1, 2 * mm), _p("未成功的指令：", st["muted"]),
                  _table(_command_rows(cmd["failed"]), [26 * mm, 44 * mm, 28 * mm, 28 * mm, WIDTH - 126 * mm], st)]

    story += [_p("四、智能柜（亮码取件）", st["h"]),
              _figures([("存件", lk["deposits"]), ("取件", lk["picked_up"]), ("开门失败", lk["failed"]),
                        ("物品缺失", lk["missing"]), ("输错锁定", lk["locked_out"]),
                        ("待取件", lk.get("pending_pickup", 0))], st)]
    story += [_p("五、取号与办件", st["h"]),
              _figures([("取号", tk["issued"]), ("办结", tk["finished"]), ("过号", tk.get("no_show", 0)),
                        ("当前等候", tk["waiting_now"])], st)]

    story.append(_p("六、交接班事项", st["h"]))
    notes = list(reversed(s["notes"]))  # oldest first on paper, as they were written
    if notes:
        rows: list[list[Any]] = [["时间", "记录人", "内容"]]
        rows += [[when(n["at"], short=True), n.get("author_name") or n["author"], n["text"]] for n in notes]
        story.append(_table(rows, [24 * mm, 30 * mm, WIDTH - 54 * mm], st))
    else:
        story.append(_p("无。", st["p"]))

    signatures = _table([["交班人（签字）：", "", "接班人（签字）：", ""], ["交接时间：", "", "", ""]],
                        [30 * mm, WIDTH / 2 - 30 * mm, 30 * mm, WIDTH / 2 - 30 * mm], st, head=False,
                        heights=[12 * mm, 12 * mm])
    signatures.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("SPAN", (1, 1), (3, 1))]))
    story += [Spacer(1, 10 * mm), signatures]
    return story


def handover_pdf(data: HandoverData) -> bytes:
    """The handover sheet as A4 PDF bytes (as many pages as it needs, numbered)."""
    font = cjk_font()
    st = _styles(font)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN, title=f"{data.hall_name} {TITLE}", author=data.officer,
                            subject=f"{when(data.summary['since'])} 至 {when(data.summary['until'])}",
                            creator="hall", invariant=1, pageCompression=1, lang="zh-CN")

    def footer(c: Canvas, d: Any) -> None:
        c.saveState()
        c.setFont(font, 8)
        c.setFillColor(colors.HexColor("#555555"))
        c.drawString(MARGIN, MARGIN / 2, f"{data.hall_name} · {TITLE}")
        c.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"第 {d.page} 页")
        c.restoreState()

    doc.build(_story(data, st), onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
