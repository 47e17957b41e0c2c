"""The pure helpers of hall.sim.metrics and hall.sim.report."""

from __future__ import annotations

from types import SimpleNamespace as NS

from hall.sim.metrics import _runs, p95, queue_peak
from hall.sim.report import pad, table, width


def test_p95_is_nearest_rank() -> None:
    assert p95([]) == 0.0
    assert p95([5.0]) == 5.0
    assert p95(range(1, 101)) == 95
    assert p95([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]) == 100  # 95% of ten values: the tenth


def test_queue_peak_counts_tickets_waiting_at_once() -> None:
    rows = [NS(service="SB", issued_ms=0, called_ms=50, finished_ms=60),
            NS(service="SB", issued_ms=10, called_ms=20, finished_ms=30),
            NS(service="YB", issued_ms=15, called_ms=None, finished_ms=90),  # expired at 90
            NS(service="SB", issued_ms=50, called_ms=70, finished_ms=80)]  # joins as the first leaves
    assert queue_peak(rows) == 3
    assert queue_peak(rows, "SB") == 2
    assert queue_peak(rows, "GJJ") == 0


def test_vacancy_runs_from_samples() -> None:
    samples = [NS(vacant=v) for v in (["3"], ["3"], ["3", "5"], [], ["5"], ["5"])]
    runs, total = _runs(samples, 60.0)
    assert runs == {"3": [3.0], "5": [1.0, 2.0]}
    assert total == 6.0


def test_cjk_columns_line_up() -> None:
    assert width("社保 SB") == 7 and pad("社保", 6) == "社保  "
    lines = table([["业务", "a"], ["SB", "12"]], 0).splitlines()
    assert [width(x) for x in lines] == [width(lines[0])] * 2
