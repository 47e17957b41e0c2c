"""The ticket slip: a one-page PDF for 80 mm or 58 mm thermal paper, as long as its content.

Pure: it takes plain data (no database, no request) and returns the PDF's bytes. Chinese text is set
in an embedded TrueType CJK font when one is installed (Debian ``fonts-wqy-zenhei``), else in
reportlab's built-in ``STSong-Light`` CID font, which every PDF reader has but which embeds nothing.
The QR code is drawn as vector rectangles from segno's matrix, each module a whole number of
203-dpi printer dots, so it prints crisp on thermal heads. The slip carries no personal data.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import segno
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

# Paper width (mm) -> printable width (mm) of common thermal printers.
PRINTABLE_MM = {80: 72.0, 58: 48.0}
NOTICE = "请留意大厅屏幕与语音叫号，过号请到服务台重新排队"
QR_CAPTION = "扫码查看排队进度"
TTF_NAME = "WenQuanYiZenHei"
CID_NAME = "STSong-Light"
# TrueType-outline CJK fonts, first found wins: (path, index of the face inside a .ttc).
FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),  # Debian, Ubuntu: fonts-wqy-zenhei
    ("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc", 0),  # Fedora, Arch
    ("/usr/share/fonts/truetype/wqy-zenhei/wqy-zenhei.ttc", 0),
    ("/usr/local/share/fonts/wqy-zenhei.ttc", 0),
    ("/Library/Fonts/wqy-zenhei.ttc", 0),
)
DOT_MM = 25.4 / 203  # one dot of a 203-dpi thermal head (8 dots per mm)
_HANGING = set("，。、；：！？）」』》")  # never starts a line


@dataclass(frozen=True)
class SlipData:
    hall_name: str
    number: str  # "A001"
    service_name: str
    issued_at: str  # hall local time, "2026-11-23 09:30"
    track_url: str  # absolute
    ahead: int | None = None  # None: not waiting any more (a reprint after the call)
    est_wait_s: int | None = None
    notice: str = NOTICE


def wait_text(seconds: int) -> str:
    """The estimated wait as the pages say it (hall/web/static/api.js)."""
    if seconds < 60:
        return "不到1分钟"
    return f"约{int(seconds / 60 + 0.5)}分钟"


@cache
def cjk_font() -> str:
    """Register the CJK font once; the name to draw with (TrueType when installed, else CID)."""
    for path, index in FONT_CANDIDATES:
        if os.path.isfile(path):
            try:
                pdfmetrics.registerFont(TTFont(TTF_NAME, path, subfontIndex=index))
            except Exception:  # a broken or CFF-outline file: try the next one
                continue
            return TTF_NAME
    pdfmetrics.registerFont(UnicodeCIDFont(CID_NAME))
    return CID_NAME


def _split_clauses(text: str) -> list[str]:
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch in "，；。":
            out.append(cur)
            cur = ""
    return out + [cur] if cur else out


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Lines of Chinese text within ``width``: break after a clause when it fits, else between
    characters, never putting a closing punctuation mark at the start of a line."""
    lines: list[str] = []
    cur = ""
    for clause in _split_clauses(text):
        if measure(cur + clause) <= width:
            cur += clause
            continue
        if cur:
            lines.append(cur)
            cur = ""
        for ch in clause:
            if cur and measure(cur + ch) > width and ch not in _HANGING:
                lines.append(cur)
                cur = ""
            cur += ch
    if cur:
        lines.append(cur)
    return lines


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules, dark = True, without the quiet zone (error correction M or better, as segno boosts it)."""
    qr = segno.make(url, error="m", micro=False)
    return [[bool(v) for v in row] for row in qr.matrix]


def _runs(row: Iterable[bool]) -> Iterable[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row."""
    start = None
    n = -1
    for n, dark in enumerate(row):
        if dark and start is None:
            start = n
        elif not dark and start is not None:
            yield start, n - start
            start = None
    if start is not None:
        yield start, n + 1 - start


@dataclass(frozen=True)
class _Style:
    margin: float  # left and right, points
    width: float  # printable width, points
    hall: float
    service: float
    number_max: float
    label: float
    small: float
    qr_max_mm: float


_STYLES = {
    80: _Style(4 * mm, 72 * mm, 12, 15, 66, 10, 8.5, 38),
    58: _Style(5 * mm, 48 * mm, 10, 13, 50, 8.5, 7.5, 30),
}


