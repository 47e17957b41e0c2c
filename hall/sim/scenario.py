"""The day's random inputs, drawn once and shared by every strategy (common random numbers).

Pure: a hall configuration, the parameters, a date and a seed in; visitors (arrival, service,
green channel, no-show, service and walking times), the roster, who is on leave and every short
absence out. Each kind of input has its own random stream, so changing one parameter (say the
number of absences) leaves the others' draws as they were.

Arrivals are a non-homogeneous Poisson process drawn by thinning (Lewis and Shedler): candidate
points at the peak rate, each kept with probability rate(t) / peak rate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date

from hall.hallconfig import HallCfg, ServiceCfg
from hall.sim.params import SimParams


@dataclass(frozen=True, slots=True)
class Visitor:
    idx: int
    arrive_s: float  # seconds after local midnight
    issue_s: float  # when the ticket is taken: on arrival, or when the service opens
    service: str
    green: bool
    no_show: bool
    service_s: float
    walk_s: float


@dataclass(frozen=True, slots=True)
class Absence:
    clerk: str
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Scenario:
    day: date
    seed: int
    visitors: tuple[Visitor, ...]
    roster: tuple[str, ...]
    on_leave: tuple[str, ...]
    absences: tuple[Absence, ...]
    spans: tuple[tuple[float, float], ...]  # the hall's opening hours that day, seconds after midnight

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(c for c in self.roster if c not in self.on_leave)


def hhmm_s(text: str) -> float:
    h, m = text.strip().split(":")
    return int(h) * 3600.0 + int(m) * 60.0


def span_s(span: str) -> tuple[float, float]:
    a, b = span.replace(" ", "").split("-")
    return hhmm_s(a), hhmm_s(b)


def _knots(profile: tuple[tuple[str, float], ...]) -> list[tuple[float, float]]:
    knots = [(hhmm_s(t), float(w)) for t, w in profile]
    if any(b[0] <= a[0] for a, b in zip(knots, knots[1:], strict=False)) or any(w < 0 for _, w in knots):
        raise ValueError("profile knots must be in time order with non-negative weights")
    return knots


def profile_weight(t_s: float, profile: tuple[tuple[str, float], ...]) -> float:
    """The relative arrival rate at ``t_s``: linear between knots, zero outside them."""
    knots = _knots(profile)
    if t_s < knots[0][0] or t_s > knots[-1][0]:
        return 0.0
    for (t0, w0), (t1, w1) in zip(knots, knots[1:], strict=False):
        if t0 <= t_s <= t1:
            return w0 + (w1 - w0) * (t_s - t0) / (t1 - t0)
    return knots[-1][1]


def profile_integral(profile: tuple[tuple[str, float], ...], t0: float = 0.0, t1: float = 86400.0) -> float:
    """The integral of the weight over [t0, t1] (weight × seconds), exact for a piecewise-linear profile."""
    knots = _knots(profile)
    total = 0.0
    for (a, wa), (b, wb) in zip(knots, knots[1:], strict=False):
        lo, hi = max(a, t0), min(b, t1)
        if hi <= lo:
            continue
        w_lo = wa + (wb - wa) * (lo - a) / (b - a)
        w_hi = wa + (wb - wa) * (hi - a) / (b - a)
        total += (w_lo + w_hi) / 2 * (hi - lo)
    return total


def rate_per_s(t_s: float, params: SimParams) -> float:
    """Arrivals per second at ``t_s``: the profile scaled so the day integrates to ``volume``."""
    return params.volume * profile_weight(t_s, params.profile) / profile_integral(params.profile)


def expected_arrivals(params: SimParams, t0: float, t1: float) -> float:
    return params.volume * profile_integral(params.profile, t0, t1) / profile_integral(params.profile)


def mix_for(cfg: HallCfg, params: SimParams) -> dict[str, float]:
    """Service shares for this hall: the documented mix, equal shares for codes it does not name."""
    known = {s.code: params.mix[s.code] for s in cfg.services if s.code in params.mix}
    missing = [s.code for s in cfg.services if s.code not in params.mix]
    rest = max(0.0, 1.0 - sum(known.values()))
    share = (rest / len(missing)) if missing and rest > 0 else (1.0 / len(cfg.services))
    raw = {**known, **dict.fromkeys(missing, share)}
    total = sum(raw.values())
    return {s.code: raw[s.code] / total for s in cfg.services}


def hall_spans(cfg: HallCfg, day: date) -> tuple[tuple[float, float], ...]:
    """The union of the services' opening hours on ``day``."""
    spans = sorted(span_s(sp) for s in cfg.services for sp in s.hours_on(day.isoweekday()))
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


