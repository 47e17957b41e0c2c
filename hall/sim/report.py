"""The terminal table of ``hall simulate`` (Chinese first, English in parentheses), and the JSON."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

NAMES = {"dedicated": "专窗 dedicated", "pooled": "综窗 pooled", "tidal_ab": "潮汐+AB tidal_ab"}


def width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, cols: int, right: bool = False) -> str:
    gap = " " * max(0, cols - width(text))
    return gap + text if right else text + gap


def table(rows: list[list[str]], first: int) -> str:
    """Rows of cells; the first column left-aligned, the rest right-aligned, widths from content."""
    n = max(len(r) for r in rows)
    cols = [max(width(r[i]) for r in rows if i < len(r)) for i in range(n)]
    cols[0] = max(cols[0], first)
    lines = []
    for r in rows:
        cells = [pad(r[0], cols[0])] + [pad(c, cols[i + 1], right=True) for i, c in enumerate(r[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _min(s: float | None) -> str:
    return "—" if s is None else f"{s / 60:.1f}"


def render(result: dict[str, Any]) -> str:
    s = result["strategies"]
    names = list(s)
    out: list[str] = []
    r = result["roster"]
    out.append(f"{result['hall_name']} ({result['hall']})  {result['date']}  种子 seed {result['seed']}  "
               f"办理时间 hours {', '.join(result['opening_hours'])}")
    out.append(f"访客 visitors {result['visitors']}  在岗 clerks present {len(r['present'])}  "
               f"请假 on leave {', '.join(r['on_leave']) or '—'}  临时离岗 absences {len(r['absences'])}")
    out.append("")
    head = ["指标 (metric)", *[NAMES.get(n, n) for n in names]]

    def row(label: str, fn: Any) -> list[str]:
        return [label, *[fn(s[n]) for n in names]]

    rows = [
        head,
        row("平均等候 (mean wait, min)", lambda m: _min(m["mean_wait_s"])),
        row("P95 等候 (p95 wait, min)", lambda m: _min(m["p95_wait_s"])),
        row("最长等候 (max wait, min)", lambda m: _min(m["max_wait_s"])),
        row("最长排队 (longest queue)", lambda m: str(m["longest_queue"])),
        row("空岗合计 (unattended post, min)", lambda m: f"{m['vacant_post_min']:.0f}"),
        row("最长单次空岗 (max vacancy, min)", lambda m: f"{m['max_vacant_post_min']:.0f}"),
        row(f"超{s[names[0]]['vacancy_limit_min']}分钟空岗 (vacancies > limit)",
            lambda m: str(m["vacancies_over_limit"])),
        row("窗口时数 (window-hours)", lambda m: f"{m['window_hours']:.1f}"),
        row("人员时数 (staff-hours)", lambda m: f"{m['staff_hours']:.1f}"),
        row("离岗分钟 (clerk absence, min)", lambda m: f"{m['absence_min']:.0f}"),
        row("窗口利用率 (utilisation)", lambda m: f"{m['utilisation'] * 100:.0f}%"),
        row("等候估算误差 (estimate MAE, s)", lambda m: f"{m['estimate_mae_s']:.0f}"),
        row("朴素估算误差 (naive MAE, s)", lambda m: f"{m['naive_estimate_mae_s']:.0f}"),
        row("未叫号过期 (expired tickets)", lambda m: str(m["expired"])),
    ]
    out.append(table(rows, 30))
    out.append("")
    svc_rows = [["业务 (service)  平均/P95 分钟", "目标 target", *[NAMES.get(n, n) for n in names]]]
    first = s[names[0]]["services"]
    for code, v in first.items():
        cells = [f"{v['name']} {code}", f"{v['target_wait_s'] // 60}"]
        for n in names:
            x = s[n]["services"][code]
            mark = "" if x["within_target"] else " !"
            cells.append(f"{_min(x['mean_wait_s'])} / {_min(x['p95_wait_s'])}{mark}")
        svc_rows.append(cells)
    out.append(table(svc_rows, 30))
    out.append("  (! = P95 超过目标 / p95 over target)")
    out.append("")
    same = result["pooled_same_p95"]
    t = s["tidal_ab"]
    if same["windows"] is not None:
        out.append(f"综窗达到潮汐+AB的P95 ({_min(same['target_p95_wait_s'])} 分钟) 需 {same['windows']} 个全天窗口、"
                   f"{same['window_hours']:.1f} 窗口时数；潮汐+AB 用 {t['window_hours']:.1f}")
        out.append(f"  (pooled needs {same['windows']} windows all day, {same['window_hours']:.1f} window-hours, to reach "
                   f"tidal_ab's p95; tidal_ab used {t['window_hours']:.1f})")
    else:
        out.append("综窗在现有人员内达不到潮汐+AB的P95 (pooled cannot reach tidal_ab's p95 with the clerks present)")
    out.append("  " + "  ".join(f"k={x['windows']}: P95 {_min(x['p95_wait_s'])} min, {x['window_hours']:.1f} h"
                                for x in same["tried"]))
    out.append("")
    er = [["时段 (hour)", "取号 tickets", "到达/时 λ/h", "负荷 erlang", "ErlangC 等候 Wq min",
           *[f"{NAMES.get(n, n).split()[0]} 平均" for n in names]]]
    for e in result["erlang_c"]:
        hh = e["hour"][:2]
        er.append([e["hour"], str(e["tickets"]), f"{e['arrivals_per_h']:.0f}", f"{e['load_erlang']:.1f}",
                   _min(e["mean_wait_s"]) if e["mean_wait_s"] is not None else "∞",
                   *[_min(s[n]["hourly_mean_wait_s"].get(hh)) for n in names]])
    out.append(f"Erlang C 参考：{result['erlang_c'][0]['windows']} 个综合窗口的 M/M/c 平均等候 "
               f"(M/M/c mean wait of the pooled windows, hour by hour)")
    out.append(table(er, 12))
    out.append("")
    out.append("检查 (checks, issue 4)")
    for key, c in result["checks"].items():
        detail = ", ".join(f"{k}={v}" for k, v in c.items() if k != "ok")
        out.append(f"  {'✓' if c['ok'] else '✗'} {key}: {detail}")
    return "\n".join(out)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
