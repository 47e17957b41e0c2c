"""The report's figures as JSON and CSV.

JSON is the figures themselves. CSV is one figure a row, ``date,figure,value``: ``figure`` is the
dotted path into the JSON (``waits.by_service.SB.p90_s``, ``tickets.by_hour.09``, list items by
their index: ``posts.vacancy_list.0.window``), so a spreadsheet can filter it and nothing is lost.
The monthly CSV has every day's rows (``date`` the day) and the month's totals (``date`` the month).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

CSV_HEADER = ("date", "figure", "value")


def to_json(figs: Mapping[str, Any]) -> str:
    return json.dumps(figs, ensure_ascii=False, indent=2) + "\n"


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, scalar)`` for every leaf; hours of ``by_hour`` as two digits."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list | tuple):
        hours = prefix.endswith("by_hour")
        for i, v in enumerate(value):
            yield from flatten(v, f"{prefix}.{i:02d}" if hours else f"{prefix}.{i}")
    else:
        yield prefix, value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(rows: Iterator[tuple[str, str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for day, path, value in rows:
        w.writerow((day, path, cell(value)))
    return buf.getvalue()


SKIP = ("hall", "hall_name", "date")  # said once in the date column or the file name


def daily_csv(figs: Mapping[str, Any]) -> str:
    return _csv((figs["date"], p, v) for p, v in flatten(figs) if p not in SKIP)


def monthly_csv(month: Mapping[str, Any]) -> str:
    def rows() -> Iterator[tuple[str, str, Any]]:
        for day in month["days"]:
            yield from ((day["date"], p, v) for p, v in flatten(day) if p not in SKIP)
        yield from ((month["month"], p, v) for p, v in flatten(month["total"]) if p not in SKIP)

    return _csv(rows())
