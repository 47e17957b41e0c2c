"""The pure alarm lifecycle: transitions, their errors, escalation timing, flood hysteresis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall import alarm_lifecycle as lc
from hall.errors import BadRequest, Conflict

T0 = 1_700_000_000_000
MIN = lc.MINUTE_MS
AFTER = {"critical": 5, "major": 15, "minor": 60}


def fresh(severity: str = "major", at: int = T0) -> lc.Alarm:
    return lc.Alarm(severity=severity, state="active", raised_ms=at, last_ms=at)


def conflict_state(exc: pytest.ExceptionInfo) -> str:
    assert exc.value.code == "alarm_state" and exc.value.status == 409
    assert exc.value.zh and exc.value.en
    return exc.value.extra["state"]


# --------------------------------------------------------------------------- the four states

def test_ack_then_clear_closes_and_clear_then_ack_closes():
    a = lc.ack(fresh(), T0 + 1, "duty01")
    assert (a.state, a.acked_by, a.acked_ms) == ("acked", "duty01", T0 + 1)
    b = lc.clear(a, T0 + 2)
    assert b is not None and (b.state, b.cleared_ms, b.closed_ms, b.closed_by) == ("closed", T0 + 2, T0 + 2, None)

    c = lc.clear(fresh(), T0 + 1)
    assert c is not None and (c.state, c.cleared_ms) == ("cleared", T0 + 1)
    d = lc.ack(c, T0 + 2, "duty01")
    assert (d.state, d.closed_ms, d.acked_by) == ("closed", T0 + 2, "duty01")


def test_raising_again_counts_and_a_cleared_alarm_comes_back_active():
    a, announce = lc.raise_again(fresh(), T0 + 5)
    assert (a.state, a.count, a.last_ms, announce) == ("active", 2, T0 + 5, False)
    acked, announce = lc.raise_again(lc.ack(a, T0 + 6, "x"), T0 + 7)
    assert (acked.state, acked.count, announce) == ("acked", 3, False)
    cleared = lc.clear(a, T0 + 8)
    assert cleared is not None
    back, announce = lc.raise_again(cleared, T0 + 9)
    assert (back.state, back.count, back.cleared_ms, announce) == ("active", 3, None, True)


def test_a_shelved_alarm_coming_back_is_not_announced_until_the_shelf_ends():
    shelved, _ = lc.shelve(fresh(), T0, 30, "维修中")
    cleared = lc.clear(shelved, T0 + MIN)
    assert cleared is not None
    back, announce = lc.raise_again(cleared, T0 + 2 * MIN)
    assert back.state == "active" and announce is False
    _, announce = lc.raise_again(cleared, T0 + 31 * MIN)  # the shelf ran out, the sweep has not lifted it yet
    assert announce is True


def test_clear_is_a_no_op_when_nothing_is_left_to_clear():
    cleared = lc.clear(fresh(), T0 + 1)
    assert cleared is not None
    assert lc.clear(cleared, T0 + 2) is None
    closed, _ = lc.resolve(fresh(), T0 + 1, "duty01")
    assert lc.clear(closed, T0 + 2) is None


def test_illegal_transitions_are_409_alarm_state_with_the_state():
    acked = lc.ack(fresh(), T0 + 1, "x")
    with pytest.raises(Conflict) as e:
        lc.ack(acked, T0 + 2, "y")
    assert conflict_state(e) == "acked"
    closed, _ = lc.resolve(acked, T0 + 3, "x")
    for act in (lambda a: lc.ack(a, T0, "x"), lambda a: lc.assign(a, "fac01"), lambda a: lc.shelve(a, T0, 5, "r"),
                lc.unshelve, lambda a: lc.resolve(a, T0, "x"), lambda a: lc.raise_again(a, T0),
                lambda a: lc.escalate(a, T0)):
        with pytest.raises(Conflict) as e:
            act(closed)
        assert conflict_state(e) == "closed"
    with pytest.raises(Conflict) as e:
        lc.unshelve(fresh())
    assert conflict_state(e) == "active"


def test_resolve_closes_from_every_open_state_and_lifts_the_shelf():
    for a in (fresh(), lc.ack(fresh(), T0, "x"), lc.clear(fresh(), T0), lc.shelve(fresh(), T0, 10, "r")[0]):
        assert a is not None
        b, note = lc.resolve(a, T0 + 9, "duty01", "  已更换纸卷 ")
        assert (b.state, b.closed_by, b.closed_ms, b.shelved_until_ms, note) == ("closed", "duty01", T0 + 9, None,
                                                                               "已更换纸卷")


def test_shelve_and_text_validation():
    a, why = lc.shelve(fresh(), T0, 30, "  维修中 ")
    assert a.shelved_until_ms == T0 + 30 * MIN and why == "维修中" and a.shelved(T0 + 29 * MIN)
    assert not a.shelved(T0 + 30 * MIN) and lc.shelf_expired(a, T0 + 30 * MIN)
    assert lc.unshelve(a).shelved_until_ms is None
    for minutes in (0, -1, lc.MAX_SHELVE_MIN + 1):
        with pytest.raises(BadRequest) as e:
            lc.shelve(fresh(), T0, minutes, "r")
        assert e.value.code == "bad_minutes"
    with pytest.raises(BadRequest) as e:
        lc.shelve(fresh(), T0, 5, "  ")
    assert e.value.code == "reason_required"
    with pytest.raises(BadRequest) as e:
        lc.check_comment("")
    assert e.value.code == "comment_required"
    with pytest.raises(BadRequest) as e:
        lc.check_comment("长" * (lc.MAX_TEXT + 1))
    assert e.value.code == "comment_too_long"
    with pytest.raises(BadRequest) as e:
        lc.assign(fresh(), " ")
    assert e.value.code == "assignee_required"


# --------------------------------------------------------------------------- any sequence of actions

ACTIONS = ("raise", "clear", "ack", "assign", "shelve", "unshelve", "resolve", "escalate", "wait")
steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 20)), max_size=40)


@given(steps, st.sampled_from(["critical", "major", "minor", "warning"]))
def test_every_sequence_keeps_the_lifecycle_consistent(seq, severity):
    """Whatever happens: the state is one of four, closed is final, counts never fall, the stamps
    agree with the state, and an action is either applied or refused with a domain error."""
    a, now = fresh(severity), T0
    for action, n in seq:
        before = a
        try:
            if action == "raise":
                a, announce = lc.raise_again(a, now)
                assert announce == (before.state == "cleared" and not before.shelved(now))
            elif action == "clear":
                a = lc.clear(a, now) or a
            elif action == "ack":
                a = lc.ack(a, now, "duty01")
            elif action == "assign":
                a = lc.assign(a, f"fac{n:02d}")
            elif action == "shelve":
                a, _ = lc.shelve(a, now, n + 1, "原因")
            elif action == "unshelve":
                a = lc.unshelve(a)
            elif action == "resolve":
                a, _ = lc.resolve(a, now, "duty01")
            elif action == "escalate":
                if lc.escalation_due(a, now, AFTER):
                    a = lc.escalate(a, now)
            else:
                now += n * MIN
        except Conflict as e:
            assert e.code == "alarm_state" and e.extra["state"] == before.state
            assert a == before
        assert a.state in lc.STATES
        assert a.count >= before.count and a.escalation >= before.escalation
        if before.state == "closed":
            assert a == before
        if a.state == "closed":
            assert a.closed_ms is not None and a.shelved_until_ms is None
        if a.state == "cleared":
            assert a.cleared_ms is not None
        if a.state == "acked":
            assert a.acked_by == "duty01" and a.acked_ms is not None
        assert (a.acked_by is None) == (a.acked_ms is None)
        if a.state in ("active", "acked"):
            assert a.cleared_ms is None


# --------------------------------------------------------------------------- escalation

@given(st.sampled_from(["critical", "major", "minor"]), st.integers(1, 400), st.integers(1, 3))
def test_an_unacknowledged_alarm_escalates_every_interval(severity, minutes, step):
    """Swept every ``step`` minutes, an active alarm escalates once per interval, never early."""
    a, after = fresh(severity), AFTER[severity]
    for t in range(0, minutes + 1, step):
        now = T0 + t * MIN
        if lc.escalation_due(a, now, AFTER):
            assert now - max(a.raised_ms, a.escalated_ms or 0) >= after * MIN
            a = lc.escalate(a, now)
    last = (minutes // step) * step
    if step == 1:
        assert a.escalation == last // after
    else:
        assert last // (after + step - 1) <= a.escalation <= last // after


def test_no_escalation_when_acked_cleared_shelved_grouped_or_without_a_limit():
    late = T0 + 120 * MIN
    assert lc.escalation_due(fresh(), late, AFTER)
    assert not lc.escalation_due(lc.ack(fresh(), T0, "x"), late, AFTER)
    assert not lc.escalation_due(lc.clear(fresh(), T0), late, AFTER)  # type: ignore[arg-type]
    shelved, _ = lc.shelve(fresh(), T0, 200, "r")
    assert not lc.escalation_due(shelved, late, AFTER)
    assert lc.escalation_due(shelved, T0 + 200 * MIN, AFTER)  # the shelf is over: overdue at once
    assert not lc.escalation_due(fresh(), late, AFTER, grouped=True)
    assert not lc.escalation_due(fresh("warning"), late, AFTER)
    assert not lc.escalation_due(fresh(), T0 + 15 * MIN - 1, AFTER)
    assert lc.escalation_due(fresh(), T0 + 15 * MIN, AFTER)
    once = lc.escalate(fresh(), T0 + 15 * MIN)
    assert not lc.escalation_due(once, T0 + 29 * MIN, AFTER) and lc.escalation_due(once, T0 + 30 * MIN, AFTER)


# --------------------------------------------------------------------------- flood

@given(st.lists(st.integers(0, 40 * MIN), max_size=60), st.integers(0, 40 * MIN), st.integers(1, 15))
def test_raises_in_window_counts_the_window_that_ends_now(times, now_off, window):
    now = T0 + now_off
    expected = len([t for t in times if now - window * MIN < T0 + t <= now])
    assert lc.raises_in_window([T0 + t for t in times], now, window) == expected


@given(st.lists(st.integers(0, 90_000), min_size=1, max_size=120), st.integers(1, 15))
def test_flood_starts_above_the_threshold_and_ends_at_half(gaps, threshold):
    """Feed raises one by one: flood mode never starts at or below the threshold, and once on it
    lasts exactly while the raises in the window stay above half of it."""
    now, times, flooding = T0, [], False
    for gap in gaps:
        now += gap
        times.append(now)
        n = lc.raises_in_window(times, now, 10)
        was = flooding
        flooding = lc.flood_mode(n, threshold, flooding)
        if not was:
            assert flooding == (n > threshold)
        else:
            assert flooding == (n > threshold // 2)


def test_eleven_alarms_in_ten_minutes_flood_and_five_end_it():
    times = [T0 + i * 30_000 for i in range(11)]
    assert not lc.flood_mode(lc.raises_in_window(times[:10], times[9], 10), 10, False)
    assert lc.flood_mode(lc.raises_in_window(times, times[10], 10), 10, False)
    assert lc.flood_mode(6, 10, True) and not lc.flood_mode(5, 10, True)


def test_fields_match_the_dataclass():
    assert set(lc.FIELDS) >= {"state", "count", "shelved_until_ms", "flood_id", "closed_by"}
    assert replace(fresh(), count=3).count == 3
