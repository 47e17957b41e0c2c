"""The tidal window policy (hall/windows/tidal.py): properties over whole simulated histories."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hall.windows.tidal import Calendar, ServiceLoad, TidalRules, TidalWindow, decide, is_calm, is_hot

RULES = TidalRules(open_queue=10, close_queue=3, min_open_s=1800, min_closed_s=600, step_s=300)
SERVICES = ("SB", "YB", "BDC")
WINDOWS = (
    TidalWindow("7", SERVICES),
    TidalWindow("8", ("SB", "YB")),
    TidalWindow("12", ("BDC",)),
)


def load(code: str, waiting: int, wait_min: float = 0.0, *, open_: bool = True) -> ServiceLoad:
    return ServiceLoad(code, waiting, oldest_wait_s=wait_min * 60, predicted_wait_s=0.0, target_wait_s=1200,
                       open=open_)


loads_st = st.lists(
    st.tuples(st.integers(0, 30), st.floats(0, 60)), min_size=len(SERVICES), max_size=len(SERVICES)
).map(lambda xs: [load(c, n, w) for c, (n, w) in zip(SERVICES, xs, strict=True)])
history_st = st.lists(st.tuples(loads_st, st.integers(30, 900)), min_size=1, max_size=40)


def apply(windows: list[TidalWindow], decisions, now: float) -> list[TidalWindow]:
    by = {w.number: w for w in windows}
    for d in decisions:
        w = by[d.window]
        if d.action == "open":
            by[d.window] = replace(w, open=True, since_s=now, taking=d.services)
        elif d.action == "close":
            by[d.window] = replace(w, open=False, since_s=now, taking=())
        else:
            by[d.window] = replace(w, since_s=now, taking=d.services)
    return [by[w.number] for w in windows]


@settings(max_examples=300, deadline=None)
@given(history=history_st, clerks=st.integers(0, 3))
def test_no_flapping_and_never_more_windows_than_clerks(history, clerks):
    windows = list(WINDOWS)
    now = 1_000_000.0
    opened_at: dict[str, float] = {}
    closed_at: dict[str, float] = {}
    added_for: dict[str, float] = {}  # service -> when a window last opened for it or took it
    for loads, step in history:
        now += step
        in_use = sum(w.open for w in windows)
        ds = decide(loads, windows, clerks - in_use, now, RULES)
        for d in ds:
            if d.action in ("open", "take"):
                before = next(w for w in windows if w.number == d.window).taking if d.action == "take" else ()
                for c in set(d.services) - set(before):
                    assert now - added_for.get(c, -1e12) >= RULES.step_s, f"two more windows for {c} in one step"
                    added_for[c] = now
        opens = [d for d in ds if d.action == "open"]
        assert len(opens) <= max(clerks - in_use, 0)
        for d in ds:
            if d.action == "close":
                assert now - opened_at[d.window] >= RULES.min_open_s, "closed within the minimum open time"
                closed_at[d.window] = now
            elif d.action == "open":
                if d.window in closed_at:
                    assert now - closed_at[d.window] >= RULES.min_closed_s, "reopened too soon"
                opened_at[d.window] = now
                assert d.services and set(d.services) <= set(next(w for w in windows if w.number == d.window).services)
                assert all(is_hot(next(ld for ld in loads if ld.code == c), RULES, Calendar()) for c in d.services)
            assert d.reason  # every decision says why
        windows = apply(windows, ds, now)
        assert sum(w.open for w in windows) <= clerks


@settings(max_examples=200, deadline=None)
@given(history=history_st, clerks=st.integers(1, 3), calm=st.lists(st.integers(0, 3), min_size=3, max_size=3))
def test_closes_every_window_when_load_falls(history, clerks, calm):
    windows = list(WINDOWS)
    now = 1_000_000.0
    for loads, step in history:
        now += step
        windows = apply(windows, decide(loads, windows, clerks - sum(w.open for w in windows), now, RULES), now)
    quiet = [load(c, n, 1.0) for c, n in zip(SERVICES, calm, strict=True)]
    now += RULES.min_open_s
    ds = decide(quiet, windows, clerks, now, RULES)
    assert {d.window for d in ds if d.action == "close"} == {w.number for w in windows if w.open}
    assert not [d for d in ds if d.action == "open"]


@settings(max_examples=200, deadline=None)
@given(waiting=st.lists(st.integers(4, 10), min_size=3, max_size=3), step=st.integers(0, 10_000))
def test_between_the_thresholds_nothing_opens_or_closes(waiting, step):
    """Hysteresis: a queue of 4..10 neither opens a window nor closes one that is open."""
    loads = [load(c, n, 12.0) for c, n in zip(SERVICES, waiting, strict=True)]
    windows = [replace(WINDOWS[0], open=True, since_s=0.0, taking=SERVICES), *WINDOWS[1:]]
    assert decide(loads, windows, 3, 1_000_000.0 + step, RULES) == []


def test_a_long_queue_opens_the_most_specific_window_with_a_reason():
    loads = [load("SB", 2), load("YB", 0), load("BDC", 14)]
    ds = decide(loads, list(WINDOWS), 2, 1_000_000.0, RULES)
    assert [(d.window, d.action, d.services, d.code) for d in ds] == [("12", "open", ("BDC",), "queue")]
    assert "14" in ds[0].reason


def test_one_more_window_per_step_for_the_same_service():
    loads = [load("SB", 25), load("YB", 0), load("BDC", 0)]
    first = decide(loads, list(WINDOWS), 2, 1_000_000.0, RULES)
    assert [d.window for d in first] == ["8"]
    windows = apply(list(WINDOWS), first, 1_000_000.0)
    assert decide(loads, windows, 1, 1_000_000.0 + 60, RULES) == []  # give window 8 time to work
    later = decide(loads, windows, 1, 1_000_000.0 + RULES.step_s, RULES)
    assert [(d.window, d.action) for d in later] == [("7", "open")]


def test_long_waits_open_a_window_even_with_a_short_queue():
    loads = [load("SB", 0), load("YB", 0), load("BDC", 4, wait_min=25)]
    assert [d.code for d in decide(loads, list(WINDOWS), 1, 1_000_000.0, RULES)] == ["wait"]


def test_month_end_and_lunch_open_sooner():
    loads = [load("SB", 8), load("YB", 0), load("BDC", 0)]
    assert decide(loads, list(WINDOWS), 1, 1_000_000.0, RULES) == []
    assert decide(loads, list(WINDOWS), 1, 1_000_000.0, RULES, Calendar(month_end=True))  # 8 > 10 × 0.7
    assert not decide(loads, list(WINDOWS), 1, 1_000_000.0, RULES, Calendar(lunch=True))  # 8 = 10 × 0.8
    assert decide([load("SB", 9), *loads[1:]], list(WINDOWS), 1, 1_000_000.0, RULES, Calendar(lunch=True))


def test_closed_services_do_not_open_windows_and_let_open_ones_close():
    """周末办: on Saturday only the open services count."""
    closed = [load("SB", 20, 40, open_=False), load("YB", 0), load("BDC", 0)]
    assert not is_hot(closed[0], RULES, Calendar(weekend=True)) and is_calm(closed[0], RULES)
    assert decide(closed, list(WINDOWS), 3, 1_000_000.0, RULES, Calendar(weekend=True)) == []
    windows = [replace(WINDOWS[1], open=True, since_s=0.0, taking=("SB",)), WINDOWS[0], WINDOWS[2]]
    ds = decide([load("SB", 0, open_=False), load("YB", 0, open_=False), load("BDC", 0)], windows, 3,
                1_000_000.0, RULES)
    assert [(d.window, d.action, d.code) for d in ds] == [("8", "close", "closed_hours")]


def test_held_windows_are_left_alone():
    held = [replace(WINDOWS[2], held=True), *WINDOWS[:2]]
    loads = [load("SB", 0), load("YB", 0), load("BDC", 30)]
    assert [d.window for d in decide(loads, held, 3, 1_000_000.0, RULES)] == ["7"]
    held_open = [replace(WINDOWS[2], open=True, since_s=0.0, taking=("BDC",), held=True)]
    assert decide([load("BDC", 0)], held_open, 3, 1_000_000.0, RULES) == []


def test_taking_a_service_counts_as_its_window_for_the_step():
    windows = [replace(WINDOWS[0], open=True, since_s=0.0, taking=("BDC",)), *WINDOWS[1:]]
    ds = decide([load("BDC", 0), load("SB", 11), load("YB", 0)], windows, 3, 100_000.0, RULES)
    assert [(d.window, d.action) for d in ds] == [("7", "take")]


def test_an_open_window_takes_another_hot_service_it_can_serve():
    windows = [replace(WINDOWS[0], open=True, since_s=999_000.0, taking=("BDC",)), *WINDOWS[1:]]
    ds = decide([load("SB", 15), load("YB", 0), load("BDC", 12)], windows, 0, 1_000_000.0, RULES)
    assert [(d.window, d.action, d.services) for d in ds] == [("7", "take", ("BDC", "SB"))]