def build_slip(data: SlipData, width_mm: int = 80) -> bytes:
    """The slip as PDF bytes for paper ``width_mm`` wide (80 or 58)."""
    if width_mm not in _STYLES:
        raise ValueError(f"width_mm must be one of {sorted(_STYLES)}")
    st = _STYLES[width_mm]
    font = cjk_font()

    def w(text: str, size: float) -> float:
        return pdfmetrics.stringWidth(text, font, size)

    ops: list[Callable[[Canvas, Callable[[float], float]], None]] = []
    y = 5 * mm  # distance from the top of the page to the current baseline's top
    left, right, centre = st.margin, st.margin + st.width, st.margin + st.width / 2

    def centred(text: str, size: float, *, gap: float = 0.35, bold: bool = False) -> None:
        nonlocal y
        y += size
        at = y

        def draw(c: Canvas, top: Callable[[float], float]) -> None:
            c.saveState()
            t = c.beginText()
            t.setFont(font, size)
            if bold:  # the CJK font has no bold face: fill and stroke the outline
                t.setTextRenderMode(2)
                c.setLineWidth(size / 30)
            t.setTextOrigin(centre - w(text, size) / 2, top(at))
            t.textOut(text)
            c.drawText(t)
            c.restoreState()

        ops.append(draw)
        y += size * gap

    def row(label: str, value: str, size: float) -> None:
        nonlocal y
        y += size
        at = y

        def draw(c: Canvas, top: Callable[[float], float]) -> None:
            c.setFont(font, size)
            c.drawString(left, top(at), label)
            c.setFont(font, size * 1.1)
            c.drawRightString(right, top(at), value)

        ops.append(draw)
        y += size * 0.6

    def rule(dashed: bool = False) -> None:
        nonlocal y
        y += 2.2 * mm
        at = y

        def draw(c: Canvas, top: Callable[[float], float]) -> None:
            c.saveState()
            c.setLineWidth(0.6)
            if dashed:
                c.setDash(2, 2)
            c.line(left, top(at), right, top(at))
            c.restoreState()

        ops.append(draw)
        y += 2.2 * mm

    # Hall name (may wrap on narrow paper), service, the number as large as the width allows.
    for line in wrap(data.hall_name, st.width, lambda s: w(s, st.hall)):
        centred(line, st.hall, gap=0.3, bold=True)
    rule()
    centred(data.service_name, st.service, gap=0.1)
    number_size = min(st.number_max, st.width * 0.92 / max(w(data.number, 1), 1e-6))
    y += number_size * 0.05
    centred(data.number, number_size, gap=0.08, bold=True)
    rule(dashed=True)
    row("取号时间", data.issued_at, st.label)
    if data.ahead is not None:
        row("前面等候", f"{data.ahead}人", st.label)
    if data.est_wait_s is not None:
        row("预计等待", wait_text(data.est_wait_s), st.label)
    rule(dashed=True)

    # The QR code: modules of whole printer dots, at most qr_max_mm with its 4-module quiet zone.
    matrix = qr_matrix(data.track_url)
    n = len(matrix)
    dots = max(3, math.floor(st.qr_max_mm / ((n + 8) * DOT_MM)))
    module = dots * DOT_MM * mm
    side = n * module
    y += 4 * module - 2.2 * mm + 1 * mm  # the quiet zone (part of it is the rule's space)
    qr_top = y

    def draw_qr(c: Canvas, top: Callable[[float], float]) -> None:
        x0 = centre - side / 2
        p = c.beginPath()
        for r, cells in enumerate(matrix):
            yy = top(qr_top + (r + 1) * module)
            for start, length in _runs(cells):
                p.rect(x0 + start * module, yy, length * module, module)
        c.drawPath(p, stroke=0, fill=1)

    ops.append(draw_qr)
    y += side + 2.5 * mm
    centred(QR_CAPTION, st.label, gap=0.9)
    for line in wrap(data.notice, st.width * 0.92, lambda s: w(s, st.small)):
        centred(line, st.small, gap=0.45)
    height = y + 8 * mm  # room to tear off

    buf = io.BytesIO()
    page_w = width_mm * mm
    c = Canvas(buf, pagesize=(page_w, height), invariant=1, pageCompression=1, initialFontName=font)
    c.setTitle(f"{data.hall_name} {data.number}")
    c.setSubject(f"{data.service_name} 排队号票")
    c.setCreator("hall")

    def top(offset: float) -> float:
        return height - offset

    for op in ops:
        op(c, top)
    c.showPage()
    c.save()
    return buf.getvalue()
