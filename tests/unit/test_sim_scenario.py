"""The simulated day's inputs (hall.sim.scenario, hall.sim.layouts): pure, drawn once per seed."""

from __future__ import annotations

import math
from statistics import mean

import pytest

from hall.hallconfig import default_config_path, load_hall_config
from hall.sim import layouts
from hall.sim.params import REFERENCE_DATE, SimParams
from hall.sim.scenario import (
    draw_scenario,
    expected_arrivals,
    hall_spans,
    hhmm_s,
    lognormal_s,
    mix_for,
    profile_integral,
    profile_weight,
    rate_per_s,
)

CFG = load_hall_config(default_config_path())
P = SimParams()


def test_reference_date_is_an_ordinary_monday() -> None:
    assert REFERENCE_DATE.isoweekday() == 1
    assert hall_spans(CFG, REFERENCE_DATE) == ((hhmm_s("08:30"), hhmm_s("12:00")), (hhmm_s("13:30"), hhmm_s("17:30")))


def test_profile_has_morning_and_afternoon_peaks_and_a_lunch_dip() -> None:
    w = {t: profile_weight(hhmm_s(t), P.profile) for t in ("08:30", "10:00", "12:30", "15:00", "17:29")}
    assert w["10:00"] > w["08:30"] and w["15:00"] > w["12:30"]
    assert w["12:30"] < 0.25 * w["10:00"] and w["17:29"] < w["15:00"]
    assert profile_weight(hhmm_s("07:00"), P.profile) == 0 == profile_weight(hhmm_s("18:00"), P.profile)


def test_rate_integrates_to_the_documented_volume() -> None:
    # the piecewise-linear integral is exact; a Riemann sum of the rate agrees with it
    step = 10.0
    total = sum(rate_per_s(t * step, P) * step for t in range(int(86400 / step)))
    assert total == pytest.approx(P.volume, rel=1e-3)
    assert expected_arrivals(P, 0, 86400) == pytest.approx(P.volume)
    assert profile_integral(P.profile, hhmm_s("09:30"), hhmm_s("11:00")) == pytest.approx(1.6 * 5400)


def test_arrivals_match_the_volume_across_seeds() -> None:
    counts = [len(draw_scenario(CFG, P, REFERENCE_DATE, seed).visitors) for seed in range(40)]
    # Poisson: mean within 3 standard errors, each day within 4 standard deviations
    assert abs(mean(counts) - P.volume) < 3 * math.sqrt(P.volume / len(counts))
    assert all(abs(n - P.volume) < 4 * math.sqrt(P.volume) for n in counts)


def test_arrivals_follow_the_profile() -> None:
    """Peak hours get more arrivals than the lunch dip, in proportion to the profile."""
    peak, dip = hhmm_s("09:30"), hhmm_s("12:00")
    arrivals = [v.arrive_s for s in range(20) for v in draw_scenario(CFG, P, REFERENCE_DATE, s).visitors]
    in_peak = sum(1 for t in arrivals if peak <= t < peak + 5400) / 20
    in_dip = sum(1 for t in arrivals if dip <= t < dip + 5400) / 20
    assert in_peak == pytest.approx(expected_arrivals(P, peak, peak + 5400), rel=0.1)
    assert in_dip == pytest.approx(expected_arrivals(P, dip, dip + 5400), rel=0.25)


def test_tickets_are_taken_when_the_service_is_open() -> None:
    sc = draw_scenario(CFG, P, REFERENCE_DATE, 3)
    services = CFG.services_by_code
    lunch = [v for v in sc.visitors if hhmm_s("12:00") <= v.arrive_s < hhmm_s("13:30")]
    assert lunch and all(v.issue_s == hhmm_s("13:30") for v in lunch)
    for v in sc.visitors:
        assert v.issue_s >= v.arrive_s
        assert any(a <= v.issue_s < b for a, b in sc.spans)
        assert services[v.service].hours_on(REFERENCE_DATE.isoweekday())


def test_mix_shares_and_service_times() -> None:
    mix = mix_for(CFG, P)
    assert sum(mix.values()) == pytest.approx(1.0) and set(mix) == set(CFG.services_by_code)
    visitors = [v for s in range(20) for v in draw_scenario(CFG, P, REFERENCE_DATE, s).visitors]
    for code, share in mix.items():
        mine = [v for v in visitors if v.service == code]
        assert len(mine) / len(visitors) == pytest.approx(share, abs=0.02)
        target = CFG.service(code).service_min * 60
        assert mean(v.service_s for v in mine) == pytest.approx(target, rel=0.12)
    assert sum(v.no_show for v in visitors) / len(visitors) == pytest.approx(P.no_show_rate, abs=0.015)
    assert sum(v.green for v in visitors) / len(visitors) == pytest.approx(P.green_rate, abs=0.015)


