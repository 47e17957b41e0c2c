"""The strategies compared by ``hall simulate``, as variants of the hall's own configuration.

* ``dedicated``: today's static practice. Every window serves exactly one service; the windows
  are shared out in proportion to each service's offered load (share of visitors × mean service
  time), at least one each, by the highest-averages rule (each next window goes to the service
  with the most load per window). An absent clerk's window is paused: nobody covers.
* ``pooled``: the same windows, all comprehensive (无差别综合窗口); absences as above.
* ``tidal_ab``: the hall's own layout. Its regular windows (comprehensive, domain, priority) are
  staffed all day; the tidal windows stay closed until the staffing controller
  (``hall.windows.staffing.tick``) opens them; the clerks not seated at a regular window are on
  standby: they staff the tidal windows and are the B (backup) of every post.

Equal staff-hours: every strategy has the same clerks present (the roster less the one on leave)
for the same hours, with the same absences. ``pooled_k`` (k comprehensive windows, k clerks) is
the yardstick for "how many window-hours does pooling need to match tidal + AB".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hall.hallconfig import HallCfg, PostCfg, WindowCfg
from hall.sim.scenario import Scenario


@dataclass(frozen=True)
class Layout:
    name: str
    cfg: HallCfg
    seats: dict[str, str]  # regular window -> the clerk who signs in at each opening
    staff: tuple[str, ...]  # clerks on duty (present)
    standby: tuple[str, ...] = ()
    controller: bool = False  # run the staffing controller (tidal windows, AB cover)
    leave: tuple[str, ...] = ()  # registered with the real use case when the controller runs
    notes: dict[str, str] = field(default_factory=dict)


def _base(cfg: HallCfg) -> HallCfg:
    """The hall with the 安康码 verifier off (no network in a simulation)."""
    return cfg.model_copy(update={"ankang": cfg.ankang.model_copy(update={"mode": "off"})})


def offered_load(cfg: HallCfg, mix: Mapping[str, float]) -> dict[str, float]:
    """Relative work per service: share of visitors × configured mean service minutes."""
    return {s.code: mix.get(s.code, 0.0) * s.service_min for s in cfg.services}


def share_windows(loads: Mapping[str, float], n: int) -> dict[str, int]:
    """``n`` windows over the services, at least one each, then by the highest load per window."""
    codes = list(loads)
    if n < len(codes):
        raise ValueError(f"{n} windows cannot give each of {len(codes)} services its own window")
    count = dict.fromkeys(codes, 1)
    for _ in range(n - len(codes)):
        best = max(codes, key=lambda c: (loads[c] / count[c], -codes.index(c)))
        count[best] += 1
    return count


def _window(proto: WindowCfg, kind: str, services: list[str]) -> WindowCfg:
    return proto.model_copy(update={"kind": kind, "services": services, "post": None})


def dedicated(cfg: HallCfg, sc: Scenario, mix: Mapping[str, float]) -> Layout:
    staff = sc.present
    n = min(len(staff), len(cfg.windows))
    count = share_windows(offered_load(cfg, mix), n)
    protos = cfg.windows[:n]
    windows: list[WindowCfg] = []
    for code in [s.code for s in cfg.services]:
        for _ in range(count[code]):
            windows.append(_window(protos[len(windows)], "domain", [code]))
    hall = _base(cfg).model_copy(update={"windows": windows})
    return Layout("dedicated", hall, {w.number: c for w, c in zip(windows, staff, strict=False)}, staff[:n],
                  notes={"windows_per_service": ", ".join(f"{c} {k}" for c, k in count.items())})


def pooled(cfg: HallCfg, sc: Scenario, k: int | None = None) -> Layout:
    staff = sc.present
    n = min(len(staff), len(cfg.windows)) if k is None else k
    if n > len(cfg.windows) or n > len(staff):
        raise ValueError(f"{n} pooled windows need {n} windows and clerks")
    codes = [s.code for s in cfg.services]
    windows = [_window(w, "comprehensive", list(codes)) for w in cfg.windows[:n]]
    hall = _base(cfg).model_copy(update={"windows": windows})
    return Layout("pooled" if k is None else f"pooled_{k}", hall,
                  {w.number: c for w, c in zip(windows, staff, strict=False)}, staff[:n])


def tidal_ab(cfg: HallCfg, sc: Scenario) -> Layout:
    """The hall's layout, its posts re-drawn for the day's roster (the duty plan a manager makes).

    Regular windows keep their A. The present clerks not seated there are on standby: the first
    takes, as its A for the day, the post of a regular A who is on leave; the others are the A/B
    of the tidal windows and the B of every regular post, in turn.
    """
    present = set(sc.present)
    regular = [w for w in cfg.windows if w.kind != "tidal"]
    tidal = [w for w in cfg.windows if w.kind == "tidal"]
    a_of = {w.number: (w.post.a if w.post else None) for w in regular}
    seated_a = {a for a in a_of.values() if a in present}
    # Standby: clerks who are no window's A first (they have no seat of their own), then the rest.
    all_a = {w.post.a for w in cfg.windows if w.post}
    standby = sorted((c for c in sc.present if c not in seated_a), key=lambda c: (c in all_a, c))
    on_leave_posts = [w.number for w in regular if a_of[w.number] not in present]
    day_covers = dict(zip(on_leave_posts, standby, strict=False))
    rest = [c for c in standby if c not in day_covers.values()]

    seats: dict[str, str] = {}
    windows: list[WindowCfg] = []
    turn = 0
    used_a: set[str] = set()
    for w in cfg.windows:
        if w.kind != "tidal":
            # The post of an A on leave is re-planned for the day: a standby clerk is its A.
            a = day_covers.get(w.number) or a_of[w.number]
            b = rest[turn % len(rest)] if rest else None
            turn += 1
            if a in present:
                seats[w.number] = a
            post = PostCfg(a=a, b=b if b != a else None) if a else None
            if a:
                used_a.add(a)
            windows.append(w.model_copy(update={"post": post}))
    for j, w in enumerate(tidal):
        if j < len(rest) and rest[j] not in used_a:
            a = rest[j]
            others = [c for c in rest if c != a]
            post = PostCfg(a=a, b=others[0] if others else None)
            used_a.add(a)
        else:
            post = None
        windows.append(w.model_copy(update={"post": post}))
    order = {w.number: i for i, w in enumerate(cfg.windows)}
    windows.sort(key=lambda w: order[w.number])
    base = _base(cfg)
    tidal_cfg = base.tidal.model_copy(update={"standby": [c for c in rest if c not in used_a]})
    hall = base.model_copy(update={"windows": windows, "tidal": tidal_cfg})
    return Layout("tidal_ab", hall, seats, sc.present, tuple(rest), controller=True,
                  leave=sc.on_leave, notes={"standby": ", ".join(rest),
                                            "day_covers": ", ".join(f"{w}:{c}" for w, c in day_covers.items())})
