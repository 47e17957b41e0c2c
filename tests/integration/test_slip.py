"""The ticket slip PDF (80 mm and 58 mm thermal paper) and the tracking QR code (SVG).

The slip is read back as text with pypdf, its QR code is rebuilt from the PDF's own rectangles and
compared with segno's matrix for the tracking URL (and decoded from the rendered PNG when zxing-cpp
is installed), and it is rendered with pdftoppm to docs/slip-80mm.png and docs/slip-58mm.png.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import segno
from pypdf import PdfReader
from reportlab.lib.units import mm

from hall import slip as slip_mod
from hall.slip import SlipData, build_slip
from hall.web.routes.slip import SlipController
from tests.helpers import API, resident_id, take

DOCS = Path(__file__).resolve().parents[2] / "docs"
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
HALL_NAME = "天长市政务服务中心"
_RE = re.compile(rb"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re\b")


@pytest.fixture
def client(client):
    """The app with the slip routes (registered here until hall/web/app.py lists SlipController)."""
    if not any(r.path.endswith("/slip.pdf") for r in client.app.routes):
        client.app.register(SlipController)
    return client


def get_slip(client, ticket_id: str, width: int | None = None):
    query = {} if width is None else {"width": str(width)}
    return client.get(f"{API}/tickets/{ticket_id}/slip.pdf", params=query)


def pdf_text(pdf: bytes) -> str:
    return "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)


def font_names(pdf: bytes) -> dict[str, object]:
    """BaseFont name -> font dictionary, of the slip's one page."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    fonts = page["/Resources"]["/Font"]
    return {str(f.get_object()["/BaseFont"]): f.get_object() for f in fonts.values()}


def qr_from_pdf(pdf: bytes) -> list[list[bool]]:
    """The QR modules as drawn: the page's filled rectangles put back on a grid."""
    data = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    rects = [tuple(float(v) for v in m.groups()) for m in _RE.finditer(data)]
    assert rects, "no QR rectangles on the slip"
    module = min(h for _, _, _, h in rects)
    assert all(abs(h - module) < 1e-3 for _, _, _, h in rects)
    x0 = min(x for x, _, _, _ in rects)
    top = max(y + h for _, y, _, h in rects)
    n = round((max(x + w for x, _, w, _ in rects) - x0) / module)
    grid = [[False] * n for _ in range(n)]
    for x, y, w, h in rects:
        row = round((top - y - h) / module)
        start = round((x - x0) / module)
        for c in range(start, start + round(w / module)):
            grid[row][c] = True
    return grid


def segno_grid(url: str) -> list[list[bool]]:
    return [[bool(v) for v in row] for row in segno.make(url, error="m", micro=False).matrix]


def render_png(pdf: bytes, out: Path) -> Path | None:
    if shutil.which("pdftoppm") is None:
        return None
    src = out.with_suffix(".pdf.tmp")
    src.write_bytes(pdf)
    try:
        subprocess.run(["pdftoppm", "-png", "-r", "200", "-singlefile", str(src), str(out.with_suffix(""))],
                       check=True, capture_output=True, timeout=60)
    finally:
        src.unlink()
    return out


@pytest.mark.parametrize("width", [80, 58])
def test_the_slip_has_the_ticket_and_a_qr_code_of_the_tracking_url(client, width):
    t = take(client, "SB")
    r = get_slip(client, t["id"], width)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    pdf = r.content

    text = pdf_text(pdf)
    for want in ("A001", "社保", HALL_NAME, "2026-11-23 09:30", "前面等候", "预计等待", "扫码查看排队进度"):
        assert want in text, (want, text)

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert float(box.width) == pytest.approx(width * mm, abs=0.01)
    assert float(box.height) > float(box.width)

    fonts = font_names(pdf)
    if WQY.exists():
        [(name, font)] = fonts.items()  # nothing but the embedded CJK font
        assert name.endswith("WenQuanYiZenHei-0"), name
        assert font["/Subtype"] == "/TrueType"
        assert "/FontFile2" in font["/FontDescriptor"]
    else:
        assert any("STSong-Light" in n for n in fonts), fonts

    assert t["track_url"].startswith("http://") and t["track_url"].endswith(f"/t/{t['id']}")
    assert qr_from_pdf(pdf) == segno_grid(t["track_url"])

    png = render_png(pdf, DOCS / f"slip-{width}mm.png")
    if png is None:
        return
    assert png.stat().st_size > 5000
    try:
        import zxingcpp  # optional: a real decoder, when installed (the matrix was checked above)
        from PIL import Image
    except ImportError:
        return
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(png))]
    assert decoded == [t["track_url"]]