def test_lognormal_has_the_configured_mean() -> None:
    import random

    rng = random.Random(5)
    xs = [lognormal_s(rng, 600.0, 0.6) for _ in range(40_000)]
    assert mean(xs) == pytest.approx(600.0, rel=0.02)
    assert sorted(xs)[len(xs) // 2] < 600.0  # right-skewed: the median is below the mean


def test_absences_and_leave() -> None:
    sc = draw_scenario(CFG, P, REFERENCE_DATE, 1)
    assert len(sc.roster) == P.roster and len(sc.on_leave) == P.on_leave
    assert set(sc.present) == set(sc.roster) - set(sc.on_leave)
    lo, hi = P.absence_min
    for a in sc.absences:
        assert a.clerk in sc.present
        assert lo * 60 - 1 <= a.duration_s <= hi * 60 + 1
        assert any(s <= a.start_s and a.start_s + a.duration_s <= e for s, e in sc.spans)
    for clerk in sc.present:
        mine = sorted((a.start_s, a.start_s + a.duration_s) for a in sc.absences if a.clerk == clerk)
        assert len(mine) <= P.absences_per_clerk[1]
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(mine, mine[1:], strict=False))


def test_same_seed_same_day_other_seed_other_day() -> None:
    a, b = draw_scenario(CFG, P, REFERENCE_DATE, 11), draw_scenario(CFG, P, REFERENCE_DATE, 11)
    assert a == b
    assert draw_scenario(CFG, P, REFERENCE_DATE, 12).visitors != a.visitors


def test_streams_are_independent() -> None:
    """Common random numbers: more absences leave the visitors as they were."""
    a = draw_scenario(CFG, P, REFERENCE_DATE, 4)
    b = draw_scenario(CFG, SimParams(absences_per_clerk=(3, 3)), REFERENCE_DATE, 4)
    assert a.visitors == b.visitors and a.on_leave == b.on_leave and len(b.absences) > len(a.absences)


# --------------------------------------------------------------------------- layouts

def test_dedicated_windows_follow_the_offered_load() -> None:
    loads = layouts.offered_load(CFG, mix_for(CFG, P))
    count = layouts.share_windows(loads, 11)
    assert sum(count.values()) == 11 and min(count.values()) >= 1
    assert count["BDC"] >= count["YB"]  # 12% × 20 min outweighs 17% × 6 min
    with pytest.raises(ValueError):
        layouts.share_windows(loads, 6)


def test_every_strategy_has_the_same_clerks() -> None:
    sc = draw_scenario(CFG, P, REFERENCE_DATE, 2)
    plans = [layouts.dedicated(CFG, sc, mix_for(CFG, P)), layouts.pooled(CFG, sc), layouts.tidal_ab(CFG, sc)]
    assert {tuple(sorted(p.staff)) for p in plans} == {tuple(sorted(sc.present))}
    ded, pooled, tidal = plans
    assert all(len(w.services) == 1 and w.post is None for w in ded.cfg.windows)
    assert all(len(w.services) == len(CFG.services) for w in pooled.cfg.windows)
    assert len(ded.cfg.windows) == len(pooled.cfg.windows) == len(sc.present)
    assert all(c.ankang.mode == "off" for c in (ded.cfg, pooled.cfg, tidal.cfg))


@pytest.mark.parametrize("seed", range(8))
def test_tidal_ab_posts_fit_the_day(seed: int) -> None:
    """Seats for the regular windows; standby clerks are the tidal posts and every post's B."""
    sc = draw_scenario(CFG, P, REFERENCE_DATE, seed)
    lay = layouts.tidal_ab(CFG, sc)
    present = set(sc.present)
    regular = [w for w in lay.cfg.windows if w.kind != "tidal"]
    assert set(lay.seats) == {w.number for w in regular}
    assert set(lay.seats.values()) <= present and len(set(lay.seats.values())) == len(lay.seats)
    a_clerks = [w.post.a for w in lay.cfg.windows if w.post]
    assert len(a_clerks) == len(set(a_clerks))
    standby = present - set(lay.seats.values())
    assert set(lay.standby) == standby
    for w in lay.cfg.windows:
        assert w.post is not None and w.post.a != w.post.b
        assert w.post.b in standby
        if w.kind == "tidal":
            assert w.post.a in standby
    assert [w.number for w in lay.cfg.windows] == [w.number for w in CFG.windows]