def next_open_s(svc: ServiceCfg, day: date, t_s: float) -> float | None:
    """``t_s`` if the service is open then, else when it next opens that day; None if it does not."""
    best: float | None = None
    for sp in svc.hours_on(day.isoweekday()):
        a, b = span_s(sp)
        if a <= t_s < b:
            return t_s
        if a > t_s and (best is None or a < best):
            best = a
    return best


def roster_of(cfg: HallCfg, size: int) -> tuple[str, ...]:
    """The day's clerks: the posts' A clerks in window order, then B clerks, then made-up names."""
    names = [w.post.a for w in cfg.windows if w.post] + [w.post.b for w in cfg.windows if w.post and w.post.b]
    names = list(dict.fromkeys(names))
    n = 1
    while len(names) < size:
        name = f"clerk{n:02d}"
        if name not in names:
            names.append(name)
        n += 1
    return tuple(names[:size])


def lognormal_s(rng: random.Random, mean_s: float, sigma: float) -> float:
    """A lognormal draw with the given mean (not median): mu = ln(mean) - sigma²/2."""
    return rng.lognormvariate(math.log(mean_s) - sigma * sigma / 2, sigma)


def draw_arrivals(params: SimParams, rng: random.Random) -> list[float]:
    """Arrival instants (seconds after midnight) by thinning a homogeneous process at the peak rate."""
    knots = _knots(params.profile)
    t, end = knots[0][0], knots[-1][0]
    peak = max(rate_per_s(k, params) for k, _ in knots)
    if peak <= 0:
        return []
    out: list[float] = []
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return out
        if rng.random() * peak < rate_per_s(t, params):
            out.append(t)


def _draw_absences(clerk: str, spans: tuple[tuple[float, float], ...], params: SimParams,
                   rng: random.Random) -> list[Absence]:
    """A few short absences inside the opening hours, at least 10 minutes apart."""
    lo, hi = params.absences_per_clerk
    want = rng.randint(lo, hi)
    if not spans:
        return []
    total = sum(b - a for a, b in spans)
    out: list[Absence] = []
    for _ in range(want):
        duration = rng.uniform(*params.absence_min) * 60.0
        for _attempt in range(20):
            pick = rng.uniform(0, total)
            for a, b in spans:
                if pick <= b - a:
                    start = a + pick
                    break
                pick -= b - a
            else:  # pragma: no cover - rounding at the very end
                start = spans[-1][1]
            span = next((s for s in spans if s[0] <= start < s[1]), None)
            if span is None or start + duration > span[1]:
                continue
            if any(start < o.start_s + o.duration_s + 600 and o.start_s < start + duration + 600 for o in out):
                continue
            out.append(Absence(clerk, round(start), round(duration)))
            break
    return sorted(out, key=lambda a: a.start_s)


def draw_scenario(cfg: HallCfg, params: SimParams, day: date, seed: int) -> Scenario:
    spans = hall_spans(cfg, day)
    mix = mix_for(cfg, params)
    codes, weights = list(mix), [mix[c] for c in mix]
    services = cfg.services_by_code

    arrivals_rng = random.Random(f"hall-sim/{seed}/arrivals")
    visitors: list[Visitor] = []
    for t in draw_arrivals(params, arrivals_rng):
        code = arrivals_rng.choices(codes, weights)[0]
        svc = services[code]
        green = arrivals_rng.random() < params.green_rate
        no_show = arrivals_rng.random() < params.no_show_rate
        service_s = lognormal_s(arrivals_rng, svc.service_min * 60.0, params.service_sigma)
        walk_s = arrivals_rng.uniform(*params.walk_s)
        issue = next_open_s(svc, day, t)
        if issue is None:  # the service does not open again today: the visitor goes home
            continue
        visitors.append(Visitor(len(visitors), round(t, 3), round(issue, 3), code, green, no_show,
                                round(service_s, 3), round(walk_s, 3)))

    roster = roster_of(cfg, params.roster)
    leave_rng = random.Random(f"hall-sim/{seed}/leave")
    on_leave = tuple(sorted(leave_rng.sample(list(roster), min(params.on_leave, len(roster)))))
    absences: list[Absence] = []
    for clerk in roster:
        drawn = _draw_absences(clerk, spans, params, random.Random(f"hall-sim/{seed}/absences/{clerk}"))
        if clerk not in on_leave:
            absences.extend(drawn)
    absences.sort(key=lambda a: (a.start_s, a.clerk))
    visitors.sort(key=lambda v: (v.issue_s, v.arrive_s, v.idx))
    return Scenario(day, seed, tuple(visitors), roster, on_leave, tuple(absences), spans)
