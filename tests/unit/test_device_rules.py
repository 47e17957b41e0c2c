"""Alarm rules per device kind (pure): delays, deadband, edges (#5)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hall.hallconfig import IotCfg, RangeCfg
from hall.iot import rules
from hall.iot.rules import RangeState, range_step

CFG = IotCfg()
TEMP = RangeCfg(low=16, high=28, deadband=0.5, on_delay_s=60, off_delay_s=120)


def test_out_of_range_shorter_than_the_on_delay_raises_nothing() -> None:
    st_ = RangeState()
    assert range_step(st_, 30.0, 0, TEMP) is None
    assert range_step(st_, 30.0, 59_000, TEMP) is None
    assert range_step(st_, 27.0, 59_500, TEMP) is None  # back in range: the clock restarts
    assert range_step(st_, 30.0, 70_000, TEMP) is None
    assert range_step(st_, 30.0, 130_000, TEMP) == "raise"


def test_clears_only_past_the_deadband_and_after_the_off_delay() -> None:
    st_ = RangeState()
    range_step(st_, 30.0, 0, TEMP)
    assert range_step(st_, 30.0, 60_000, TEMP) == "raise"
    assert range_step(st_, 27.8, 70_000, TEMP) is None  # inside the range, not past the deadband
    assert range_step(st_, 27.5, 80_000, TEMP) is None  # past it: off-delay starts
    assert range_step(st_, 27.5, 199_000, TEMP) is None
    assert range_step(st_, 27.5, 200_000, TEMP) == "clear"


@settings(max_examples=300)
@given(st.lists(st.tuples(st.floats(10, 35), st.integers(0, 200_000)), max_size=80))
def test_range_signals_alternate_and_respect_the_on_delay(samples) -> None:
    st_, now, last, out_since = RangeState(), 0, None, None
    for value, dt in samples:
        now += dt
        out_of_range = value < TEMP.low or value > TEMP.high
        step = range_step(st_, value, now, TEMP)
        if step is not None:
            assert step != last
            last = step
        if step == "raise":
            assert out_of_range and out_since is not None and now - out_since >= TEMP.on_delay_s * 1000
        out_since = (now if out_since is None else out_since) if out_of_range else None


def test_steady_telemetry_signals_once() -> None:
    st_ = rules.new_state("kiosk", CFG)
    out = []
    for t in range(100):
        out += rules.on_telemetry(st_, {"paper_pct": 5, "disk_pct": 97}, t * 1000, CFG)
    assert sorted((s.raise_, s.type) for s in out) == [(True, "disk_full"), (True, "paper_low")]
    refill = rules.on_telemetry(st_, {"paper_pct": 100, "disk_pct": 40}, 200_000, CFG)
    assert sorted((s.raise_, s.type) for s in refill) == [(False, "disk_full"), (False, "paper_low")]


def test_rules_follow_the_kind() -> None:
    env = rules.new_state("env_sensor", CFG)
    assert rules.on_telemetry(env, {"paper_pct": 0}, 0, CFG) == []  # an env sensor has no paper rule
    locker = rules.new_state("locker", CFG)
    assert [s.type for s in rules.on_event(locker, "door_opened", {"slot": 2}, 0, CFG)] == ["door_unexpected"]
    assert rules.on_event(locker, "door_opened", {"slot": 3}, 0, CFG, expected_open=True) == []


def test_a_door_open_too_long() -> None:
    locker = rules.new_state("locker", CFG)
    rules.on_event(locker, "door_opened", {"slot": 4}, 0, CFG, expected_open=True)
    limit = CFG.locker.door_open_alarm_s * 1000
    assert rules.on_tick(locker, limit - 1, CFG) == []
    [sig] = rules.on_tick(locker, limit, CFG)
    assert sig.raise_ and sig.type == "door_open_long" and sig.detail["slots"] == [4]
    [sig] = rules.on_event(locker, "door_closed", {"slot": 4, "occupied": True}, limit + 5, CFG)
    assert not sig.raise_ and sig.type == "door_open_long"


def test_a_dark_screen() -> None:
    screen = rules.new_state("screen", CFG)
    rules.on_screen_seen(screen, 0)
    assert rules.on_tick(screen, CFG.screen_dark_s * 1000, CFG) == []
    [sig] = rules.on_tick(screen, CFG.screen_dark_s * 1000 + 1, CFG)
    assert sig.raise_ and sig.type == "screen_dark"
    [sig] = rules.on_screen_seen(screen, CFG.screen_dark_s * 1000 + 2)
    assert not sig.raise_
