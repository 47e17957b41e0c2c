"""The tidal window policy (潮汐窗口): which standby windows to open, for which services, and when to
close them. A pure function of plain data; the controller (``staffing.py``) gathers the inputs,
records each decision with its reason and carries it out.

A service is *hot* when more than ``open_queue`` wait for it, or when its waits (the oldest ticket's
wait, or the wait predicted for a new ticket) reach its target × ``open_wait_ratio``. It is *calm*
when at most ``close_queue`` wait and its waits are below target × ``close_wait_ratio``. Between
the two it is neither, and nothing changes: that gap is the hysteresis. The open thresholds are
multiplied by ``month_end_factor`` at month-end and by ``lunch_factor`` at lunch (the regular
windows rotate their clerks), so windows open sooner then.

Flapping is bounded in time as well: a window stays open at least ``min_open_s`` and closed at
least ``min_closed_s``, and a hot service gets at most one more window per ``step_s``, so the
window just opened has time to work before another follows. Every opening needs a clerk on
standby: never more windows are opened than there are clerks to staff them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hall.hallconfig import TidalCfg

INF = float("inf")


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    code: str
    waiting: int
    oldest_wait_s: float = 0.0
    predicted_wait_s: float = 0.0
    target_wait_s: float = 1200.0
    open: bool = True  # the service takes visitors now (opening hours, 周末办)
    name: str = ""

    @property
    def wait_s(self) -> float:
        return max(self.oldest_wait_s, self.predicted_wait_s)


@dataclass(frozen=True, slots=True)
class TidalWindow:
    number: str
    services: tuple[str, ...]  # what it can take (its configuration)
    open: bool = False
    # when it last opened, took more services, or closed (hall time, Unix seconds); taking more
    # restarts the minimum open time, and counts as the service's one more window for the step
    since_s: float = -INF
    taking: tuple[str, ...] = ()  # what it takes while open
    held: bool = False  # the manager holds it open or closed: the policy leaves it alone


@dataclass(frozen=True, slots=True)
class Calendar:
    lunch: bool = False
    month_end: bool = False
    weekend: bool = False


@dataclass(frozen=True)
class TidalRules:
    open_queue: int = 10
    close_queue: int = 3
    open_wait_ratio: float = 1.0
    close_wait_ratio: float = 0.5
    min_open_s: float = 1800.0
    min_closed_s: float = 600.0
    step_s: float = 300.0
    month_end_factor: float = 0.7
    lunch_factor: float = 0.8

    @classmethod
    def from_cfg(cls, c: TidalCfg) -> TidalRules:
        return cls(
            open_queue=c.open_queue, close_queue=c.close_queue, open_wait_ratio=c.open_wait_ratio,
            close_wait_ratio=c.close_wait_ratio, min_open_s=c.min_open_min * 60.0,
            min_closed_s=c.min_closed_min * 60.0, step_s=c.step_min * 60.0,
            month_end_factor=c.month_end_factor, lunch_factor=c.lunch_factor,
        )

    def factor(self, cal: Calendar) -> float:
        f = 1.0
        if cal.month_end:
            f *= self.month_end_factor
        if cal.lunch:
            f *= self.lunch_factor
        return f


@dataclass(frozen=True, slots=True)
class TidalDecision:
    window: str
    action: str  # "open", "take" (an open window takes more services), "close"
    services: tuple[str, ...]
    code: str  # why, for machines: "queue", "wait", "calm", "closed_hours"
    reason: str  # why, for people (Chinese)
    data: dict[str, float] = field(default_factory=dict, compare=False)


def is_hot(load: ServiceLoad, rules: TidalRules, cal: Calendar) -> str | None:
    """``"queue"`` or ``"wait"`` when the service needs another window, else None."""
    if not load.open or load.waiting == 0:
        return None
    f = rules.factor(cal)
    if load.waiting > rules.open_queue * f:
        return "queue"
    if load.wait_s >= load.target_wait_s * rules.open_wait_ratio * f:
        return "wait"
    return None


def is_calm(load: ServiceLoad, rules: TidalRules) -> bool:
    if not load.open:
        return True
    return load.waiting <= rules.close_queue and load.wait_s < load.target_wait_s * rules.close_wait_ratio


def _pressure(load: ServiceLoad, rules: TidalRules) -> float:
    return max(load.waiting / max(rules.open_queue, 1), load.wait_s / max(load.target_wait_s, 1.0))


def _why(load: ServiceLoad, code: str) -> str:
    name = load.name or load.code
    if code == "queue":
        return f"{name}等候 {load.waiting} 人"
    return f"{name}等候约 {round(load.wait_s / 60)} 分钟（目标 {round(load.target_wait_s / 60)} 分钟）"


def decide(
    loads: Iterable[ServiceLoad],
    windows: Sequence[TidalWindow],
    standby: int,
    now_s: float,
    rules: TidalRules,
    cal: Calendar = Calendar(),
) -> list[TidalDecision]:
    """What to change now. ``standby`` is how many clerks could staff a window that opens now."""
    by_code = {ld.code: ld for ld in loads}
    hot = {c: why for c, ld in by_code.items() if (why := is_hot(ld, rules, cal))}
    out: list[TidalDecision] = []
    # Services that got one more window within the last step (opened for them, or taken by one).
    covered_recently = {
        c for w in windows if w.open and now_s - w.since_s < rules.step_s for c in (w.taking or w.services)
    }
    for w in windows:
        if not w.open or w.held:
            continue
        taking = w.taking or w.services
        more = tuple(c for c in w.services if c in hot and c not in taking and c not in covered_recently)
        if more:  # another service it can serve needs help: it takes that one too
            why = "；".join(_why(by_code[c], hot[c]) for c in more)
            out.append(TidalDecision(w.number, "take", taking + more, hot[more[0]], why))
            covered_recently.update(more)
        elif now_s - w.since_s >= rules.min_open_s and all(
            is_calm(by_code.get(c, ServiceLoad(c, 0)), rules) for c in taking
        ):
            closed_hours = all(not by_code.get(c, ServiceLoad(c, 0, open=False)).open for c in taking)
            code, reason = ("closed_hours", "所办业务已过办理时间") if closed_hours else ("calm", "排队人数已回落")
            out.append(TidalDecision(w.number, "close", taking, code, reason))

    free = [w for w in windows if not w.open and not w.held and now_s - w.since_s >= rules.min_closed_s]
    for code in sorted(hot, key=lambda c: (-_pressure(by_code[c], rules), c)):
        if standby <= 0:
            break
        if code in covered_recently:
            continue
        candidates = [w for w in free if code in w.services]
        if not candidates:
            continue
        # The most specific window first: a window for few services keeps the general ones free.
        w = min(candidates, key=lambda w: (len(w.services), w.number))
        taking = tuple(c for c in w.services if c in hot and (c == code or c not in covered_recently))
        why = "；".join(_why(by_code[c], hot[c]) for c in taking)
        out.append(TidalDecision(w.number, "open", taking, hot[code], why,
                                 {"waiting": float(by_code[code].waiting), "wait_s": by_code[code].wait_s}))
        free.remove(w)
        standby -= 1
        covered_recently.update(taking)
    return out
