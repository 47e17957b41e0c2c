"""Reports (#7): the daily operations report and the monthly summary, as PDF, CSV or JSON.

``GET /api/v1/halls/{hall}/reports/daily?date=YYYY-MM-DD&format=pdf|csv|json`` and
``GET /api/v1/halls/{hall}/reports/monthly?month=YYYY-MM&format=…``; roles manager and admin.
The figures come from the event log (``hall.reports.figures``); today's report counts up to now.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import anyio.to_thread
from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter

from hall.errors import BadRequest
from hall.reports import export, figures, pdf, source
from hall.web.deps import require_actor, server_of

REPORT_ROLES = ("manager", "admin")
FORMATS = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadRequest("格式须为 pdf、csv 或 json", "format must be pdf, csv or json", code="bad_format")
    return fmt


def _answer(fmt: str, body: bytes | str, name: str) -> Response[Any]:
    return Response(body, media_type=FORMATS[fmt], headers={
        "Content-Disposition": f'{"inline" if fmt == "pdf" else "attachment"}; filename="{name}.{fmt}"',
        "Cache-Control": "no-store"})


class ReportController(Controller):
    path = "/api/v1/halls/{hall:str}/reports"
    tags = ["reports"]

    @get("/daily", operation_id="DailyReport")
    async def daily(self, request: Request, hall: FromPath[str], date_: Annotated[str, QueryParameter(name="date")],
                    format_: Annotated[str, QueryParameter(name="format")] = "pdf") -> Response[Any]:
        """运营日报: tickets, waits, windows, AB posts, tidal windows, wait alerts, 好差评, devices and
        overdue 差评 follow-ups of one local day."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *REPORT_ROLES, hall=hall)
        fmt = _format(format_)
        try:
            day = date.fromisoformat(date_)
        except ValueError:
            raise BadRequest("日期格式应为 YYYY-MM-DD", "date must look like 2026-11-23", code="bad_date") from None
        now = h.now()
        events, followups = await srv.db.read(source.daily_input, h.cfg, day, now)
        figs = figures.daily_figures(events, h.cfg, day, followups=followups, now=now)
        name = f"report-{h.id}-{day.isoformat()}"
        if fmt == "pdf":
            return _answer(fmt, await anyio.to_thread.run_sync(pdf.daily_pdf, figs), name)
        return _answer(fmt, export.daily_csv(figs) if fmt == "csv" else export.to_json(figs), name)

    @get("/monthly", operation_id="MonthlyReport")
    async def monthly(self, request: Request, hall: FromPath[str], month: FromQuery[str],
                      format_: Annotated[str, QueryParameter(name="format")] = "pdf") -> Response[Any]:
        """运营月报: the daily figures for every day of a month (a table per figure family)."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *REPORT_ROLES, hall=hall)
        fmt = _format(format_)
        try:
            year, mon = (int(x) for x in month.split("-"))
            date(year, mon, 1)
        except ValueError:
            raise BadRequest("月份格式应为 YYYY-MM", "month must look like 2026-11", code="bad_month") from None
        now = h.now()
        events, followups = await srv.db.read(source.monthly_input, h.cfg, year, mon, now)
        figs = figures.monthly_figures(events, h.cfg, year, mon, followups=followups, now=now)
        name = f"report-{h.id}-{year:04d}-{mon:02d}"
        if fmt == "pdf":
            return _answer(fmt, await anyio.to_thread.run_sync(pdf.monthly_pdf, figs), name)
        return _answer(fmt, export.monthly_csv(figs) if fmt == "csv" else export.to_json(figs), name)
