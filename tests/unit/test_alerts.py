"""Wait alerts (hall/windows/alerts.py): raised past the target, cleared only well below it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hall.windows.alerts import wait_alerts
from hall.windows.tidal import ServiceLoad


def sb(wait_min: float, waiting: int = 5) -> ServiceLoad:
    return ServiceLoad("SB", waiting, oldest_wait_s=wait_min * 60, target_wait_s=20 * 60)


def test_raised_past_the_target_and_cleared_below_target_times_ratio():
    assert wait_alerts([sb(19)], set(), 0.8) == []
    [raised] = wait_alerts([sb(21)], set(), 0.8)
    assert (raised.action, raised.service, round(raised.wait_s)) == ("raise", "SB", 1260)
    assert wait_alerts([sb(17)], {"SB"}, 0.8) == []  # below the target, not yet below 16 min
    assert [c.action for c in wait_alerts([sb(15)], {"SB"}, 0.8)] == ["clear"]
    assert [c.action for c in wait_alerts([sb(0, waiting=0)], {"SB"}, 0.8)] == ["clear"]  # nobody waits


@settings(max_examples=300, deadline=None)
@given(waits=st.lists(st.floats(0, 40), min_size=1, max_size=60))
def test_an_alert_follows_the_waits_without_flapping(waits):
    """Between two changes the wait must cross the whole band between 16 and 20 minutes."""
    active: set[str] = set()
    last_change = None
    for w in waits:
        for ch in wait_alerts([sb(w)], active, 0.8):
            if ch.action == "raise":
                assert w > 20 and "SB" not in active
                assert last_change in (None, "clear")
                active.add("SB")
            else:
                assert w < 16 and "SB" in active
                active.discard("SB")
            last_change = ch.action
        assert ("SB" in active) == (w > 20 or ("SB" in active and w >= 16))
