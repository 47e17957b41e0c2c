"""The figures of one simulated day, read back from what the use cases recorded.

Waits are ``called_ms - issued_ms`` of every ticket that was called (a no-show was called too:
the queue reached it). The estimate error compares the ``est_wait_s`` that ``issue_ticket``
returned with that wait; the naive estimate is people ahead × the service's configured mean
service time ÷ the windows open for the service at issue time. Vacancies (空岗) and window-hours
come from the window rows sampled at every tick.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hall.sim.engine import DayRun


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def p95(xs: Iterable[float]) -> float:
    """The 95th percentile, nearest-rank (the smallest value with at least 95% at or below it)."""
    s = sorted(xs)
    if not s:
        return 0.0
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def _r(x: float, nd: int = 1) -> float:
    return round(x, nd)


def _runs(samples: list[Any], tick_s: float) -> tuple[dict[str, list[float]], float]:
    """Per window: the length (minutes) of each stretch it was expected and unattended."""
    runs: dict[str, list[float]] = {}
    current: dict[str, int] = {}
    total = 0.0
    for s in samples:
        now = set(s.vacant)
        for w in now:
            current[w] = current.get(w, 0) + 1
            total += tick_s / 60
        for w in [w for w in current if w not in now]:
            runs.setdefault(w, []).append(current.pop(w) * tick_s / 60)
    for w, n in current.items():
        runs.setdefault(w, []).append(n * tick_s / 60)
    return runs, total


def queue_peak(rows: list[Any], service: str | None = None) -> int:
    """The most tickets waiting at once (issued, not yet called)."""
    deltas: list[tuple[int, int]] = []
    for t in rows:
        if service is not None and t.service != service:
            continue
        deltas.append((t.issued_ms, 1))
        left = t.called_ms or t.finished_ms
        if left is not None:
            deltas.append((left, -1))
    deltas.sort(key=lambda d: (d[0], d[1]))
    peak = cur = 0
    for _, d in deltas:
        cur += d
        peak = max(peak, cur)
    return peak


def summarize(run: DayRun) -> dict[str, Any]:
    cfg, p = run.cfg, run.p
    rows = run.tickets()
    called = [t for t in rows if t.called_ms is not None]
    waits = {t.id: (t.called_ms - t.issued_ms) / 1000 for t in called}
    per_service: dict[str, Any] = {}
    for s in cfg.services:
        ws = [waits[t.id] for t in called if t.service == s.code]
        per_service[s.code] = {
            "name": s.name, "tickets": sum(1 for t in rows if t.service == s.code), "called": len(ws),
            "mean_wait_s": _r(mean(ws)), "p95_wait_s": _r(p95(ws)), "max_wait_s": _r(max(ws, default=0.0)),
            "target_wait_s": s.target_wait_min * 60, "within_target": p95(ws) <= s.target_wait_min * 60,
            "longest_queue": queue_peak(rows, s.code),
        }
    all_waits = list(waits.values())

    err, naive_err, bias = [], [], []
    for tid, w in waits.items():
        iss = run.by_ticket.get(tid)
        if iss is None:
            continue
        err.append(abs(iss.est_wait_s - w))
        naive_err.append(abs(iss.naive_s - w))
        bias.append(iss.est_wait_s - w)

    runs, vacant_total = _runs(run.samples, p.tick_s)
    longest = max((m for ms in runs.values() for m in ms), default=0.0)
    limit = cfg.staffing.vacancy_limit_min
    tick_h = p.tick_s / 3600
    window_h = sum(s.signed_in for s in run.samples) * tick_h
    attended_h = sum(s.attended for s in run.samples) * tick_h
    busy_s = 0.0
    for t in called:
        end = t.finished_ms or t.no_show_ms
        if end is not None:
            busy_s += (end - t.called_ms) / 1000
    span_h = sum(b - a for a, b in run.sc.spans) / 3600
    by_hour: dict[int, list[float]] = {}
    for t in called:
        by_hour.setdefault(int(run.iso_hour(t.issued_ms)), []).append(waits[t.id])
    return {
        "mean_wait_s": _r(mean(all_waits)),
        "p95_wait_s": _r(p95(all_waits)),
        "max_wait_s": _r(max(all_waits, default=0.0)),
        "tickets": len(rows),
        "called": len(called),
        "served": sum(1 for t in rows if t.status == "finished"),
        "no_show": sum(1 for t in rows if t.status == "no_show"),
        "expired": run.expired,
        "longest_queue": queue_peak(rows),
        "vacant_post_min": _r(vacant_total),
        "max_vacant_post_min": _r(longest),
        "vacancies_over_limit": sum(1 for ms in runs.values() for m in ms if m > limit),
        "vacancy_limit_min": limit,
        "window_hours": _r(window_h, 2),
        "attended_window_hours": _r(attended_h, 2),
        "staff_hours": _r(len(run.layout.staff) * span_h, 2),
        "clerks": len(run.layout.staff),
        "absence_min": _r(run.away_s / 60),
        "breaks_held": run.breaks_held,
        "breaks_held_min": _r(run.held_s / 60),
        "utilisation": _r(busy_s / 3600 / attended_h, 3) if attended_h else 0.0,
        "estimate_mae_s": _r(mean(err)),
        "naive_estimate_mae_s": _r(mean(naive_err)),
        "estimate_bias_s": _r(mean(bias)),
        "services": per_service,
        "hourly_mean_wait_s": {f"{h:02d}": _r(mean(ws)) for h, ws in sorted(by_hour.items())},
        "decisions": dict(sorted(run.decisions.items())),
        "refused_actions": dict(sorted(run.rejected.items())),
        "last_window_closed": run._hhmm(max((s.t for s in run.samples if s.signed_in), default=0.0)),
    }