def test_the_default_width_is_80_mm(client):
    t = take(client, "SB")
    r = get_slip(client, t["id"])
    assert r.status_code == 200
    assert float(PdfReader(io.BytesIO(r.content)).pages[0].mediabox.width) == pytest.approx(80 * mm, abs=0.01)


@pytest.mark.parametrize("width", ["70", "0", "abc"])
def test_other_widths_are_400(client, width):
    t = take(client, "SB")
    r = client.get(f"{API}/tickets/{t['id']}/slip.pdf", params={"width": width})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] in ("bad_width", "validation")
    assert body["detail"]


def test_an_unknown_ticket_has_no_slip_and_no_qr(client):
    for path in ("slip.pdf", "qr.svg"):
        r = client.get(f"{API}/tickets/0000000000000000dead/{path}")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"] == "unknown_ticket"
    r = client.get("/api/v1/halls/nope/tickets/0000000000000000dead/slip.pdf")
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_hall"


def svg_grid(svg: str) -> list[list[bool]]:
    """segno's SVG path (horizontal strokes of width 1 at y + 0.5) back to modules, border removed."""
    d = re.search(r'\sd="([^"]+)"', svg)
    assert d, svg
    size = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg) or re.search(r'width="(\d+)" height="(\d+)"', svg)
    assert size
    scale = re.search(r"scale\((\d+)\)", svg)
    n = int(size.group(1)) // (int(scale.group(1)) if scale else 1)
    cells = [[False] * n for _ in range(n)]
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHhVv])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", d.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        elif op == "h":
            for c in range(round(x), round(x + float(a))):
                cells[int(y)][c] = True
            x += float(a)
        else:
            raise AssertionError(f"unexpected path command {op}")
    return [row[4:n - 4] for row in cells[4:n - 4]]


def test_the_qr_svg_encodes_the_tracking_url_without_login(client):
    t = take(client, "SB")
    r = client.get(f"{API}/tickets/{t['id']}/qr.svg")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<svg")
    assert svg_grid(r.text) == segno_grid(t["track_url"])


def test_no_id_number_on_the_slip_of_an_id_card_ticket(client):
    idn = resident_id(40)
    t = take(client, "SB", "id_card", credential=idn)
    for width in (80, 58):
        r = get_slip(client, t["id"], width)
        assert r.status_code == 200
        raw = r.content
        text = pdf_text(raw)
        assert "A001" in text
        assert idn not in text and idn[6:14] not in text and idn[-4:] not in text
        assert idn.encode() not in raw
        meta = PdfReader(io.BytesIO(raw)).metadata or {}
        assert all(idn not in str(v) for v in meta.values())


def test_the_slip_after_the_call_leaves_out_the_wait():
    data = SlipData(HALL_NAME, "A001", "社保", "2026-11-23 09:30", "http://hall.example/t/abc")
    text = pdf_text(build_slip(data, 58))
    assert "A001" in text and "前面等候" not in text and "预计等待" not in text


@pytest.mark.parametrize(("seconds", "said"), [(0, "不到1分钟"), (59, "不到1分钟"), (60, "约1分钟"), (90, "约2分钟"),
                                               (720, "约12分钟")])
def test_the_wait_is_said_as_the_pages_say_it(seconds, said):
    assert slip_mod.wait_text(seconds) == said


def test_without_a_truetype_font_the_slip_uses_the_builtin_cid_font(monkeypatch):
    monkeypatch.setattr(slip_mod, "FONT_CANDIDATES", ())
    slip_mod.cjk_font.cache_clear()
    try:
        pdf = build_slip(SlipData(HALL_NAME, "B012", "医保", "2026-11-23 09:30", "http://hall.example/t/abc", 0, 0))
    finally:
        slip_mod.cjk_font.cache_clear()
    assert list(font_names(pdf)) == ["/STSong-Light"] or all("STSong-Light" in n for n in font_names(pdf))
    assert float(PdfReader(io.BytesIO(pdf)).pages[0].mediabox.width) == pytest.approx(80 * mm, abs=0.01)


def test_narrow_paper_wraps_a_long_hall_name_and_notice():
    lines = slip_mod.wrap("请留意大厅屏幕与语音叫号，过号请到服务台重新排队", 100, lambda s: 8.0 * len(s))
    assert lines == ["请留意大厅屏幕与语音叫号，", "过号请到服务台重新排队"]
    assert all(not line.startswith(("，", "。")) for line in slip_mod.wrap("一二三四，五六七八。", 32, lambda s: 8.0 * len(s)))
