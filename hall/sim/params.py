"""The documented parameters of a simulated day (``hall simulate``), in one place.

Every value below is explained in ``docs/simulate.md``; change them here, not in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

REFERENCE_DATE = date(2026, 11, 23)  # a Monday: an ordinary weekday, not month-end

# Relative arrival rate through the day, piecewise linear between the knots (local time). People
# who arrive while the hall is closed (before 08:30, at lunch 12:00-13:30) take their ticket when
# it opens, as they do at the door of a county hall.
PROFILE: tuple[tuple[str, float], ...] = (
    ("08:00", 0.3),  # early birds wait at the door
    ("08:30", 0.8),  # doors open: ramp up
    ("09:30", 1.6),  # morning peak
    ("11:00", 1.6),
    ("11:45", 0.8),
    ("12:00", 0.3),  # lunch dip: the windows are closed, a few people arrive anyway
    ("13:15", 0.3),
    ("13:30", 0.8),  # afternoon opening
    ("14:30", 1.4),  # afternoon peak
    ("16:00", 1.4),
    ("17:00", 0.6),
    ("17:30", 0.1),  # tail to closing time
)

# Share of visitors per service (the example hall's codes). Social and medical insurance and
# household registration are the bulk of a county hall's counter traffic; real estate and
# business start-up are fewer but long.
MIX: dict[str, float] = {
    "SB": 0.22,  # 社保
    "YB": 0.17,  # 医保
    "GJJ": 0.10,  # 公积金
    "BDC": 0.12,  # 不动产登记
    "QY": 0.05,  # 企业开办
    "HJ": 0.18,  # 户籍
    "SW": 0.16,  # 税务
}


@dataclass(frozen=True)
class SimParams:
    """What a simulated day is made of. Times in seconds unless the name says otherwise."""

    volume: int = 280  # expected visitors in the day (the integral of the arrival rate)
    profile: tuple[tuple[str, float], ...] = PROFILE
    mix: dict[str, float] = field(default_factory=lambda: dict(MIX))
    service_sigma: float = 0.6  # lognormal shape; the mean is the service's service_min (CV ≈ 0.66)
    walk_s: tuple[float, float] = (20.0, 60.0)  # from the call-out to the visitor at the window
    no_show_rate: float = 0.06  # called, not there (过号)
    recall_after_s: float = 60.0  # the clerk recalls once after this long
    no_show_after_s: float = 120.0  # and marks the no-show after this long (the recall timeout)
    green_rate: float = 0.05  # 绿色通道 (70+, disabled, military)
    roster: int = 12  # clerks rostered for the day, the same in every strategy
    on_leave: int = 1  # of them on leave for the whole day
    absences_per_clerk: tuple[int, int] = (1, 3)  # short absences per clerk and day (uniform)
    absence_min: tuple[float, float] = (15.0, 40.0)  # their length in minutes (uniform)
    open_walk_s: tuple[float, float] = (60.0, 120.0)  # a standby clerk walking to a tidal window
    cover_reaction_s: tuple[float, float] = (120.0, 300.0)  # B noticing and reaching the window
    # AB practice (tidal_ab only): A does not step away while the post's B cannot come (away, or at
    # another window), for at most this long; then A goes anyway. 0: A always leaves on time.
    ab_hold_max_min: float = 30.0
    # 好差评: the share of visitors who rate on the pad after the service, and how (level -> weight,
    # 5 非常满意 … 1 非常不满意); drawn from a stream of their own, so they change nothing else
    rating_share: float = 0.6
    rating_weights: dict[int, float] = field(default_factory=lambda: {5: 0.72, 4: 0.18, 3: 0.06, 2: 0.03, 1: 0.01})
    tick_s: float = 60.0  # the staffing controller's period, and the sampling period
    end_by: str = "20:00"  # hard stop of the day (tickets still waiting then expire)
